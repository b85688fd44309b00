"""Unit rules of deals, positions, fill allocation and closing (refusals and edge cases)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from apps.oms.domain.book import AccountBook, Fill, Instrument, OrderRef, SequentialIds
from apps.oms.domain.closing import (
    StopMode,
    check_reduce_only,
    close_by,
    merge_positions,
    plan_close,
    release_close,
    reserve_close,
    validate_reduce,
    venue_reduce_only,
)
from apps.oms.domain.enums import DealEntry, PositionMode, PositionState, Reason, Side
from apps.oms.domain.errors import (
    BookError,
    InvalidPositionId,
    InvalidQty,
    InvalidStrategyId,
    InvalidTargets,
    UnsupportedMarket,
)
from apps.oms.domain.fills import apply_fill, preview_target
from apps.oms.domain.positions import apply_deal, fold, open_positions, rebuild, rebuild_all
from books.support import T0, D, Sim

SPOT = Instrument("BTC/USDT")


def test_books_inverse_and_sizeless_markets_are_refused() -> None:
    book = AccountBook(1, PositionMode.NETTING)
    fill = Fill("BTC/USD:BTC", Side.BUY, D(1), D(100), "x", T0)
    for instrument in (Instrument("BTC/USD:BTC", inverse=True, spot=False),
                       Instrument("BTC/USD:BTC", D(0), spot=False)):
        with pytest.raises(UnsupportedMarket) as refused:
            apply_fill(book, fill, OrderRef(1), instrument, SequentialIds(), T0)
        assert refused.value.code == "unsupported_market"


def test_books_bad_fills_are_refused() -> None:
    book = AccountBook(1, PositionMode.NETTING)
    with pytest.raises(InvalidQty):
        apply_fill(book, Fill("BTC/USDT", Side.BUY, D(0), D(1), "x", T0), OrderRef(1), SPOT,
                   SequentialIds(), T0)
    with pytest.raises(BookError):
        apply_fill(book, Fill("ETH/USDT", Side.BUY, D(1), D(1), "x", T0), OrderRef(1), SPOT,
                   SequentialIds(), T0)
    with pytest.raises(InvalidQty):
        Fill("BTC/USDT", Side.BUY, D(1), D(1), "x", T0, D(1), "BTC").booked_qty(SPOT)


def test_books_spot_buy_with_base_fee_books_the_net_base_received() -> None:
    sim = Sim(PositionMode.NETTING, SPOT)
    fill = Fill("BTC/USDT", Side.BUY, D(2), D(100), "b1", T0, D("0.002"), "BTC")
    result = sim.book_fill(fill, OrderRef(5))
    (deal,) = result.deals
    assert (deal.qty, deal.fee, deal.fee_currency, deal.fee_in_quote) == (
        D("1.998"), D("0.002"), "BTC", D("0.2"))
    assert result.positions[0].fee == D("0.2")
    rebate = Fill("BTC/USDT", Side.SELL, D(1), D(110), "b2", T0, D("-0.05"), "USDT")
    result = sim.book_fill(rebate, OrderRef(6))
    assert (result.deals[0].fee, result.positions[0].fee) == (D("-0.05"), D("0.15"))


def test_books_hedge_fill_on_unknown_or_foreign_position_is_refused() -> None:
    sim = Sim(PositionMode.HEDGE)
    with pytest.raises(InvalidPositionId):
        sim.fill("buy", "1", "100", position_id=42)
    pid = sim.fill("buy", "1", "100").order_position_id
    assert pid is not None
    other = Sim(PositionMode.HEDGE, Instrument("ETH/USDT:USDT", spot=False))
    other.book = sim.book
    with pytest.raises(InvalidPositionId):
        other.fill("sell", "1", "100", position_id=pid)


def test_books_hedge_orders_keep_their_position_and_overfill_opens_opposite() -> None:
    sim = Sim(PositionMode.HEDGE)
    first = sim.fill("buy", "1", "100", strategy=3, stop_loss=D(90))
    pid = first.order_position_id
    assert pid == 1
    sim.fill("buy", "1", "110", strategy=3, position_id=pid, stop_gain=D(130))
    assert (sim.pos(1).qty, sim.pos(1).avg_price) == (D(2), D(105))
    assert (sim.pos(1).stop_loss, sim.pos(1).stop_gain) == (D(90), D(130))
    result = sim.fill("sell", "3", "120", strategy=3, position_id=pid, fee="0.3")
    assert [d.leg for d in result.deals] == [0, 1]
    assert [d.fee for d in result.deals] == [D("0.2"), D("0.1")]
    assert result.alerts[0].code == "position_overfill"
    alert = result.alerts[0]
    assert (alert.source_position_id, alert.position_id, alert.qty) == (1, 2, D(1))
    # the text names positions as the caller does (a record transaction: by their real ids)
    assert alert.message().endswith("exceeds position 1 by 1; opened position 2")
    assert alert.message(lambda p: p * 10).endswith("exceeds position 10 by 1; opened position 20")
    new = sim.pos(2)
    assert (new.side, new.qty, new.reason, new.strategy_id) == (Side.SELL, D(1), "overfill", 3)
    late = sim.fill("sell", "1", "121", position_id=pid)  # its position is already closed
    assert late.alerts
    assert late.positions[0].reason == Reason.OVERFILL
    same = sim.fill("buy", "1", "121", position_id=pid)  # closed, same side: a new position
    assert (same.alerts, same.positions[0].reason) == ((), "api")


def test_books_external_fills_get_dedicated_positions_in_netting() -> None:
    sim = Sim(PositionMode.NETTING)
    sim.fill("buy", "1", "100", strategy=1)
    ext = sim.fill("sell", "2", "101", external=True, order_id=77)
    assert ext.positions[0].position_id == 2
    assert ext.positions[0].is_external
    assert (ext.deals[0].strategy_id, ext.deals[0].reconciled) == (0, False)
    assert sim.pos(1).qty == D(1)  # the managed net position is untouched
    close = sim.fill("buy", "3", "99", strategy=1, position_id=2)  # closes the external one
    assert [d.position_id for d in close.deals] == [2, 3]
    assert close.positions[1].reason == Reason.EXTERNAL
    assert close.positions[1].strategy_id == 0


def test_books_netting_reservation_is_consumed_by_close_fills() -> None:
    sim = Sim(PositionMode.NETTING)
    sim.fill("buy", "2", "100")
    sim.book = sim.book.with_positions((reserve_close(sim.pos(1), D("1.5")),))
    sim.fill("sell", "1", "101", reserves_close=True)
    assert (sim.pos(1).pending_close_qty, sim.pos(1).state) == (
        D("0.5"), PositionState.CLOSE_REQUESTED)
    sim.fill("sell", "0.5", "101", reserves_close=True)
    assert (sim.pos(1).pending_close_qty, sim.pos(1).state) == (D(0), PositionState.OPEN)


def test_books_preview_target_reports_what_an_order_would_do() -> None:
    sim = Sim(PositionMode.NETTING)
    symbol = sim.instrument.symbol
    assert preview_target(sim.book, OrderRef(None), symbol, Side.BUY, D(1)).opens_position
    sim.fill("buy", "2", "100")
    reduce = preview_target(sim.book, OrderRef(None), symbol, Side.SELL, D(1))
    assert (reduce.opens_position, reduce.position_qty) == (False, D(2))
    assert preview_target(sim.book, OrderRef(None), symbol, Side.SELL, D(3)).opens_position


def test_books_apply_deal_refuses_deals_that_do_not_fit() -> None:
    sim = Sim(PositionMode.HEDGE)
    sim.fill("buy", "1", "100")
    (deal,) = sim.deals
    position = sim.pos(1)
    with pytest.raises(BookError):
        apply_deal(None, replace(deal, entry=DealEntry.OUT))
    with pytest.raises(BookError):
        apply_deal(None, replace(deal, pnl=D(1)))
    with pytest.raises(BookError):
        apply_deal(position, replace(deal, pnl=D(1)))
    with pytest.raises(BookError):
        apply_deal(position, replace(deal, side=Side.SELL, qty=D(2), entry=DealEntry.OUT))
    with pytest.raises(BookError):
        apply_deal(position, replace(deal, side=Side.SELL, pnl=D(5), entry=DealEntry.OUT))
    with pytest.raises(BookError):
        apply_deal(position, replace(deal, position_id=9))
    with pytest.raises(BookError):
        apply_deal(replace(position, state=PositionState.CLOSED), deal)
    with pytest.raises(BookError):
        apply_deal(position, replace(deal, contract_size=D(2)))
    with pytest.raises(BookError):
        fold([])


def test_books_rebuild_keeps_non_deal_fields_and_rebuild_all_groups() -> None:
    sim = Sim(PositionMode.HEDGE)
    sim.fill("buy", "2", "100", stop_loss=D(80))
    sim.fill("sell", "1", "100")
    stored = reserve_close(sim.pos(1), D(1))
    assert rebuild(stored, [d for d in sim.deals if d.position_id == 1]) == stored
    # a target change after the last deal moves updated_at; the rebuild keeps it (regression:
    # it reset updated_at to the last deal's time, so the cache never equalled the rebuild)
    later = replace(stored, stop_gain=D(150), updated_at=stored.updated_at + timedelta(minutes=1))
    assert rebuild(later, [d for d in sim.deals if d.position_id == 1]) == later
    assert set(rebuild_all(sim.deals)) == {1, 2}
    assert [p.position_id for p in open_positions(sim.book.positions)] == [1, 2]
    assert sim.pos(1).unrealized_pnl(D(110)) == D(20)
    assert sim.pos(1).notional(D(110)) == D(220)


def test_books_plan_close_rules() -> None:
    sim = Sim(PositionMode.STRATEGY_NETTING)
    sim.fill("sell", "2", "100", strategy=4)
    position = sim.pos(1)
    plan = plan_close(position, mode=PositionMode.STRATEGY_NETTING)
    assert (plan.side, plan.qty, plan.strategy_id) == (Side.BUY, D(2), 4)
    with pytest.raises(InvalidStrategyId):
        plan_close(position, strategy_id=5, mode=PositionMode.STRATEGY_NETTING)
    assert plan_close(position, strategy_id=5).strategy_id == 5
    with pytest.raises(InvalidQty):
        plan_close(position, D(0))
    closed = replace(position, state=PositionState.CLOSED)
    with pytest.raises(InvalidPositionId):
        plan_close(closed)
    assert release_close(closed, D(1)) is closed
    reserved = reserve_close(position, D(2))
    assert release_close(reserved, D(1)).state is PositionState.CLOSE_REQUESTED
    assert release_close(reserved, D(5)).pending_close_qty == D(0)


def test_books_reduce_only_checks() -> None:
    sim = Sim(PositionMode.HEDGE)
    sim.fill("buy", "2", "100")
    position = sim.pos(1)
    check_reduce_only(position, Side.SELL, D(2))
    with pytest.raises(InvalidPositionId):
        check_reduce_only(None, Side.SELL, D(1))
    with pytest.raises(InvalidQty):
        validate_reduce(position, Side.BUY, D(1))
    assert venue_reduce_only(False, Side.SELL, D(1), D(2))
    assert not venue_reduce_only(False, Side.SELL, D(3), D(2))
    assert not venue_reduce_only(False, Side.BUY, D(1), D(2))
    assert not venue_reduce_only(False, Side.SELL, D(1), D(0))
    assert not venue_reduce_only(True, Side.SELL, D(1), D(2))


def test_books_close_by_and_merge_refusals() -> None:
    sim = Sim(PositionMode.HEDGE)
    sim.fill("buy", "1", "100")
    sim.fill("buy", "1", "101")
    sim.fill("sell", "1", "102")
    ids = SequentialIds(100, 100)
    p1, p2, p3 = sim.pos(1), sim.pos(2), sim.pos(3)
    with pytest.raises(InvalidPositionId):
        close_by(p1, p1, T0, ids)
    with pytest.raises(InvalidPositionId):
        close_by(p1, p2, T0, ids)
    with pytest.raises(InvalidPositionId):
        close_by(p1, replace(p3, symbol="ETH/USDT:USDT"), T0, ids)
    with pytest.raises(InvalidQty):
        close_by(p1, p3, T0, ids, D(2))
    with pytest.raises(InvalidPositionId):
        merge_positions(p1, p3, T0, ids)


def test_books_merge_moves_reservations_and_handles_stops() -> None:
    sim = Sim(PositionMode.HEDGE)
    sim.fill("buy", "1", "100", stop_loss=D(90))
    sim.fill("buy", "1", "110", stop_loss=D(95))
    source, target = reserve_close(sim.pos(1), D("0.5")), sim.pos(2)
    ids = SequentialIds(10, 10)
    result = merge_positions(source, target, T0, ids, StopMode.KEEP)
    merged, grown = result.positions
    assert (merged.state, merged.pending_close_qty) == (PositionState.MERGED, D(0))
    assert (grown.pending_close_qty, grown.state, grown.stop_loss) == (
        D("0.5"), PositionState.CLOSE_REQUESTED, D(95))
    cleared = merge_positions(sim.pos(1), target, T0, ids, StopMode.CLEAR).positions[1]
    assert (cleared.stop_loss, cleared.state) == (None, PositionState.OPEN)
    new = merge_positions(sim.pos(1), target, T0, ids, StopMode.SET, D(99), D(150)).positions[1]
    assert (new.stop_loss, new.stop_gain) == (D(99), D(150))
    with pytest.raises(InvalidTargets):
        merge_positions(sim.pos(1), target, T0, ids, StopMode.SET, D(150), D(99))


def test_books_sequential_ids_and_deal_keys() -> None:
    ids = SequentialIds()
    assert [ids.next_position_id(), ids.next_position_id(), ids.next_deal_id()] == [1, 2, 1]
    sim = Sim(PositionMode.HEDGE)
    sim.fill("buy", "1", "100")
    sim.fill("sell", "2", "100")
    sim.close_by(1, 2)
    assert sim.deals[0].dedupe_key == ("t1", 0)
    assert sim.deals[-1].dedupe_key is None
    assert Decimal(1) == sim.deals[0].signed_qty
