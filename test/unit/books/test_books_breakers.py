"""The loss breakers' pure rules (`domain/breakers.py`): the day's equity from realised PnL and
marks, the loss and drawdown limits at their edges, the day's rollover, a trip that holds until
lifted, a lift that re-arms from the next equity, and what a tripped scope still accepts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.oms.domain.breakers import (
    Breaker,
    BreakerLimits,
    Working,
    assess,
    check_halted,
    check_reduce_only,
    covering,
    equity,
    lifted,
    to_cancel,
)
from apps.oms.domain.enums import PositionState, Side
from apps.oms.domain.errors import RiskBlocked
from apps.oms.domain.positions import Position

DAY = date(2026, 11, 27)
D = Decimal


def position(side: Side, qty: str, avg: str, symbol: str = "BTC/USDT", strategy: int = 0
             ) -> Position:  # fmt: skip
    at = datetime(2026, 11, 27, tzinfo=UTC)
    return Position(1, 1, symbol, strategy, side, D(qty), D(avg), D(0), D(0), D(1),
                    PositionState.OPEN, "api", at, at)  # fmt: skip


def see(limits: BreakerLimits, stored: Breaker | None, value: str, day: date = DAY) -> Breaker:
    return assess(limits, stored, strategy_id=0, day=day, equity_now=D(value))


def test_books_equity_is_realised_plus_unrealised_at_the_marks() -> None:
    held = [position(Side.BUY, "2", "100"), position(Side.SELL, "1", "50", "ETH/USDT")]
    marks = {"BTC/USDT": D(90), "ETH/USDT": D(60)}
    assert equity(D(5), held, marks) == D(5) - D(20) - D(10)
    assert equity(D(5), held, {"BTC/USDT": D(90)}) is None  # no mark: nothing is decided
    assert equity(D(-3), [], {}) == D(-3)


def test_books_the_loss_breaker_trips_at_its_limit_not_before() -> None:
    limits = BreakerLimits(loss=D(100))
    assert not see(limits, None, "-99.999999").tripped
    tripped = see(limits, None, "-100")
    assert (tripped.state, tripped.rule, tripped.limit, tripped.value) == (
        "reduce_only", "loss_breaker", D(100), D(100))
    assert see(BreakerLimits(loss=D(100), action="halted"), None, "-250").state == "halted"


def test_books_the_drawdown_is_measured_from_the_days_peak() -> None:
    limits = BreakerLimits(drawdown=D(50))
    state = see(limits, None, "120")
    assert state.peak == D(120)
    assert not state.tripped
    state = see(limits, state, "80")  # 40 down from the peak, a gain on the day
    assert state.peak == D(120)
    assert not state.tripped
    state = see(limits, state, "70")
    assert (state.rule, state.value) == ("drawdown_breaker", D(50))


def test_books_the_loss_rule_wins_when_both_are_crossed() -> None:
    state = see(BreakerLimits(loss=D(10), drawdown=D(10)), None, "-20")
    assert state.rule == "loss_breaker"


def test_books_a_trip_holds_across_days_until_lifted() -> None:
    limits = BreakerLimits(loss=D(10))
    tripped = see(limits, None, "-10")
    assert see(limits, tripped, "500") == tripped
    assert see(limits, tripped, "500", date(2026, 11, 28)) == tripped


def test_books_a_new_day_starts_at_zero() -> None:
    limits = BreakerLimits(drawdown=D(30))
    yesterday = see(limits, None, "100", date(2026, 11, 26))
    assert yesterday.peak == D(100)
    today = see(limits, yesterday, "80")  # 20 below yesterday's peak, 0 is today's start
    assert (today.day, today.peak, today.baseline, today.tripped) == (DAY, D(80), D(0), False)


def test_books_a_lift_re_arms_from_the_next_equity() -> None:
    limits = BreakerLimits(loss=D(100))
    tripped = see(limits, None, "-150")
    again = lifted(tripped)
    assert (again.state, again.baseline, again.peak, again.rule) == ("armed", None, None, None)
    state = see(limits, again, "-150")
    assert (state.baseline, state.peak, state.tripped) == (D(-150), D(-150), False)
    assert not see(limits, state, "-249").tripped
    assert see(limits, state, "-250").rule == "loss_breaker"


@given(st.lists(st.decimals(min_value=-1000, max_value=1000, places=2), min_size=1, max_size=30),
       st.decimals(min_value=1, max_value=500, places=2))  # fmt: skip
def test_books_the_drawdown_breaker_matches_a_running_peak(values: list[Decimal], limit: Decimal
                                                           ) -> None:  # fmt: skip
    limits = BreakerLimits(drawdown=limit)
    state: Breaker | None = None
    peak = D(0)
    for value in values:
        state = see(limits, state, str(value))
        peak = max(peak, value)
        if peak - value >= limit:
            assert state.tripped
            assert state.value == peak - value
            break
        assert not state.tripped
        assert state.peak == peak


ACCOUNT = Breaker(0, DAY, state="reduce_only", rule="loss_breaker", limit=D(1), value=D(2))
STRATEGY = Breaker(7, DAY, state="halted", rule="drawdown_breaker", limit=D(1), value=D(1))


def test_books_a_tripped_scope_covers_its_commands() -> None:
    assert covering([ACCOUNT], None) is ACCOUNT
    assert covering([STRATEGY], 7) is STRATEGY
    assert covering([STRATEGY], 8) is None
    assert covering([STRATEGY], None) is None
    assert covering([ACCOUNT, STRATEGY], 7) is STRATEGY  # a halt before a reduce-only state
    assert covering([Breaker(0, DAY)], None) is None  # armed


def test_books_reduce_only_refuses_what_opens_and_passes_what_closes() -> None:
    check_reduce_only([ACCOUNT], 0, closing=True)
    with pytest.raises(RiskBlocked) as caught:
        check_reduce_only([ACCOUNT], 0, closing=False)
    assert caught.value.details == {"rule": "loss_breaker", "scope": "account",
                                    "state": "reduce_only", "strategy_id": "0", "limit": "1",
                                    "value": "2"}  # fmt: skip
    check_halted([ACCOUNT], None, "send_order", False, False)  # reduce-only is not a halt


def test_books_a_halted_scope_takes_cancels_and_the_risk_roles_closes() -> None:
    check_halted([STRATEGY], 7, "cancel_order", False, False)
    check_halted([STRATEGY], 7, "cancel_all_orders", False, False)
    check_halted([STRATEGY], 7, "close_position", False, True)
    check_halted([STRATEGY], 7, "send_order", True, True)
    check_halted([STRATEGY], 8, "send_order", False, False)  # another strategy
    for command, reduce_only in (("send_order", False), ("close_position", False),
                                 ("send_order", True), ("change_order", False)):  # fmt: skip
        with pytest.raises(RiskBlocked) as caught:
            check_halted([STRATEGY], 7, command, reduce_only, False)
        assert caught.value.details["rule"] == "drawdown_breaker"
        assert caught.value.details["scope"] == "strategy"


def test_a_tripped_scope_takes_its_opening_orders_off_the_venue_and_keeps_its_exits() -> None:
    tripped_strategy = Breaker(7, DAY, state="reduce_only", rule="loss_breaker")
    working = [Working(1, 7, False), Working(2, 7, True), Working(3, 8, False),
               Working(4, 0, False)]  # fmt: skip
    # a strategy's breaker: its own opening orders only, exits stay, other strategies untouched
    assert to_cancel([tripped_strategy], working) == [1]
    # the account's (halted or reduce-only alike): every opening order of every strategy
    account = Breaker(0, DAY, state="halted", rule="drawdown_breaker")
    assert to_cancel([account, tripped_strategy], working) == [1, 3, 4]
    # armed breakers take nothing off; nothing is named twice and the order is kept
    assert to_cancel([Breaker(0, DAY), Breaker(7, DAY)], working) == []
    assert to_cancel([account], []) == []


@given(st.lists(st.tuples(st.integers(0, 3), st.booleans()), max_size=12),
       st.sets(st.integers(0, 3), max_size=4))  # fmt: skip
def test_to_cancel_names_exactly_the_non_reduce_only_orders_of_tripped_scopes(
    orders: list[tuple[int, bool]], tripped_ids: set[int],
) -> None:
    breakers = [Breaker(s, DAY, state="reduce_only", rule="loss_breaker") for s in tripped_ids]
    working = [Working(i, strategy, reduce) for i, (strategy, reduce) in enumerate(orders)]
    expected = [w.order_id for w in working if not w.reduce_only
                and (0 in tripped_ids or w.strategy_id in tripped_ids)]  # fmt: skip
    assert to_cancel(breakers, working) == expected
