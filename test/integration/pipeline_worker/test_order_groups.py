"""Contingent groups held by the gateway, through the real acceptance, worker and paper venue:
a bracket's exits created at its entry's fills and one-cancels-the-other, OCO legs of which
one fires, cancels that end a group whole, and a takeover of the account between two workers
mid-group (the kill -9 of the owner) that fires nothing twice and leaves no exit orphaned."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from apps.oms.store.tables import order_group_members, order_groups, orders, outbox

from .conftest import Harness
from .test_commands import assert_fold, positions_of
from .test_held_orders import _long, _take_over

SYMBOL = "BTC/USDT:USDT"


async def group_of(h: Harness, order_id: int) -> dict[str, Any]:
    async with h.store.read() as conn:
        gid = (await conn.execute(select(orders.c.group_id).where(orders.c.id == order_id))
               ).scalar_one()
        row = (await conn.execute(select(order_groups).where(order_groups.c.id == gid))
               ).mappings().one()
        members = (await conn.execute(
            select(order_group_members.c.role, orders)
            .join(orders, orders.c.id == order_group_members.c.order_id)
            .where(order_group_members.c.group_id == gid).order_by(order_group_members.c.id)
        )).mappings().all()
    return {**dict(row), "members": {m["role"]: dict(m) for m in members}}


async def children(h: Harness, parent_id: int) -> list[dict[str, Any]]:
    async with h.store.read() as conn:
        rows = (await conn.execute(select(orders).where(orders.c.parent_order_id == parent_id)
                                   .order_by(orders.c.id))).mappings()
        return [dict(r) for r in rows]


async def events(h: Harness, acct: int, name: str) -> list[dict[str, Any]]:
    async with h.store.read() as conn:
        rows = (await conn.execute(select(outbox.c.payload).where(
            outbox.c.account_id == acct, outbox.c.event == name).order_by(outbox.c.id))
                ).scalars()
        return [dict(r) for r in rows]


async def bracket(h: Harness, acct: int, **extra: Any) -> int:
    fields = {"symbol": SYMBOL, "side": "buy", "order_type": "market", "qty": "0.01",
              "bracket_stop_loss": {"trigger_price": "49000"},
              "bracket_take_profit": {"trigger_price": "52000"}, **extra}
    item = await h.send(acct, "send_order", **fields)
    assert item["ok"], item
    return int(item["order_id"])


async def test_a_bracket_arms_its_exits_at_the_entry_fill_and_the_first_exit_takes_it(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    entry_id = await bracket(h, acct, strategy_id=0, comment="b1")
    await h.drain(acct)
    group = await group_of(h, entry_id)
    assert (group["kind"], group["state"]) == ("bracket", "active")
    entry, sl, tp = (group["members"][r] for r in ("entry", "stop_loss", "take_profit"))
    assert (entry["status"], entry["filled_qty"]) == ("FILLED", Decimal("0.01"))
    (pos,) = await positions_of(h, acct)
    for exit_, trigger in ((sl, "stop_price"), (tp, "take_profit_price")):
        assert (exit_["status"], exit_["side"], exit_["qty"], exit_["reduce_only"],
                exit_["position_id"], exit_["parent_order_id"], exit_["emulation"],
                exit_["strategy_id"]) == (
            "SUBMITTED", "sell", Decimal("0.01"), True, pos["id"], entry_id, "gateway", 0)
    assert (sl["stop_price"], tp["take_profit_price"]) == (Decimal(49000), Decimal(52000))
    await h.price(SYMBOL, "49500")
    await h.drain(acct)
    assert (await group_of(h, entry_id))["state"] == "active"
    await h.price(SYMBOL, "48900")
    await h.drain(acct)
    group = await group_of(h, entry_id)
    assert group["state"] == "done"
    assert group["members"]["stop_loss"]["status"] == "FILLED"
    assert group["members"]["take_profit"]["status"] == "CANCELED"
    (child,) = await children(h, sl["id"])
    assert (child["status"], child["qty"]) == ("FILLED", Decimal("0.01"))
    assert await children(h, tp["id"]) == []
    (pos,) = await positions_of(h, acct)
    assert pos["state"] == "closed"
    await h.price(SYMBOL, "60000")  # the take-profit's price: it was disarmed
    await h.drain(acct)
    assert await children(h, tp["id"]) == []
    states = [e["state"] for e in await events(h, acct, "order_group_changed")]
    assert states[0] == "active" and states[-1] == "done" and "triggered" in states
    await assert_fold(h, acct)


async def test_an_oco_fires_one_leg_and_disarms_the_others(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("hedge")
    pid = await _long(h, acct)
    item = await h.send(acct, "send_order", symbol=SYMBOL, side="sell", order_type="market",
                        qty="0.01", take_profit_price="52000", reduce_only=True,
                        position_id=pid, oco_orders=[{"stop_price": "48000"}])
    assert item["ok"], item
    await h.drain(acct)
    group = await group_of(h, item["order_id"])
    assert (group["kind"], group["state"]) == ("oco", "active")
    leg0, leg1 = group["members"]["leg0"], group["members"]["leg1"]
    assert (leg0["status"], leg1["status"]) == ("SUBMITTED", "SUBMITTED")
    assert (leg1["side"], leg1["qty"], leg1["reduce_only"], leg1["position_id"],
            leg1["emulation"], leg1["stop_price"]) == (
        "sell", Decimal("0.01"), True, pid, "gateway", Decimal(48000))
    await h.price(SYMBOL, "52100")
    await h.drain(acct)
    group = await group_of(h, item["order_id"])
    assert group["state"] == "done"
    assert (group["members"]["leg0"]["status"], group["members"]["leg1"]["status"]) == (
        "FILLED", "CANCELED")
    await h.price(SYMBOL, "47000")
    await h.drain(acct)
    assert await children(h, leg1["id"]) == []
    (pos,) = await positions_of(h, acct)
    assert pos["state"] == "closed"
    await assert_fold(h, acct)
