"""The one booking decision (`domain.booking.book_trade`): deals, positions and the order's new
state from one trade, decided together; duplicates change nothing; the reservation rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.oms.domain.book import AccountBook, Fill, Instrument, SequentialIds
from apps.oms.domain.booking import (
    BookedOrder,
    book_order,
    book_trade,
    order_ref,
    reserves_close,
)
from apps.oms.domain.enums import OrderStatus, PositionMode, PositionState, Side
from apps.oms.domain.errors import UnsupportedMarket
from apps.oms.domain.fills import apply_fill
from apps.oms.domain.orders import TRANSITIONS, OrderState, apply_order_fill, apply_venue_status
from apps.oms.domain.positions import Position

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
SYMBOL = "BTC/USDT:USDT"
PERP = Instrument(SYMBOL, spot=False)


def D(value: str | int) -> Decimal:
    return Decimal(str(value))


def fill(side: Side, qty: str, price: str, trade: str = "t1", fee: str = "0",
         currency: str | None = "USDT") -> Fill:
    return Fill(SYMBOL, side, D(qty), D(price), trade, NOW, D(fee), currency)


def order(qty: str = "1", side: Side = Side.BUY, *, position_id: int = 0,
          status: OrderStatus = OrderStatus.SUBMITTED, filled: str = "0",
          reduce_only: bool = False, fee: str = "0", fee_currency: str | None = None,
          stop_loss: Decimal | None = None) -> BookedOrder:
    state = OrderState(qty=D(qty), status=status, filled_qty=D(filled),
                       avg_fill_price=D(100) if D(filled) else None)
    return BookedOrder(order_id=11, strategy_id=3, position_id=position_id, side=side,
                       reduce_only=reduce_only, state=state, fee=D(fee),
                       fee_currency=fee_currency, stop_loss=stop_loss)


def position(pid: int, side: Side, qty: str, *, pending: str = "0") -> Position:
    return Position(pid, 7, SYMBOL, 3, side, D(qty), D(100), D(0), D(0), D(1),
                    PositionState.CLOSE_REQUESTED if D(pending) else PositionState.OPEN, "api",
                    NOW, NOW, pending_close_qty=D(pending))


def book(mode: PositionMode, *positions: Position, booked: frozenset[tuple[str, int]] = frozenset()
         ) -> AccountBook:
    return AccountBook(7, mode, {p.position_id: p for p in positions}, booked)


def test_a_new_position_and_the_order_filled_in_one_decision() -> None:
    ids = SequentialIds(position_id=-5)
    decided = book_trade(book(PositionMode.HEDGE), fill(Side.BUY, "1", "101", fee="0.1"),
                         order(fee="0.2", stop_loss=D(90)), PERP, ids, NOW)
    assert not decided.duplicate
    assert not decided.overfilled
    assert not decided.late
    assert decided.order.status is OrderStatus.FILLED
    assert decided.order.filled_qty == D(1)
    assert decided.order.avg_fill_price == D(101)
    assert decided.position_id == -5  # the id the allocator handed out
    assert decided.fee == D("0.3")
    assert decided.fee_currency == "USDT"
    (opened,) = decided.fill.positions
    assert opened.position_id == -5
    assert opened.qty == D(1)
    assert opened.stop_loss == D(90)
    (deal,) = decided.fill.deals
    assert deal.order_id == 11
    assert deal.position_id == -5
    assert deal.strategy_id == 3


def test_a_partial_fill_keeps_the_position_and_the_fee_currency() -> None:
    held = position(4, Side.BUY, "2")
    decided = book_trade(book(PositionMode.HEDGE, held), fill(Side.BUY, "1", "102", currency=None),
                         order("3", position_id=4, fee_currency="BNB"), PERP,
                         SequentialIds(), NOW)
    assert decided.order.status is OrderStatus.PARTIALLY_FILLED
    assert decided.position_id == 4
    assert decided.fee_currency == "BNB"
    assert decided.fill.positions[0].qty == D(3)


def test_an_overfill_is_flagged() -> None:
    decided = book_trade(book(PositionMode.NETTING), fill(Side.BUY, "2", "100"),
                         order("1.5", status=OrderStatus.PARTIALLY_FILLED, filled="1"), PERP,
                         SequentialIds(), NOW)
    assert decided.overfilled
    assert decided.order.status is OrderStatus.FILLED
    assert decided.order.filled_qty == D(3)


def test_a_late_fill_on_a_canceled_order_is_booked_and_marked_late() -> None:
    decided = book_trade(book(PositionMode.NETTING), fill(Side.SELL, "0.5", "100"),
                         order("1", Side.SELL, status=OrderStatus.CANCELED), PERP,
                         SequentialIds(), NOW)
    assert decided.late
    assert decided.order.status is OrderStatus.CANCELED
    assert decided.fill.deals[0].qty == D("0.5")


def test_a_duplicate_changes_nothing_and_checks_nothing() -> None:
    loaded = order(filled="0.5", status=OrderStatus.PARTIALLY_FILLED, fee="0.1")
    inverse = Instrument(SYMBOL, spot=False, inverse=True)  # would be refused if booked
    decided = book_trade(book(PositionMode.HEDGE, booked=frozenset({("t1", 0)})),
                         fill(Side.BUY, "1", "100"), loaded, inverse, SequentialIds(), NOW)
    assert decided.duplicate
    assert decided.fill.duplicate
    assert not decided.fill.deals
    assert decided.order == loaded.state
    assert decided.fee == D("0.1")
    assert decided.position_id == loaded.position_id
    with pytest.raises(UnsupportedMarket):
        book_trade(book(PositionMode.HEDGE), fill(Side.BUY, "1", "100"), loaded, inverse,
                   SequentialIds(), NOW)


def test_a_reserving_close_uses_up_its_reservation() -> None:
    held = position(4, Side.BUY, "2", pending="1")
    decided = book_trade(book(PositionMode.HEDGE, held), fill(Side.SELL, "1", "110"),
                         order("1", Side.SELL, position_id=4), PERP, SequentialIds(), NOW)
    (after,) = decided.fill.positions
    assert after.qty == D(1)
    assert after.pending_close_qty == D(0)
    assert after.pending_close_qty == D(0)


@pytest.mark.parametrize(("pid", "side", "reduce_only", "held", "mode", "expected"), [
    (4, Side.SELL, False, True, PositionMode.HEDGE, True),
    (4, Side.SELL, True, True, PositionMode.NETTING, True),
    (4, Side.SELL, False, True, PositionMode.NETTING, False),
    (4, Side.BUY, True, True, PositionMode.HEDGE, False),
    (0, Side.SELL, True, True, PositionMode.HEDGE, False),
    (4, Side.SELL, True, False, PositionMode.HEDGE, False),
])
def test_the_reservation_rule(pid: int, side: Side, reduce_only: bool, held: bool,
                              mode: PositionMode, expected: bool) -> None:
    target = position(4, Side.BUY, "2") if held else None
    assert reserves_close(pid, side, reduce_only, target, mode) is expected
    loaded = book(mode, *([target] if target else []))
    got = order_ref(order("1", side, position_id=pid, reduce_only=reduce_only), loaded)
    assert got.reserves_close is expected


qtys = st.integers(1, 300).map(lambda n: Decimal(n) / 100)
prices = st.integers(5_000, 15_000).map(lambda n: Decimal(n) / 100)
fees = st.sampled_from([Decimal(0), Decimal("0.01"), Decimal("-0.02")])
trades = st.lists(st.tuples(st.sampled_from(list(Side)), qtys, prices, fees), min_size=1,
                  max_size=8)


@settings(max_examples=150, deadline=None)
@given(mode=st.sampled_from(list(PositionMode)), qty=qtys, trades=trades,
       start=st.sampled_from([OrderStatus.SUBMITTED, OrderStatus.PENDING_SUBMIT,
                              OrderStatus.CANCELED, OrderStatus.EXPIRED]))
def test_one_decision_equals_the_two_it_replaces(mode: PositionMode, qty: Decimal,
                                                 trades: list[tuple[Side, Decimal, Decimal,
                                                                    Decimal]],
                                                 start: OrderStatus) -> None:
    """Replaying an order's trades: the one decision gives what the fill core and the order
    core give apart; filled qty and fees add up; the order never leaves the table; replaying
    the same trades again changes nothing."""
    loaded = book(mode)
    current = BookedOrder(11, 3, 0, trades[0][0], False, OrderState(qty=qty, status=start))
    seen: list[Fill] = []
    for n, (side, q, price, fee) in enumerate(trades):
        trade = fill(side, str(q), str(price), f"t{n}", str(fee))
        seen.append(trade)
        ids_a, ids_b = SequentialIds(position_id=100 + n), SequentialIds(position_id=100 + n)
        decided = book_trade(loaded, trade, current, PERP, ids_a, NOW)
        apart = apply_fill(loaded, trade, order_ref(current, loaded), PERP, ids_b, NOW)
        alone = apply_order_fill(current.state, q, price)
        assert decided.fill == apart
        assert decided.order == alone.order
        assert decided.overfilled is alone.overfilled
        assert decided.late is alone.late
        assert decided.order.status in TRANSITIONS[current.state.status]
        current = BookedOrder(11, 3, decided.position_id, side, False, decided.order,
                              fee=decided.fee, fee_currency=decided.fee_currency)
        loaded = decided.fill.book
    assert current.state.filled_qty == sum(q for _, q, _, _ in trades)
    assert current.fee == sum(f for _, _, _, f in trades)
    assert decided.overfilled is (current.state.filled_qty > qty)
    if current.state.filled_qty >= qty:
        assert current.state.status is OrderStatus.FILLED
    for trade in seen:
        again = book_trade(loaded, trade, current, PERP, SequentialIds(), NOW)
        assert again.duplicate
        assert again.order == current.state
        assert not again.fill.deals


def test_a_report_without_trades_moves_the_order_by_the_venue_status_alone() -> None:
    queued = order(status=OrderStatus.PENDING_SUBMIT)
    decided = book_order(None, [], queued, OrderStatus.SUBMITTED, None, SequentialIds(), NOW)
    assert decided.trades == ()
    assert decided.order.status is OrderStatus.SUBMITTED
    assert decided.order.outcome_unknown is False


def test_trades_need_a_book() -> None:
    with pytest.raises(ValueError, match="loaded book"):
        book_order(None, [fill(Side.BUY, "1", "100")], order(), None, None, SequentialIds(), NOW)


def test_a_report_books_its_trades_then_the_venue_status() -> None:
    """Two trades filling the order, reported `closed`: both booked on one new position, the
    order filled; the same trade twice in a report is booked once."""
    ids = SequentialIds(position_id=-5, deal_id=-50)
    first, second = fill(Side.BUY, "0.4", "100", "a"), fill(Side.BUY, "0.6", "102", "b")
    decided = book_order(book(PositionMode.HEDGE), [first, second, second], order(),
                         OrderStatus.FILLED, PERP, ids, NOW)
    one, two, repeat = decided.trades
    assert [len(t.fill.deals) for t in decided.trades] == [1, 1, 0]
    assert repeat.duplicate
    assert one.order.status is OrderStatus.PARTIALLY_FILLED
    assert two.order.status is OrderStatus.FILLED
    assert two.position_id == one.position_id == -5
    assert two.fill.positions[0].qty == D("1")
    assert decided.order == two.order


def test_a_report_with_no_status_leaves_the_order_as_the_trades_left_it() -> None:
    decided = book_order(book(PositionMode.NETTING), [fill(Side.BUY, "0.5", "100")], order(),
                         None, PERP, SequentialIds(position_id=-5), NOW)
    assert decided.order == decided.trades[0].order
    assert decided.order.status is OrderStatus.PARTIALLY_FILLED


@settings(max_examples=100, deadline=None)
@given(mode=st.sampled_from(list(PositionMode)), qty=qtys, trades=trades,
       status=st.sampled_from([None, *OrderStatus]))
def test_a_report_equals_its_trades_one_by_one_then_the_status(
        mode: PositionMode, qty: Decimal, trades: list[tuple[Side, Decimal, Decimal, Decimal]],
        status: OrderStatus | None) -> None:
    """`book_order` is `book_trade` over the trades in order, each against the book the one
    before left, then `apply_venue_status` with the outcome known."""
    fills = [fill(side, str(q), str(price), f"t{n}", str(fee))
             for n, (side, q, price, fee) in enumerate(trades)]
    start = BookedOrder(11, 3, 0, trades[0][0], False, OrderState(qty=qty,
                                                                  status=OrderStatus.SUBMITTED))
    decided = book_order(book(mode), fills, start, status, PERP, SequentialIds(position_id=-9),
                         NOW)
    loaded, current, ids = book(mode), start, SequentialIds(position_id=-9)
    for trade, got in zip(fills, decided.trades, strict=True):
        one = book_trade(loaded, trade, current, PERP, ids, NOW)
        assert got == one
        loaded = one.fill.book
        current = BookedOrder(11, 3, one.position_id, trades[0][0], False, one.order,
                              fee=one.fee, fee_currency=one.fee_currency)
    expected = current.state
    if status is not None:
        expected = replace(apply_venue_status(expected, status), outcome_unknown=False)
    assert decided.order == expected
