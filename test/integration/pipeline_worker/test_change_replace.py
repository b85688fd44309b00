"""`change_order` by cancel/replace on a paper account without native edit
(`{"paper": {"edit_order": false}}`): one OMS order, several venue orders, exactly-once
placement of the replacement, fills of every venue order booked to the same OMS order."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from sqlalchemy import select, update

from apps.oms.clock import utcnow
from apps.oms.service.execution import dispatch, replace
from apps.oms.service.execution.runtime import AccountRuntime
from apps.oms.store import order_records
from apps.oms.store.accounts import insert_account
from apps.oms.store.tables import account_leases, commands, deals, outbox
from apps.worker.venues import load_account

from .conftest import Harness
from .test_commands import assert_fold, positions_of

SYMBOL = "ETH/USDT"


class Tweaked:
    """The real paper venue with one call changed: a fake at the port, never at the store."""

    def __init__(self, inner: Any, **calls: Any) -> None:
        self.inner = inner
        self.calls = calls
        self.count: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        target = self.calls.get(name) or getattr(self.inner, name)
        if not callable(target):
            return target

        def counted(*args: Any, **kw: Any) -> Any:
            self.count[name] = self.count.get(name, 0) + 1
            return target(*args, **kw)

        return counted


async def no_edit_account(
    h: Harness, mode: str = "netting", book: dict[str, Any] | None = None,
    faults: dict[str, Any] | None = None,
) -> int:
    paper: dict[str, Any] = {"edit_order": False}
    if book:
        paper["book"] = book
    if faults:
        paper["faults"] = faults
    async with h.store.transaction() as conn:
        return await insert_account(conn, exchange_id="paper", label="no-edit",
                                    position_mode=mode, is_testnet=False, is_live=False,
                                    config={"paper": paper})


async def venue_orders(h: Harness, order_id: int) -> list[tuple[str, str | None]]:
    async with h.store.read() as conn:
        rows = await order_records.venue_orders_of(conn, order_id)
    return [(r["client_order_id"], r["exchange_order_id"]) for r in rows]


async def paper_orders(rt: AccountRuntime) -> list[dict[str, Any]]:
    return sorted(await rt.venue.fetch_orders(), key=lambda o: int(o["timestamp"] or 0))


async def events(h: Harness, account_id: int) -> list[tuple[str, dict[str, Any]]]:
    async with h.store.read() as conn:
        rows = await conn.execute(select(outbox.c.event, outbox.c.payload).where(
            outbox.c.account_id == account_id).order_by(outbox.c.id))
        return [(str(r[0]), dict(r[1])) for r in rows]


async def order_deals(h: Harness, order_id: int) -> list[tuple[Decimal, Decimal, str]]:
    async with h.store.read() as conn:
        rows = await conn.execute(select(deals.c.qty, deals.c.price, deals.c.exchange_trade_id)
                                  .where(deals.c.order_id == order_id).order_by(deals.c.id))
        return [(Decimal(r[0]), Decimal(r[1]), str(r[2])) for r in rows]


async def resting_buy(h: Harness, acct: int, qty: str, price: str) -> dict[str, Any]:
    await h.price(SYMBOL, "3000")
    item = await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="limit",
                        qty=qty, price=price)
    await h.drain(acct)
    assert (await h.order(item["order_id"]))["status"] == "SUBMITTED"
    return item


async def test_paper_switch_reports_no_native_edit(harness: Callable[..., Harness]) -> None:
    h = harness()
    acct = await no_edit_account(h)
    venue = h.venues.get(await load_account(h.store, acct))
    assert venue is not None
    assert venue.has["editOrder"] is False  # type: ignore[attr-defined]
    assert not replace.has_native_edit(venue)
    assert replace.has_native_edit(h.venues.get(await load_account(h.store, await h.account())))
    with pytest.raises(ccxt.NotSupported):
        await venue.edit_order("x", SYMBOL, "limit", "buy", Decimal(1), Decimal(1))
    assert replace.chained_client_order_id("o1abc", 1) == "o1abcr1"
    long_id = replace.chained_client_order_id("A" * 32, 12)
    assert len(long_id) == 32
    assert long_id.endswith("r12")
    assert long_id.isalnum()


async def test_replace_of_a_resting_limit_with_a_new_price(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await no_edit_account(h)
    item = await resting_buy(h, acct, "0.2", "2900")
    before = await h.order(item["order_id"])
    change = await h.send(acct, "change_order", order_id=item["order_id"], new_price="2950")
    await h.drain(acct)
    assert (await h.command(change["command_id"]))["status"] == "completed"
    order = await h.order(item["order_id"])
    assert (order["status"], order["qty"], order["price"], order["edit_replace_state"]) == (
        "SUBMITTED", Decimal("0.2"), Decimal("2950"), "replaced")
    assert order["client_order_id"] == before["client_order_id"]
    assert order["exchange_order_id"] != before["exchange_order_id"]
    chained = before["client_order_id"] + "r1"
    assert await venue_orders(h, item["order_id"]) == [
        (before["client_order_id"], before["exchange_order_id"]),
        (chained, order["exchange_order_id"])]
    old, new = await paper_orders(await h.runtime(acct))
    assert (old["id"], old["status"]) == (before["exchange_order_id"], "canceled")
    assert (new["id"], new["clientOrderId"], new["status"], new["amount"], new["price"]) == (
        order["exchange_order_id"], chained, "open", Decimal("0.2"), Decimal("2950"))
    names = [e for e, _ in await events(h, acct)]
    assert "order_change_replace_pending" in names
    assert "order_changed" in names
    assert "order_canceled" not in names
    # a second change chains again from the original client id
    again = await h.send(acct, "change_order", order_id=item["order_id"], new_price="2945")
    await h.drain(acct)
    assert (await h.command(again["command_id"]))["status"] == "completed"
    linked = await venue_orders(h, item["order_id"])
    assert [c for c, _ in linked] == [before["client_order_id"], chained,
                                      before["client_order_id"] + "r2"]
    assert [o["status"] for o in await paper_orders(await h.runtime(acct))] == [
        "canceled", "canceled", "open"]
    await h.price(SYMBOL, "2940")
    await h.drain(acct)
    order = await h.order(item["order_id"])
    assert (order["status"], order["filled_qty"], order["avg_fill_price"]) == (
        "FILLED", Decimal("0.2"), Decimal("2945"))
    await assert_fold(h, acct)


async def test_new_qty_of_a_partially_filled_order_reads_fills_after_the_cancel(
    harness: Callable[..., Harness],
) -> None:
    """The old venue order filled 0.05 that the OMS had not booked yet: the fill comes with the
    confirmed cancel, and the replacement is for new_qty − filled = 0.15 − 0.05."""
    h = harness()
    acct = await no_edit_account(h, book={"resting_volume": "0.05"})
    item = await resting_buy(h, acct, "0.2", "2950")
    rt = await h.runtime(acct)
    await h.price(SYMBOL, "2940")
    assert len(await rt.venue.match()) == 1  # type: ignore[attr-defined]
    await h.price(SYMBOL, "3000")
    assert (await h.order(item["order_id"]))["filled_qty"] == Decimal(0)
    change = await h.send(acct, "change_order", order_id=item["order_id"], new_qty="0.15")
    await h.drain(acct)
    assert (await h.command(change["command_id"]))["status"] == "completed"
    order = await h.order(item["order_id"])
    assert (order["status"], order["qty"], order["filled_qty"], order["edit_replace_state"]) == (
        "PARTIALLY_FILLED", Decimal("0.15"), Decimal("0.05"), "replaced")
    old, new = await paper_orders(rt)
    assert (old["status"], old["filled"]) == ("canceled", Decimal("0.05"))
    assert (new["status"], new["amount"]) == ("open", Decimal("0.1"))
    for price in ("2945", "2944"):
        await h.price(SYMBOL, price)
        await h.drain(acct)
    order = await h.order(item["order_id"])
    assert (order["status"], order["filled_qty"]) == ("FILLED", Decimal("0.15"))
    assert [d[:2] for d in await order_deals(h, item["order_id"])] == [
        (Decimal("0.05"), Decimal("2950"))] * 3
    (pos,) = await positions_of(h, acct)
    assert pos["qty"] == Decimal("0.15")
    await assert_fold(h, acct)


async def _filled_before_change(h: Harness, acct: int) -> tuple[dict[str, Any], AccountRuntime]:
    item = await resting_buy(h, acct, "0.1", "2950")
    rt = await h.runtime(acct)
    await h.price(SYMBOL, "2940")
    await rt.venue.match()  # type: ignore[attr-defined]  # filled on the venue, not synced
    return item, rt


async def _assert_replace_failed_filled(h: Harness, acct: int, item: dict[str, Any],
                                        change: dict[str, Any]) -> None:
    command = await h.command(change["command_id"])
    assert (command["status"], command["error_code"]) == ("failed", "invalid_order_state")
    assert command["result"]["reason"] == "filled"
    order = await h.order(item["order_id"])
    assert (order["status"], order["filled_qty"], order["edit_replace_state"]) == (
        "FILLED", Decimal("0.1"), "replace_failed")
    assert len(await venue_orders(h, item["order_id"])) == 1
    assert len(await paper_orders(await h.runtime(acct))) == 1  # no second venue order
    failed = [p for e, p in await events(h, acct) if e == "order_change_replace_failed"]
    assert [p["reason"] for p in failed] == ["filled"]


async def test_old_order_filled_before_the_cancel_sends_no_replacement(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await no_edit_account(h)
    item, _ = await _filled_before_change(h, acct)
    change = await h.send(acct, "change_order", order_id=item["order_id"], new_price="2900")
    await h.drain(acct)
    await _assert_replace_failed_filled(h, acct, item, change)


async def test_cancel_refused_because_filled_ends_replace_failed(
    harness: Callable[..., Harness],
) -> None:
    """The venue still showed the order open, then refused the cancel (it had filled)."""
    h = harness()
    acct = await no_edit_account(h)
    item, rt = await _filled_before_change(h, acct)
    real = rt.venue
    stale = {"n": 0}

    async def fetch_order(id: str, symbol: str | None = None, params: Any = None) -> Any:
        found = await real.fetch_order(id, symbol, params)
        stale["n"] += 1
        return {**found, "status": "open"} if stale["n"] == 1 else found

    rt.venue = Tweaked(real, fetch_order=fetch_order)  # type: ignore[assignment]
    change = await h.send(acct, "change_order", order_id=item["order_id"], new_price="2900")
    await h.drain(acct)
    assert rt.venue.count.get("cancel_order") == 1  # type: ignore[attr-defined]
    await _assert_replace_failed_filled(h, acct, item, change)


async def test_timeout_placing_the_replacement_is_resolved_by_lookup(
    harness: Callable[..., Harness],
) -> None:
    """Every placement times out after the venue took it: the send and the replacement are both
    adopted by lookup, nothing is placed twice."""
    h = harness()
    acct = await no_edit_account(h, faults={"timeout_rate": "1"})
    item = await resting_buy(h, acct, "0.2", "2900")
    change = await h.send(acct, "change_order", order_id=item["order_id"], new_price="2950",
                          new_qty="0.3")
    await h.drain(acct)
    assert (await h.command(change["command_id"]))["status"] == "completed"
    order = await h.order(item["order_id"])
    assert (order["edit_replace_state"], order["qty"], order["price"]) == (
        "replaced", Decimal("0.3"), Decimal("2950"))
    old, new = await paper_orders(await h.runtime(acct))
    assert (old["status"], new["status"], new["amount"]) == ("canceled", "open", Decimal("0.3"))
    linked = await venue_orders(h, item["order_id"])
    assert [x for _, x in linked] == [old["id"], new["id"]]


async def test_replacement_not_placed_is_given_up_after_the_window(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await no_edit_account(h)
    item = await resting_buy(h, acct, "0.2", "2900")
    # a short window once the resting order is placed (its placement keeps the long send
    # deadline, which a loaded machine's stalls do not pass)
    h.settings.unknown_outcome_window_seconds = 3
    rt = await h.runtime(acct)

    async def create_order(*args: Any, **kw: Any) -> Any:
        raise ccxt.ExchangeNotAvailable("down: not placed")

    rt.venue = Tweaked(rt.venue, create_order=create_order)  # type: ignore[assignment]
    change = await h.send(acct, "change_order", order_id=item["order_id"], new_price="2950")
    await h.drain(acct)
    command = await h.command(change["command_id"])
    assert (command["status"], command["error_code"]) == ("failed", "outcome_unknown_not_found")
    order = await h.order(item["order_id"])
    assert (order["status"], order["edit_replace_state"]) == ("CANCELED", "replace_failed")
    failed = [p for e, p in await events(h, acct) if e == "order_change_replace_failed"]
    assert [p["reason"] for p in failed] == ["not_placed"]


async def test_fills_on_both_venue_orders_book_to_the_same_order(
    harness: Callable[..., Harness],
) -> None:
    """A venue that leaves trades out of `fetch_order`: the old venue order's fill arrives after
    the cancel through order sync and books to the same OMS order as the replacement's fill."""
    h = harness()
    acct = await no_edit_account(h, "hedge", book={"resting_volume": "0.05"})
    item = await resting_buy(h, acct, "0.2", "2950")
    rt = await h.runtime(acct)
    real = rt.venue

    async def fetch_order(id: str, symbol: str | None = None, params: Any = None) -> Any:
        return {**await real.fetch_order(id, symbol, params), "trades": []}

    rt.venue = Tweaked(real, fetch_order=fetch_order)  # type: ignore[assignment]
    await h.price(SYMBOL, "2940")
    await real.match()  # type: ignore[attr-defined]  # 0.05 on the old order, not synced yet
    await h.price(SYMBOL, "3000")
    change = await h.send(acct, "change_order", order_id=item["order_id"], new_price="2960")
    await h.drain(acct, housekeeping=False)
    order = await h.order(item["order_id"])
    assert (order["edit_replace_state"], order["filled_qty"]) == ("replaced", Decimal(0))
    assert (await h.command(change["command_id"]))["status"] == "completed"
    await h.drain(acct)  # sync books the old order's fill (fills always win)
    await h.price(SYMBOL, "2955")
    await h.drain(acct)
    order = await h.order(item["order_id"])
    assert (order["status"], order["filled_qty"]) == ("PARTIALLY_FILLED", Decimal("0.1"))
    got = await order_deals(h, item["order_id"])
    assert [d[:2] for d in got] == [(Decimal("0.05"), Decimal("2950")),
                                    (Decimal("0.05"), Decimal("2960"))]
    trades = await real.fetch_my_trades(SYMBOL)
    assert {t["id"] for t in trades} == {d[2] for d in got}
    assert len({t["order"] for t in trades}) == 2  # two venue orders, one OMS order
    (pos,) = await positions_of(h, acct)
    assert pos["qty"] == Decimal("0.1")
    await assert_fold(h, acct)


async def _take_over(a: Harness, b: Harness, acct: int) -> AccountRuntime:
    """A's lease expires; B takes it with a venue that counts its calls, and drains."""
    async with a.store.transaction() as conn:
        await conn.execute(update(account_leases).where(account_leases.c.account_id == acct)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
    rt_b = await b.runtime(acct, owner="B")
    rt_b.venue = Tweaked(rt_b.venue)  # type: ignore[assignment]
    await b.drain(acct)
    return rt_b


async def _change_dies(a: Harness, acct: int, order_id: int, dies: str) -> dict[str, Any]:
    """Worker A runs a change to a new price 2950 up to `dies` and stops there (its process
    died): after the cancel, after the replacement's write-ahead, or after placing it."""
    change = await a.send(acct, "change_order", order_id=order_id, new_price="2950")
    rt_a = await a.runtime(acct, owner="A")
    cmd = await dispatch.claim(rt_a)
    assert cmd is not None
    row = await replace._begin(rt_a, cmd, replace.Change.of(cmd.payload))
    assert row is not None
    assert row["edit_replace_state"] == "replace_pending"
    if dies == "after_cancel":
        await rt_a.venue.cancel_order(row["exchange_order_id"], SYMBOL)
        return change
    final = await replace._cancel_confirmed(rt_a, row)
    assert final is not None
    placed = await replace._confirm(rt_a, cmd, replace.Change.of(cmd.payload), final)
    assert placed is not None
    if dies == "after_placing":
        _, client_order_id, qty, _written_ahead, _side = placed
        await rt_a.venue.create_order(SYMBOL, "limit", "buy", qty, Decimal("2950"),
                                      {"clientOrderId": client_order_id})
    return change


@pytest.mark.parametrize("dies", ["after_cancel", "after_write_ahead", "after_placing"])
async def test_reattempt_after_a_crash_between_cancel_and_replace(
    harness: Callable[..., Harness], dies: str,
) -> None:
    """Worker A dies mid-way; B continues from the recorded `replace_pending`: it never cancels
    twice and never places twice (a written-ahead replacement is only looked up)."""
    a, b = harness(), harness(unknown_outcome_window_seconds=10)  # b's lookups end in 10 s
    acct = await no_edit_account(a)
    item = await resting_buy(a, acct, "0.2", "2900")
    a.settings.unknown_outcome_window_seconds = 3  # once the resting order is placed
    change = await _change_dies(a, acct, item["order_id"], dies)
    rt_b = await _take_over(a, b, acct)
    assert rt_b.venue.count.get("cancel_order", 0) == 0  # type: ignore[attr-defined]
    command = await b.command(change["command_id"])
    order = await b.order(item["order_id"])
    orders_on_venue = await paper_orders(rt_b)
    if dies == "after_write_ahead":  # the replacement never reached the venue: not re-sent
        assert (command["status"], command["error_code"]) == (
            "failed", "outcome_unknown_not_found")
        assert (order["status"], order["edit_replace_state"]) == ("CANCELED", "replace_failed")
        assert [o["status"] for o in orders_on_venue] == ["canceled"]
    else:
        assert (command["status"], command["attempts"]) == ("completed", 2)
        assert (order["status"], order["price"], order["edit_replace_state"]) == (
            "SUBMITTED", Decimal("2950"), "replaced")
        assert [o["status"] for o in orders_on_venue] == ["canceled", "open"]
        assert len(await venue_orders(b, item["order_id"])) == 2


async def test_attempt_cap_never_abandons_a_replacement_that_may_be_placed(
    harness: Callable[..., Harness],
) -> None:
    """Workers died under a change more often than the attempt cap allows, the last time right
    after placing the replacement: the change is still resolved by lookup (adopted, not given up
    as `internal_error`), and nothing is placed twice."""
    a, b = harness(), harness()
    acct = await no_edit_account(a)
    item = await resting_buy(a, acct, "0.2", "2900")
    change = await _change_dies(a, acct, item["order_id"], "after_placing")
    async with a.store.transaction() as conn:  # as if it had died this often already
        await conn.execute(update(commands).where(commands.c.id == change["command_id"])
                           .values(attempts=dispatch.MAX_ATTEMPTS + 1))
    rt_b = await _take_over(a, b, acct)
    command = await b.command(change["command_id"])
    order = await b.order(item["order_id"])
    assert (command["status"], command["error_code"]) == ("completed", None)
    assert (order["status"], order["price"], order["edit_replace_state"]) == (
        "SUBMITTED", Decimal("2950"), "replaced")
    assert [o["status"] for o in await paper_orders(rt_b)] == ["canceled", "open"]
    assert rt_b.venue.count.get("create_order", 0) == 0  # type: ignore[attr-defined]
