"""The kill switch end to end with the worker (issue 53): a halted account's working orders are
cancelled on the paper venue and its positions closed by the commands the switch queued, each
executed once; another account is untouched; new commands are refused until it is lifted."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from apps.oms.domain.access import AccountFlags, Role
from apps.oms.security.principal import Principal
from apps.oms.service import kill_switch
from apps.oms.store.audit import Actor
from apps.oms.store.tables import commands, orders, positions

from .conftest import Harness

KILL = AccountFlags(can_read=True, can_risk_manage=True, can_block_account=True,
                    can_close_position=True)
SYMBOL = "BTC/USDT:USDT"


def risk_officer(*account_ids: int) -> Principal:
    return Principal(9, "risk", Role.RISK, 9, "api_key", None, "risk",
                     dict.fromkeys(account_ids, KILL))  # fmt: skip


async def test_kill_cancels_on_the_venue_and_flattens_once(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct, other = await h.account("hedge"), await h.account("hedge")
    await h.price(SYMBOL, "50000")
    theirs = await h.send(other, "send_order", symbol=SYMBOL, side="buy", order_type="limit",
                          qty="0.001", price="40000")
    assert theirs["ok"], theirs
    for price in ("40000", "41000", "42000"):
        item = await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="limit",
                            qty="0.001", price=price)
        assert item["ok"], item
    filled = await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market",
                          qty="0.002")
    assert filled["ok"], filled
    await h.drain(acct, housekeeping=False)
    officer = risk_officer(acct, other)
    result = await kill_switch.engage(h.store, officer, Actor(9, 9, "test"), scope="account",
                                      scope_id=acct, flatten=True, comment="runaway")
    assert [(c["command"], c["ok"]) for c in result["commands"]] == [
        ("cancel_order", True), ("close_position", True)]
    assert result["working_orders"] == 3
    refused = await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market",
                           qty="0.001")
    assert refused == {"ok": False, "code": "risk_blocked"}, refused  # rule kill_switch
    await h.drain(acct)
    async with h.store.read() as conn:
        still_open = (await conn.execute(select(orders.c.id).where(
            orders.c.account_id == acct, orders.c.is_open.is_(True)))).all()  # fmt: skip
        held = (await conn.execute(select(positions.c.id).where(
            positions.c.account_id == acct, positions.c.is_open.is_(True)))).all()  # fmt: skip
        kill_commands = (await conn.execute(select(commands.c.status).where(
            commands.c.account_id == acct, commands.c.request_id.like("kill:%")))).all()  # fmt: skip
        theirs = (await conn.execute(select(orders.c.id).where(
            orders.c.account_id == other, orders.c.is_open.is_(True)))).all()  # fmt: skip
    assert still_open == []
    assert held == []
    assert [r[0] for r in kill_commands] == ["completed", "completed"]
    assert len(theirs) == 1  # another account's order stays
    assert await h.drain(acct) == 0  # nothing queued twice
    lifted = await kill_switch.lift(h.store, officer, Actor(9, 9, "test"), scope="account",
                                    scope_id=acct, comment="fixed")
    assert lifted["ok"]
    again = await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="limit",
                         qty="0.001", price="40000")
    assert again["ok"], again
    for account_id in (acct, other):  # leave no resting order behind for later tests
        await h.send(account_id, "cancel_all_orders")
        await h.drain(account_id)  # (the other account's lease last: taking it takes them all)
