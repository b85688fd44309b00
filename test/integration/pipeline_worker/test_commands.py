"""Every command type executed end to end at the service level (acceptance → worker → books)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select

from apps.oms.clock import utcnow
from apps.oms.domain.positions import rebuild_all
from apps.oms.store import books
from apps.oms.store.positions import position_from_row
from apps.oms.store.tables import deals, outbox, positions, risk_limits
from apps.paper.exchange.factory import as_port, build_paper_venue

from .conftest import Harness


async def positions_of(h: Harness, account_id: int) -> list[dict[str, Any]]:
    async with h.store.read() as conn:
        rows = (await conn.execute(select(positions).where(
            positions.c.account_id == account_id).order_by(positions.c.id))).mappings()
        return [dict(r) for r in rows]


async def assert_fold(h: Harness, account_id: int) -> None:
    """Stored positions equal a rebuild from their deals."""
    async with h.store.read() as conn:
        all_deals = await books.deals_of_account(conn, account_id)
    stored = {int(r["id"]): position_from_row(r) for r in await positions_of(h, account_id)}
    rebuilt = rebuild_all(all_deals, stored)
    assert rebuilt == stored


async def events_of(h: Harness, account_id: int) -> list[str]:
    async with h.store.read() as conn:
        rows = await conn.execute(select(outbox.c.event).where(
            outbox.c.account_id == account_id).order_by(outbox.c.id))
        return [str(r[0]) for r in rows]


async def test_market_send_opens_and_close_position_closes(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("hedge")
    item = await h.send(acct, "send_order", symbol="BTC/USDT:USDT", side="buy",
                        order_type="market", qty="0.01")
    assert item["ok"], item
    assert await h.drain(acct) == 1
    order = await h.order(item["order_id"])
    assert order["status"] == "FILLED"
    assert order["filled_qty"] == Decimal("0.01")
    assert not order["outcome_unknown"]
    assert order["exchange_order_id"]
    (pos,) = await positions_of(h, acct)
    assert pos["qty"] == Decimal("0.01")
    assert pos["state"] == "open"
    assert order["position_id"] == pos["id"]
    close = await h.send(acct, "close_position", position_id=pos["id"])
    assert close["ok"], close
    await h.drain(acct)
    (pos,) = await positions_of(h, acct)
    assert pos["state"] == "closed"
    assert pos["pending_close_qty"] == 0
    assert (await h.command(close["command_id"]))["status"] == "completed"
    names = await events_of(h, acct)
    for name in ("order_filled", "deal_created", "position_opened", "position_closed",
                 "command_completed"):
        assert name in names
    await assert_fold(h, acct)


async def test_resting_limit_fills_after_price_change_and_cancel(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("netting")
    await h.price("ETH/USDT:USDT", "3000")
    resting = await h.send(acct, "send_order", symbol="ETH/USDT:USDT", side="buy",
                           order_type="limit", qty="0.1", price="2900")
    other = await h.send(acct, "send_order", symbol="ETH/USDT:USDT", side="buy",
                         order_type="limit", qty="0.1", price="2000")
    await h.drain(acct)
    assert (await h.order(resting["order_id"]))["status"] == "SUBMITTED"
    await h.price("ETH/USDT:USDT", "2890")
    await h.drain(acct)
    filled = await h.order(resting["order_id"])
    assert filled["status"] == "FILLED"
    assert filled["avg_fill_price"] == Decimal("2900")
    cancel = await h.send(acct, "cancel_order", order_ids=[other["order_id"]])
    await h.drain(acct)
    assert (await h.order(other["order_id"]))["status"] == "CANCELED"
    assert (await h.command(cancel["command_id"]))["status"] == "completed"
    again = await h.send(acct, "cancel_order", order_ids=[filled["id"]])
    assert again == {"ok": False, "code": "invalid_order_state"}
    await assert_fold(h, acct)


async def test_cancel_mixing_a_queued_send_and_a_resting_order(
    harness: Callable[..., Harness],
) -> None:
    """One cancel_order naming a resting order (the worker cancels it on the venue) and a send
    still queued (cancelled at acceptance): both end CANCELED, both items ok, one result shape."""
    h = harness()
    acct = await h.account("hedge")
    await h.price("ETH/USDT:USDT", "3000")
    resting = await h.send(acct, "send_order", symbol="ETH/USDT:USDT", side="buy",
                           order_type="limit", qty="0.1", price="2000")
    await h.drain(acct)
    queued = await h.send(acct, "send_order", symbol="ETH/USDT:USDT", side="buy",
                          order_type="limit", qty="0.1", price="2100")
    cancel = await h.send(acct, "cancel_order",
                          order_ids=[resting["order_id"], queued["order_id"]])
    await h.drain(acct)
    assert (await h.order(resting["order_id"]))["status"] == "CANCELED"
    assert (await h.order(queued["order_id"]))["status"] == "CANCELED"
    command = await h.command(cancel["command_id"])
    assert command["status"] == "completed"
    items = {i["order_id"]: i for i in command["result"]["items"]}
    assert items[queued["order_id"]] == {"order_id": queued["order_id"], "ok": True,
                                         "status": "CANCELED"}
    assert items[resting["order_id"]]["ok"] is True
    await assert_fold(h, acct)


async def test_change_order_then_cancel_all(harness: Callable[..., Harness]) -> None:
    h = harness()
    acct = await h.account("netting")
    await h.price("SOL/USDT:USDT", "150")
    item = await h.send(acct, "send_order", symbol="SOL/USDT:USDT", side="sell",
                        order_type="limit", qty="1", price="160")
    await h.drain(acct)
    change = await h.send(acct, "change_order", order_id=item["order_id"], new_price="170",
                          new_qty="2")
    assert change["ok"], change
    await h.drain(acct)
    order = await h.order(item["order_id"])
    assert (order["qty"], order["price"], order["edit_replace_state"]) == (
        Decimal("2"), Decimal("170"), "edited")
    cancel_all = await h.send(acct, "cancel_all_orders", symbol="SOL/USDT:USDT")
    await h.drain(acct)
    assert (await h.order(item["order_id"]))["status"] == "CANCELED"
    assert (await h.command(cancel_all["command_id"]))["status"] == "completed"


async def test_internal_commands_close_by_merge_change(harness: Callable[..., Harness]) -> None:
    h = harness()
    acct = await h.account("hedge")
    await h.price("BTC/USDT:USDT", "50000")
    for side in ("buy", "buy", "sell"):
        await h.send(acct, "send_order", symbol="BTC/USDT:USDT", side=side,
                     order_type="market", qty="0.02")
    await h.drain(acct)
    long_a, long_b, short = await positions_of(h, acct)
    merge = await h.send(acct, "merge_positions", source_position_id=long_a["id"],
                         target_position_id=long_b["id"])
    await h.drain(acct)
    assert (await h.command(merge["command_id"]))["status"] == "completed"
    by = await h.send(acct, "close_by", position_id_a=long_b["id"], position_id_b=short["id"])
    await h.drain(acct)
    assert (await h.command(by["command_id"]))["status"] == "completed"
    change = await h.send(acct, "position_change", position_id=long_b["id"],
                          oms_stop_loss="40000", comment="kept")
    await h.drain(acct)
    assert (await h.command(change["command_id"]))["status"] == "completed"
    merged, target, closed = await positions_of(h, acct)
    assert merged["state"] == "merged"
    assert closed["state"] == "closed"
    assert target["qty"] == Decimal("0.02")
    assert target["stop_loss"] == Decimal("40000")
    assert target["comment"] == "kept"
    async with h.store.read() as conn:
        entries = [r[0] for r in await conn.execute(
            select(deals.c.entry).where(deals.c.account_id == acct))]
    assert entries.count("out_by") == 2
    await assert_fold(h, acct)


async def test_stop_loss_triggers_reduce_only_close(harness: Callable[..., Harness]) -> None:
    h = harness()
    acct = await h.account("hedge")
    await h.price("ETH/USDT", "3000")
    await h.send(acct, "send_order", symbol="ETH/USDT", side="buy", order_type="market",
                 qty="0.5", oms_stop_loss="2900", oms_stop_gain="3300")
    await h.drain(acct)
    (pos,) = await positions_of(h, acct)
    assert pos["stop_loss"] == Decimal("2900")
    await h.price("ETH/USDT", "2850")
    await h.drain(acct)
    (pos,) = await positions_of(h, acct)
    assert pos["state"] == "closed"
    async with h.store.read() as conn:
        reasons = [r[0] for r in await conn.execute(
            select(deals.c.reason).where(deals.c.account_id == acct).order_by(deals.c.id))]
    assert reasons[-1] == "stop_loss"
    names = await events_of(h, acct)
    assert "stop_triggered" in names
    await assert_fold(h, acct)


async def test_worker_recheck_rejects_after_limits_changed(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("netting")
    item = await h.send(acct, "send_order", symbol="BTC/USDT", side="buy",
                        order_type="market", qty="0.01")
    assert item["ok"], item
    async with h.store.transaction() as conn:
        await conn.execute(insert(risk_limits).values(
            account_id=acct, strategy_id=0, max_order_qty=Decimal("0.001"), updated_at=utcnow()))
    await h.drain(acct)
    order = await h.order(item["order_id"])
    assert order["status"] == "REJECTED"
    assert order["error_code"] == "risk_blocked"
    command = await h.command(item["command_id"])
    assert command["error_code"] == "risk_blocked"
    assert "risk_rejected" in await events_of(h, acct)


async def test_netting_reversal_books_two_legs(harness: Callable[..., Harness]) -> None:
    h = harness()
    acct = await h.account("netting")
    await h.price("BTC/USDT:USDT", "50000")
    await h.send(acct, "send_order", symbol="BTC/USDT:USDT", side="buy", order_type="market",
                 qty="0.01")
    await h.send(acct, "send_order", symbol="BTC/USDT:USDT", side="sell", order_type="market",
                 qty="0.03")
    await h.drain(acct)
    first, second = await positions_of(h, acct)
    assert first["state"] == "closed"
    assert (second["side"], second["qty"], second["state"]) == ("sell", Decimal("0.02"), "open")
    async with h.store.read() as conn:
        legs = [tuple(r) for r in await conn.execute(
            select(deals.c.leg, deals.c.entry).where(deals.c.account_id == acct)
            .order_by(deals.c.id))]
    assert legs == [(0, "in"), (0, "out"), (1, "in")]
    await assert_fold(h, acct)


async def test_partial_fills_and_change_of_a_partially_filled_order(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("netting")
    venue = build_paper_venue(acct, h.store.engine, {}, book={"resting_volume": "0.05"})
    h.venues._venues[acct] = as_port(venue)
    await h.price("ETH/USDT", "3000")
    item = await h.send(acct, "send_order", symbol="ETH/USDT", side="buy",
                        order_type="limit", qty="0.2", price="2950")
    await h.drain(acct)
    await h.price("ETH/USDT", "2940")
    await h.drain(acct)
    order = await h.order(item["order_id"])
    assert order["status"] == "PARTIALLY_FILLED"
    assert order["filled_qty"] == Decimal("0.05")
    change = await h.send(acct, "change_order", order_id=item["order_id"], new_qty="0.1")
    assert change["ok"], change
    await h.drain(acct)
    assert (await h.order(item["order_id"]))["qty"] == Decimal("0.1")
    await h.price("ETH/USDT", "2945")
    await h.drain(acct)
    order = await h.order(item["order_id"])
    assert order["status"] == "FILLED"
    assert order["filled_qty"] == Decimal("0.1")
    (pos,) = await positions_of(h, acct)
    assert pos["qty"] == Decimal("0.1")
    assert (await events_of(h, acct)).count("order_partially_filled") == 1
    await assert_fold(h, acct)


async def test_hedge_reduce_only_without_a_ticket_reduces_the_oldest_opposite_position(
    harness: Callable[..., Harness],
) -> None:
    """A one-way client (a CCXT program sending `reduceOnly`, as freqtrade does) on a hedge
    account: the order names no position and reduces the strategy's oldest open position on the
    other side (first in, first out); the other strategy's and the same side's stay as they
    were; with nothing on the other side it is refused."""
    h = harness()
    acct = await h.account("hedge")
    symbol = "BTC/USDT:USDT"
    for qty in ("0.01", "0.02"):
        item = await h.send(acct, "send_order", symbol=symbol, side="buy", order_type="market",
                            qty=qty)  # fmt: skip
        assert item["ok"], item
    await h.drain(acct)
    first, second = await positions_of(h, acct)
    refused = await h.send(acct, "send_order", symbol=symbol, side="buy", order_type="market",
                           qty="0.01", reduce_only=True)  # fmt: skip
    assert not refused["ok"]
    assert (refused.get("error") or refused)["code"] == "invalid_position_id"
    too_much = await h.send(acct, "send_order", symbol=symbol, side="sell", order_type="market",
                            qty="0.015", reduce_only=True)  # fmt: skip
    assert not too_much["ok"]  # more than the oldest position holds: not a one-way close
    item = await h.send(acct, "send_order", symbol=symbol, side="sell", order_type="market",
                        qty="0.01", reduce_only=True)  # fmt: skip
    assert item["ok"], item
    await h.drain(acct)
    order = await h.order(item["order_id"])
    assert (order["status"], order["position_id"], order["reduce_only"]) == (
        "FILLED", first["id"], True)
    after = {p["id"]: p for p in await positions_of(h, acct)}
    assert after[first["id"]]["state"] == "closed"
    assert after[second["id"]]["qty"] == Decimal("0.02")
    assert len(after) == 2  # nothing new opened
    await assert_fold(h, acct)
