"""A bracket's time limit through the real acceptance, worker and paper venue: the exit is
armed at the entry's first fill to fire its limit's seconds later, closes what the entry
filled with a market order whatever the price, is one-cancels-the-other with the stop-loss and
take-profit, and survives a takeover of the account. The time's coming is the store's fire
time moved into the past (the clock itself is never waited for)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update

from apps.oms.clock import utcnow
from apps.oms.service.execution import held as held_service
from apps.oms.store.tables import deals, held_orders, orders

from .conftest import Harness
from .test_commands import assert_fold, positions_of
from .test_held_orders import _take_over
from .test_order_groups import SYMBOL, children, events, group_of


async def _entry(h: Harness, acct: int, **extra: Any) -> int:
    """A market buy of 0.01 at 50,000 with a one-hour time limit (and `extra` exits)."""
    item = await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market",
                        qty="0.01", bracket_time_limit=3600, **extra)
    assert item["ok"], item
    return int(item["order_id"])


async def _time_comes(h: Harness, order_id: int) -> None:
    """The exit's fire time is now in the past (as if the hour had gone by)."""
    past = utcnow() - timedelta(seconds=1)
    async with h.store.transaction() as conn:
        await conn.execute(update(held_orders).where(held_orders.c.order_id == order_id)
                           .values(fire_at=past))
        await conn.execute(update(orders).where(orders.c.id == order_id).values(fire_at=past))


async def _held(h: Harness, order_id: int) -> dict[str, Any]:
    async with h.store.read() as conn:
        row = (await conn.execute(select(held_orders).where(
            held_orders.c.order_id == order_id))).mappings().one()
    return dict(row)


async def test_the_time_limit_closes_the_position_at_its_time_whatever_the_price(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    entry_id = await _entry(h, acct, strategy_id=0)
    await h.drain(acct)
    group = await group_of(h, entry_id)
    assert (group["kind"], group["state"]) == ("bracket", "active")
    exit_ = group["members"]["time_limit"]
    (pos,) = await positions_of(h, acct)
    assert (exit_["status"], exit_["side"], exit_["order_type"], exit_["qty"],
            exit_["reduce_only"], exit_["position_id"], exit_["parent_order_id"],
            exit_["emulation"], exit_["reason"], exit_["group_role"]) == (
        "SUBMITTED", "sell", "market", Decimal("0.01"), True, pos["id"], entry_id, "gateway",
        "time_limit", "time_limit")
    # armed to fire an hour after the entry's fill was executed; the order shows when
    fire_at = exit_["fire_at"]
    async with h.store.read() as conn:
        filled_at = (await conn.execute(select(func.min(deals.c.executed_at)).where(
            deals.c.order_id == entry_id))).scalar_one()
    assert fire_at == filled_at + timedelta(seconds=3600)
    held = await _held(h, exit_["id"])
    assert (held["kind"], held["state"], held["fire_at"]) == ("time", "armed", fire_at)
    # prices move, the hour has not gone by: nothing fires
    for price in ("40000", "60000"):
        await h.price(SYMBOL, price)
        await h.drain(acct)
    assert await children(h, exit_["id"]) == []
    await _time_comes(h, exit_["id"])
    await h.drain(acct)
    group = await group_of(h, entry_id)
    assert group["state"] == "done"
    exit_ = group["members"]["time_limit"]
    (child,) = await children(h, exit_["id"])
    assert (exit_["status"], child["status"], child["order_type"], child["qty"],
            child["reason"]) == ("FILLED", "FILLED", "market", Decimal("0.01"), "time_limit")
    (pos,) = await positions_of(h, acct)
    assert pos["state"] == "closed"
    held = await _held(h, exit_["id"])
    assert (held["state"], held["fired_price"]) == ("done", None)  # the clock fired it
    (triggered,) = await events(h, acct, "order_triggered")
    assert (triggered["order"]["id"], triggered["price"]) == (exit_["id"], None)
    await assert_fold(h, acct)


async def test_a_stop_loss_that_fires_first_disarms_the_time_limit(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    entry_id = await _entry(h, acct, bracket_stop_loss={"trigger_price": "49000"})
    await h.drain(acct)
    await h.price(SYMBOL, "48900")
    await h.drain(acct)
    group = await group_of(h, entry_id)
    sl, limit = group["members"]["stop_loss"], group["members"]["time_limit"]
    assert (group["state"], sl["status"], limit["status"]) == ("done", "FILLED", "CANCELED")
    await _time_comes(h, limit["id"])  # its time comes after: it was disarmed
    await h.drain(acct)
    assert await children(h, limit["id"]) == []
    assert (await _held(h, limit["id"]))["state"] == "canceled"
    await assert_fold(h, acct)


async def test_the_time_limit_takes_the_group_from_the_other_exits(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    entry_id = await _entry(h, acct, bracket_stop_loss={"trigger_price": "49000"},
                            bracket_take_profit={"trigger_price": "52000"})
    await h.drain(acct)
    limit = (await group_of(h, entry_id))["members"]["time_limit"]
    await _time_comes(h, limit["id"])
    await h.drain(acct)
    await h.price(SYMBOL, "48000")  # the stop-loss's price after: it was disarmed
    await h.drain(acct)
    group = await group_of(h, entry_id)
    assert [group["members"][r]["status"] for r in ("time_limit", "stop_loss", "take_profit")
            ] == ["FILLED", "CANCELED", "CANCELED"]
    assert await children(h, group["members"]["stop_loss"]["id"]) == []
    (pos,) = await positions_of(h, acct)
    assert pos["state"] == "closed"
    await assert_fold(h, acct)


async def test_a_position_closed_otherwise_leaves_no_time_limit_armed(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    entry_id = await _entry(h, acct)
    await h.drain(acct)
    (pos,) = await positions_of(h, acct)
    assert (await h.send(acct, "close_position", position_id=pos["id"]))["ok"]
    await h.drain(acct)
    limit = (await group_of(h, entry_id))["members"]["time_limit"]
    assert limit["status"] == "CANCELED"
    await _time_comes(h, limit["id"])
    await h.drain(acct)
    assert await children(h, limit["id"]) == []
    await assert_fold(h, acct)


async def test_the_next_owner_fires_the_time_limit_the_killed_owner_armed(
    harness: Callable[..., Harness],
) -> None:
    a, b = harness(), harness()
    acct = await a.account("hedge")
    await a.price(SYMBOL, "50000")
    entry_id = await _entry(a, acct)
    await a.drain(acct)  # A books the entry's fill and arms the time limit, then dies
    limit = (await group_of(a, entry_id))["members"]["time_limit"]
    await _take_over(a, b, acct)
    await _time_comes(b, limit["id"])
    rt_b = await b.runtime(acct)
    assert await held_service.check_held(rt_b) == 1  # fires with no price read
    assert await held_service.check_held(rt_b) == 0  # and never twice
    await b.drain(acct)
    (child,) = await children(b, limit["id"])
    assert child["status"] == "FILLED"
    (pos,) = await positions_of(b, acct)
    assert pos["state"] == "closed"
    await assert_fold(b, acct)


async def test_a_bad_time_limit_is_refused_and_nothing_is_written(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    for limit, extra in ((0, {}), (-5, {}), (366 * 86_400 + 1, {}), ("soon", {}),
                         (60, {"oco_orders": [{"stop_price": "40000"}],
                               "stop_price": "45000", "side": "sell"})):
        fields = {"symbol": SYMBOL, "side": "buy", "order_type": "market", "qty": "0.01",
                  "bracket_time_limit": limit, **extra}
        item = await h.send(acct, "send_order", **fields)
        assert (item["ok"], item.get("code")) == (False, "validation_error"), (limit, item)
    async with h.store.read() as conn:
        assert (await conn.execute(select(orders.c.id).where(orders.c.account_id == acct))
                ).first() is None
