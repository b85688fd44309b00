"""The pure reconciliation core: windows, cursors, linking venue orders and trades, and the
fail-closed position verdict; the reassign replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.oms.domain.enums import DealEntry, PositionMode, Side
from apps.oms.domain.positions import Deal, fold
from apps.oms.domain.reassign import OrderInfo, ReassignConflict, plan, refused_orders, replay
from apps.oms.domain.reconcile import (
    MINUTE_MS,
    Windows,
    compare_positions,
    freshness,
    merge_orders,
    next_cursor,
    outside_type,
    plan_orders,
    plan_trades,
    since_ms,
    trade_page_size,
    unknown_trade_orders,
    venue_net,
    verdict,
)

NOW = 1_700_000_000_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_since_is_the_window_or_an_older_cursor_or_open_order() -> None:
    w = Windows(short_minutes=10, hourly_minutes=60, long_days=10)
    assert since_ms("short", NOW, w) == NOW - 10 * MINUTE_MS
    assert since_ms("hourly", NOW, w) == NOW - 60 * MINUTE_MS
    # a worker that was down: the cursor lags, nothing between it and now is skipped
    lagging = NOW - 3 * 60 * MINUTE_MS
    assert since_ms("short", NOW, w, cursor_ms=lagging) == lagging - 5_000
    assert since_ms("short", NOW, w, cursor_ms=NOW - 1000) == NOW - 10 * MINUTE_MS
    assert since_ms("short", NOW, w, oldest_open_ms=NOW - 20 * MINUTE_MS) < NOW - 20 * MINUTE_MS
    assert since_ms("period", NOW, w, start_ms=123) == 123
    with pytest.raises(ValueError, match="start_date"):
        since_ms("period", NOW, w)


def test_cursor_never_moves_back() -> None:
    assert next_cursor(None, []) is None
    assert next_cursor(5, [{"timestamp": 3}]) == 5
    assert next_cursor(5, [{"timestamp": 9}, {"timestamp": None}]) == 9


def test_orders_link_by_exchange_id_then_client_id_else_external() -> None:
    venue = merge_orders(
        [{"id": "1", "clientOrderId": "a"}, {"id": "2", "clientOrderId": "b"}],
        [{"id": "3"}, {"id": "4", "clientOrderId": "d"}, {"id": "1", "status": "closed"}],
    )
    assert [o["id"] for o in venue] == ["1", "2", "3", "4"]
    assert venue[0]["status"] == "closed"  # the later listing wins
    got = plan_orders(venue, {"1": 10}, {"b": 20, "d": 40}, unresolved=frozenset({40}))
    assert [(o["id"], oid) for o, oid in got.linked] == [("1", 10), ("2", 20)]
    assert [o["id"] for o in got.external] == ["3"]
    assert got.skipped == ("4",)


def test_trades_booked_once_in_time_order() -> None:
    trades = [{"id": "t2", "order": "1", "timestamp": 2}, {"id": "t1", "order": "1",
              "timestamp": 1}, {"id": "t2", "order": "1", "timestamp": 2},
              {"id": "t3", "order": "9", "timestamp": 3}, {"id": "t0", "order": "1",
              "timestamp": 0}]  # fmt: skip
    got = plan_trades(trades, frozenset({"t0"}), {"1": 10})
    assert [t["id"] for t, _ in got.book] == ["t1", "t2"]
    assert got.booked == ("t0",)
    assert got.orphans == ("t3",)
    assert unknown_trade_orders(trades, ["1"]) == ["9"]


def test_venue_net_and_verdict() -> None:
    net = venue_net([{"symbol": "X", "contracts": Decimal("2"), "side": "long"},
                     {"symbol": "X", "contracts": Decimal("0.5"), "side": "short"},
                     {"symbol": "Y", "contracts": None}])  # fmt: skip
    assert net == {"X": Decimal("1.5")}
    derivative = frozenset({"X", "Z"})
    assert compare_positions(net, {"X": Decimal("1.5"), "SPOT": Decimal(3)}, derivative) == ()
    (m,) = compare_positions(net, {"X": Decimal(1), "Z": Decimal(1)}, frozenset({"X"}))
    assert m.view() == {"symbol": "X", "venue_qty": "1.5", "books_qty": "1",
                        "difference": "0.5"}
    assert verdict(net, net, {"X": Decimal(1)}, derivative).out_of_sync
    # the venue moved during the run: no verdict (the next run decides)
    moved = verdict(net, {"X": Decimal(2)}, {"X": Decimal(1)}, derivative)
    assert (moved.checked, moved.out_of_sync) == (False, False)
    assert verdict(None, None, {}, derivative).checked is False
    assert freshness(None, 120_000) == "never"
    assert freshness(10_000, 120_000) == "fresh"
    assert freshness(120_001, 120_000) == "stale"


def deal(deal_id: int, position_id: int, side: Side, qty: str, price: str, minutes: int,
         order_id: int, strategy_id: int = 0, reason: str = "api") -> Deal:
    return Deal(deal_id=deal_id, account_id=1, order_id=order_id, position_id=position_id,
                symbol="X", side=side, qty=Decimal(qty), price=Decimal(price), fee=Decimal(0),
                fee_currency=None, pnl=Decimal(0), entry=DealEntry.IN, leg=0,
                contract_size=Decimal(1), strategy_id=strategy_id, reason=reason, comment=None,
                reconciled=reason != "external", exchange_trade_id=f"t{deal_id}",
                executed_at=T0 + timedelta(minutes=minutes), created_at=T0)  # fmt: skip


def test_reassign_moves_external_deal_onto_managed_position_and_replays() -> None:
    long = deal(1, 100, Side.BUY, "0.01", "50000", 0, order_id=1, strategy_id=7)
    ext = deal(2, 200, Side.SELL, "0.004", "51000", 5, order_id=2, reason="external")
    positions = {100: fold([long]), 200: fold([ext])}
    orders = [OrderInfo(2, 0, "X", "external")]
    got = plan(orders, [long, ext], positions, PositionMode.NETTING, 7, None, {"X": positions[100]})
    (moved,) = got.deals
    assert (moved.position_id, moved.strategy_id, moved.reason) == (100, 7, "reassign")
    assert got.affected == (100, 200)
    replayed = replay([long, moved])
    assert replayed[1].entry is DealEntry.OUT
    assert replayed[1].pnl == Decimal("4")
    position = fold(replayed)
    assert (position.qty, position.realized_pnl) == (Decimal("0.006"), Decimal("4"))
    # hedge: the deal stays on its own position, which changes hands
    hedge = plan(orders, [ext], positions, PositionMode.HEDGE, 7, None, {})
    assert hedge.deals[0].position_id == 200


def test_reassign_refuses_attributed_orders_and_crossing_replays() -> None:
    infos = [OrderInfo(1, 3, "X", "api"), OrderInfo(2, 0, "X", "external"),
             OrderInfo(3, 7, "X", "api")]  # fmt: skip
    assert refused_orders(infos, 7, override=False) == (1,)
    assert refused_orders(infos, 7, override=True) == ()
    small = deal(1, 100, Side.BUY, "0.001", "50000", 0, order_id=1)
    big = deal(2, 100, Side.SELL, "0.004", "51000", 5, order_id=2)
    with pytest.raises(ReassignConflict, match="cross zero"):
        replay([small, big])


def test_trade_pages_no_larger_than_the_venue_answers() -> None:
    """Bybit and OKX take at most 100 trades a page (Bybit refuses more): the gateway asks for
    that, so that a full page is told from the last one."""
    assert trade_page_size("ccxtpro.bybit", 500) == 100
    assert trade_page_size("ccxt.okx", 500) == 100
    assert trade_page_size("ccxt.okx", 50) == 50
    assert trade_page_size("ccxt.binance", 500) == 500
    assert trade_page_size("paper", 500) == 500


def test_symbols_a_one_type_list_leaves_out() -> None:
    """CCXT's okx lists its `defaultType` (spot) without a symbol: the swap symbols are asked
    for one by one; a venue without a default type lists everything."""
    types = {"BTC/USDT": "spot", "BTC/USDT:USDT": "swap", "ETH/USDT:USDT": "swap", "X/Y": None}
    assert outside_type("spot", types) == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    assert outside_type("swap", types) == ["BTC/USDT"]
    assert outside_type(None, types) == []
    # binance USDⓈ-M: its "future" API lists the perpetual swaps too
    assert outside_type("future", types) == ["BTC/USDT"]
