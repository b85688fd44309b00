"""Hypothesis properties of the books: fold = replay, duplicates are no-ops, quantity and PnL
identities per mode, the order transition table is never left, close-by and merge conserve."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.oms.domain.book import AccountBook, Fill, Instrument, OrderRef, SequentialIds
from apps.oms.domain.enums import OrderStatus, PositionMode, Side
from apps.oms.domain.errors import DomainError, InvalidOrderState
from apps.oms.domain.fills import apply_fill, consults_open_positions
from apps.oms.domain.orders import (
    TRANSITIONS,
    OrderState,
    apply_order_fill,
    apply_venue_status,
    cancel_before_send,
    mark_outcome_unknown,
    new_order,
    resolve_not_found,
)
from apps.oms.domain.positions import apply_deal, fold
from books.invariants import check_all, deals_by_position
from books.support import T0, Sim

FAST = settings(max_examples=120, deadline=None)

qtys = st.integers(1, 400).map(lambda n: Decimal(n) / 100)
prices = st.integers(5_000, 15_000).map(lambda n: Decimal(n) / 100)
fees = st.sampled_from([Decimal(0), Decimal("0.01"), Decimal("0.37")])
sizes = st.sampled_from([Decimal(1), Decimal("0.001"), Decimal(10)])
fill_cmd = st.tuples(st.sampled_from(["buy", "sell"]), qtys, prices, st.integers(0, 2), fees)


def play(mode: PositionMode, cs: Decimal, commands: list[tuple[str, Decimal, Decimal, int, Decimal]],
         hedge_targets: list[int]) -> Sim:
    sim = Sim(mode, Instrument("ETH/USDT:USDT", cs, spot=False))
    for i, (side, qty, price, strategy, fee) in enumerate(commands):
        known = sorted(sim.book.positions)
        target = known[hedge_targets[i] % len(known)] if known and hedge_targets[i] >= 0 else 0
        sim.fill(side, qty, price, strategy=strategy, fee=fee, position_id=target)
    return sim


@FAST
@given(st.sampled_from(list(PositionMode)), sizes, st.lists(fill_cmd, max_size=14),
       st.lists(st.integers(-3, 6), min_size=14, max_size=14), prices)
def test_books_invariants_hold_after_any_fill_sequence(
    mode: PositionMode, cs: Decimal, commands: list[tuple[str, Decimal, Decimal, int, Decimal]],
    targets: list[int], last: Decimal,
) -> None:
    """fold = replay; netting: key position = signed sum of its deals; hedge: Σ positions =
    Σ deals; realised + unrealised = −Σ(signed qty × price × cs) + open qty × last × cs."""
    sim = play(mode, cs, commands, targets)
    check_all(sim, last)
    for pid, deals in deals_by_position(sim.deals).items():
        stepped = None
        for deal in deals:
            stepped = apply_deal(stepped, deal)
        assert stepped == fold(deals)
        assert stepped is not None
        assert stepped.qty == sim.pos(pid).qty


@FAST
@given(st.sampled_from(list(PositionMode)), st.lists(fill_cmd, min_size=1, max_size=10),
       st.data())
def test_books_duplicate_deal_changes_nothing(
    mode: PositionMode, commands: list[tuple[str, Decimal, Decimal, int, Decimal]],
    data: st.DataObject,
) -> None:
    sim = play(mode, Decimal(1), commands, [-1] * len(commands))
    fill, order = data.draw(st.sampled_from(sim.fills))
    before = sim.book
    result = sim.book_fill(fill, order)
    assert result.duplicate
    assert result.deals == ()
    assert sim.book == before
    grouped = deals_by_position(sim.deals)
    pid = data.draw(st.sampled_from(sorted(grouped)))
    deals = grouped[pid]
    again = data.draw(st.sampled_from(deals))
    assert fold([*deals, again]) == fold(deals)


events = st.one_of(
    st.tuples(st.just("fill"), qtys, prices),
    st.tuples(st.just("status"), st.sampled_from(list(OrderStatus)), st.just(Decimal(0))),
    st.tuples(st.sampled_from(["cancel_queued", "unknown", "not_found"]), st.just(Decimal(0)),
              st.just(Decimal(0))),
)


def _step(order: OrderState, kind: str, a: object, b: Decimal) -> OrderState:
    if kind == "fill":
        assert isinstance(a, Decimal)
        return apply_order_fill(order, a, b).order
    if kind == "status":
        assert isinstance(a, OrderStatus)
        return apply_venue_status(order, a)
    action = {"cancel_queued": cancel_before_send, "unknown": mark_outcome_unknown,
              "not_found": resolve_not_found}[kind]
    return action(order)


@settings(max_examples=300, deadline=None)
@given(qtys, st.lists(events, max_size=12))
def test_books_no_event_sequence_leaves_the_transition_table(
    qty: Decimal, sequence: list[tuple[str, object, Decimal]]
) -> None:
    order = new_order(qty)
    for kind, a, b in sequence:
        try:
            after = _step(order, kind, a, b)
        except InvalidOrderState:
            continue
        assert after.status is order.status or after.status in TRANSITIONS[order.status]
        assert after.filled_qty >= order.filled_qty
        if after.filled_qty >= after.qty:
            assert after.status is OrderStatus.FILLED
        order = after


def _total_pnl(sim: Sim, last: Decimal) -> Decimal:
    positions = sim.book.positions.values()
    return sum((p.realized_pnl + (p.unrealized_pnl(last) if p.is_open else 0)
                for p in positions), Decimal(0))


@FAST
@given(qtys, prices, qtys, prices, st.integers(1, 4), prices, sizes)
def test_books_close_by_conserves_quantity_and_total_pnl(
    qa: Decimal, pa: Decimal, qb: Decimal, pb: Decimal, quarters: int, last: Decimal,
    cs: Decimal,
) -> None:
    sim = Sim(PositionMode.HEDGE, Instrument("ETH/USDT:USDT", cs, spot=False))
    a = sim.fill("buy", qa, pa).order_position_id
    b = sim.fill("sell", qb, pb).order_position_id
    assert a is not None
    assert b is not None
    net, pnl = sum(p.signed_qty for p in sim.open()), _total_pnl(sim, last)
    sim.close_by(b, a, min(qa, qb) * quarters / 4)
    assert sum(p.signed_qty for p in sim.open()) == net
    assert abs(_total_pnl(sim, last) - pnl) <= Decimal("1e-15")


@FAST
@given(st.sampled_from(["buy", "sell"]), qtys, prices, qtys, prices, prices, sizes)
def test_books_merge_conserves_quantity_and_total_pnl(
    side: str, qs: Decimal, ps: Decimal, qt: Decimal, pt: Decimal, last: Decimal, cs: Decimal,
) -> None:
    sim = Sim(PositionMode.HEDGE, Instrument("ETH/USDT:USDT", cs, spot=False))
    source = sim.fill(side, qs, ps).order_position_id
    target = sim.fill(side, qt, pt).order_position_id
    assert source is not None
    assert target is not None
    net, pnl = sum(p.signed_qty for p in sim.open()), _total_pnl(sim, last)
    sim.merge(source, target)
    assert [p.position_id for p in sim.open()] == [target]
    assert sim.pos(target).signed_qty == net
    assert abs(_total_pnl(sim, last) - pnl) <= Decimal("1e-12")


@pytest.mark.parametrize("status", list(OrderStatus))
def test_books_every_status_has_a_table_row(status: OrderStatus) -> None:
    assert status in TRANSITIONS


@FAST
@given(st.sampled_from(list(PositionMode)), st.lists(fill_cmd, min_size=1, max_size=14),
       st.lists(st.integers(-3, 6), min_size=14, max_size=14), st.booleans(), fill_cmd,
       st.integers(-1, 6))
def test_books_a_narrowed_book_books_the_same(
    mode: PositionMode, commands: list[tuple[str, Decimal, Decimal, int, Decimal]],
    targets: list[int], external: bool, last: tuple[str, Decimal, Decimal, int, Decimal],
    pick: int,
) -> None:
    """The store loads only the order's position when `consults_open_positions` is false
    (hedge and external orders), every open position of the symbol otherwise: the fill books
    exactly as on the whole book."""
    sim = play(mode, Decimal(1), commands, targets)
    known = sorted(sim.book.positions)
    position_id = known[pick % len(known)] if known and pick >= 0 else 0
    side, qty, price, strategy, fee = last
    order = (OrderRef.for_external(99, position_id) if external
             else OrderRef(99, strategy, position_id))
    keep = {position_id} | (
        {p.position_id for p in sim.book.open_positions(sim.instrument.symbol)}
        if consults_open_positions(mode, order.external) else set()
    )
    narrow = replace(sim.book, positions={k: v for k, v in sim.book.positions.items()
                                          if k in keep})
    fill = Fill(sim.instrument.symbol, Side(side), qty, price, "last", T0, fee, "USDT")

    def book(on: AccountBook) -> tuple[object, ...]:
        try:
            r = apply_fill(on, fill, order, sim.instrument, SequentialIds(1000), T0)
        except DomainError as exc:
            return ("error", type(exc), str(exc))
        return (r.deals, r.positions, r.order_position_id, r.alerts)

    assert book(narrow) == book(sim.book)
