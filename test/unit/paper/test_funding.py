"""Funding of perpetuals (pure core): when a funding time falls, what the one-way paper wallet
pays or receives, and the books' cash deals per position, which the fold adds to realised PnL
without touching quantity or average."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from apps.oms.domain.book import SequentialIds
from apps.oms.domain.enums import DealEntry, PositionState, Side
from apps.oms.domain.funding import funding_deals, funding_trade_id, last_funding_ms, payment
from apps.oms.domain.positions import Position, fold
from apps.paper.domain.funding import apply_funding
from apps.paper.domain.matching import Venue
from apps.paper.domain.state import VenuePosition, new_account

D = Decimal
PERP, ETH_PERP, BTC = "BTC/USDT:USDT", "ETH/USDT:USDT", "BTC/USDT"
EIGHT_HOURS_MS = 28_800_000
T = 1_763_798_400_000  # a multiple of 8 h
NOW = datetime(2026, 11, 22, tzinfo=UTC)


def test_funding_times_are_multiples_of_the_interval() -> None:
    assert last_funding_ms(T, 28800) == T
    assert last_funding_ms(T + 1, 28800) == T
    assert last_funding_ms(T - 1, 28800) == T - EIGHT_HOURS_MS
    assert last_funding_ms(T + 5, 0) is None  # off


def test_a_long_pays_a_positive_rate_and_a_short_receives_it() -> None:
    assert payment(D("0.5"), D(1), D("50000"), D("0.0001")) == D("-2.5")
    assert payment(D("-0.5"), D(1), D("50000"), D("0.0001")) == D("2.5")
    assert payment(D("0.5"), D(1), D("50000"), D("-0.0001")) == D("2.5")  # negative rate
    assert payment(D("3"), D("0.01"), D("1234.5"), D("0.000125")) == D("-0.00462937500")


def test_the_venue_wallet_moves_by_each_swap_position_only() -> None:
    state = replace(new_account(1), positions={
        PERP: VenuePosition(PERP, qty=D("0.2"), entry_price=D("49000")),
        ETH_PERP: VenuePosition(ETH_PERP, qty=D("-1"), entry_price=D("3000")),
        "SOL/USDT:USDT": VenuePosition("SOL/USDT:USDT"),  # flat: nothing
    })  # fmt: skip
    marks = {PERP: D("50000"), ETH_PERP: D("3100"), "SOL/USDT:USDT": D("150"), BTC: D("50000")}
    rates = {PERP: D("0.0001"), ETH_PERP: D("-0.0002"), "SOL/USDT:USDT": D("0.0001"),
             BTC: D("0.0001")}  # fmt: skip
    outcome, paid, _ = apply_funding(state, Venue(), T, marks, rates)
    assert [(p.symbol, p.amount) for p in paid] == [(PERP, D("-1")), (ETH_PERP, D("-0.62"))]
    assert outcome.state.total("USDT") == state.total("USDT") - D("1.62")
    assert outcome.state.positions == state.positions  # exposure and entries unchanged
    assert outcome.orders == ()
    assert outcome.fills == ()


def test_nothing_moves_without_a_swap_position() -> None:
    state = new_account(1)
    outcome, paid, _ = apply_funding(state, Venue(), T, {PERP: D(1)}, {PERP: D("0.01")})
    assert paid == ()
    assert outcome.state == replace(state, last_funding=outcome.state.last_funding)
    assert outcome.state.balances == state.balances


def test_a_funding_time_is_charged_once_and_answers_with_its_marks() -> None:
    state = replace(new_account(1), positions={
        PERP: VenuePosition(PERP, qty=D("0.2"), entry_price=D("49000"))})
    rates = {PERP: D("0.0001")}
    charged, paid, marks = apply_funding(state, Venue(), T, {PERP: D("50000")}, rates)
    assert [p.amount for p in paid] == [D("-1")]
    assert marks == {PERP: D("50000")}
    # asked again at another mark (the price moved): nothing charged, the first marks kept
    again, paid_again, marks_again = apply_funding(charged.state, Venue(), T,
                                                   {PERP: D("60000")}, rates)  # fmt: skip
    assert (paid_again, marks_again) == ((), {PERP: D("50000")})
    assert again.state == charged.state
    # an earlier funding time is not charged, and answers with no marks
    earlier, paid_earlier, marks_earlier = apply_funding(charged.state, Venue(), T - 1,
                                                         {PERP: D("50000")}, rates)  # fmt: skip
    assert (paid_earlier, dict(marks_earlier)) == ((), {})
    assert earlier.state == charged.state
    # a later one is
    later, paid_later, _ = apply_funding(charged.state, Venue(), T + 1, {PERP: D("50000")}, rates)
    assert [p.amount for p in paid_later] == [D("-1")]
    assert later.state.total("USDT") == charged.state.total("USDT") - D(1)


def position(pid: int, side: Side, qty: str, avg: str = "49000") -> Position:
    return Position(pid, 7, PERP, 3, side, D(qty), D(avg), D("1.5"), D("0.2"), D(1),
                    PositionState.OPEN, "api", NOW, NOW)  # fmt: skip


def test_a_cash_deal_per_open_position_folds_into_realised_pnl() -> None:
    long, short = position(11, Side.BUY, "0.3"), position(12, Side.SELL, "0.1")
    closed = replace(position(13, Side.BUY, "0"), state=PositionState.CLOSED)
    deals, after = funding_deals([short, long, closed], T, D("50000"), D("0.0001"),
                                 SequentialIds(), NOW)  # fmt: skip
    assert [(d.position_id, d.pnl) for d in deals] == [(11, D("-1.5")), (12, D("0.5"))]
    for deal in deals:
        assert (deal.qty, deal.fee, deal.entry, deal.reason) == (D(0), D(0), DealEntry.OUT,
                                                                 "funding")  # fmt: skip
        assert deal.exchange_trade_id == funding_trade_id(T, deal.position_id)
        assert deal.order_id is None
        assert deal.strategy_id == 3
    assert deals[0].side is Side.SELL  # opposite the position, like any deal that realises
    by_id = {p.position_id: p for p in after}
    assert by_id[11] == replace(long, realized_pnl=D("0"), updated_at=NOW)
    assert by_id[12] == replace(short, realized_pnl=D("2.0"), updated_at=NOW)


@given(qty=st.decimals(min_value=D("0.001"), max_value=D(100), places=3),
       mark=st.decimals(min_value=D("0.1"), max_value=D(100000), places=1),
       rate=st.decimals(min_value=D("-0.01"), max_value=D("0.01"), places=6),
       side=st.sampled_from([Side.BUY, Side.SELL]))  # fmt: skip
def test_funding_never_changes_exposure_and_the_fold_agrees(
    qty: Decimal, mark: Decimal, rate: Decimal, side: Side
) -> None:
    held = position(21, side, str(qty))
    deals, after = funding_deals([held], T, mark, rate, SequentialIds(), NOW)
    if not deals:
        assert rate.is_zero()
        return
    (deal,) = deals
    (moved,) = after
    assert (moved.qty, moved.avg_price, moved.side, moved.state) == (held.qty, held.avg_price,
                                                                     side, held.state)  # fmt: skip
    assert moved.realized_pnl == held.realized_pnl + deal.pnl
    assert deal.pnl == payment(held.signed_qty, D(1), mark, rate)
    assert (deal.pnl < 0) == ((rate > 0) == (side is Side.BUY))  # who pays
    opening = replace(deal, deal_id=1, qty=held.qty, side=side, pnl=D(0), entry=DealEntry.IN,
                      price=held.avg_price, exchange_trade_id="t1", reason="api")  # fmt: skip
    rebuilt = fold([opening, replace(deal, deal_id=2)])
    assert rebuilt.qty == held.qty
    assert rebuilt.realized_pnl == deal.pnl
