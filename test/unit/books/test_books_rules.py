"""Order lifecycle, targets, risk rules, statistics and money helpers."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from apps.oms.domain import money
from apps.oms.domain.enums import OrderStatus, PositionMode, Side, TriggerKind
from apps.oms.domain.errors import InvalidOrderState, InvalidQty, InvalidTargets, RiskBlocked
from apps.oms.domain.orders import (
    apply_order_fill,
    apply_venue_status,
    can_transition,
    cancel_before_send,
    check_cancellable,
    mark_outcome_unknown,
    new_order,
    resolve_not_found,
    transition,
)
from apps.oms.domain.risk import (
    OrderIntent,
    RiskLimits,
    RiskScope,
    check_order,
    daily_realized_pnl,
    violations,
)
from apps.oms.domain.stats import compute_stats
from apps.oms.domain.targets import (
    change_targets,
    trigger,
    trigger_request_id,
    validate_targets,
)
from books.support import D, Sim

S = OrderStatus


def test_books_order_lifecycle_and_fills_always_win() -> None:
    order = new_order(D(2))
    assert order.status is S.PENDING_SUBMIT
    order = apply_venue_status(order, S.SUBMITTED)
    first = apply_order_fill(order, D(1), D(100))
    assert (first.order.status, first.order.filled_qty, first.late) == (
        S.PARTIALLY_FILLED, D(1), False)
    stale = apply_venue_status(first.order, S.SUBMITTED, D("1.5"))
    assert stale.status is S.PARTIALLY_FILLED
    assert (stale.venue_filled_qty, stale.unbooked_qty, stale.filled_qty) == (D("1.5"), D("0.5"), 1)
    assert apply_venue_status(stale, S.PARTIALLY_FILLED, D(1)).venue_filled_qty == D("1.5")
    canceled = apply_venue_status(first.order, S.CANCELED)
    assert canceled.status is S.CANCELED
    late = apply_order_fill(canceled, D("0.5"), D(110))
    assert (late.order.status, late.late) == (S.CANCELED, True)
    done = apply_order_fill(late.order, D("0.5"), D(110))
    assert (done.order.status, done.order.avg_fill_price) == (S.FILLED, D(105))
    over = apply_order_fill(done.order, D(1), D(120))
    assert (over.order.status, over.overfilled, over.order.filled_qty) == (S.FILLED, True, D(3))
    assert over.order.remaining_qty == D(0)
    assert apply_venue_status(over.order, S.FILLED) == over.order
    # FILLED at the venue, its trades not booked yet: open until they are (the sync polls open
    # orders only; a CCXT client takes "closed" with nothing filled for a cancel)
    reported = apply_venue_status(new_order(D(2)), S.FILLED, D(2))
    assert (reported.status, reported.filled_qty, reported.unbooked_qty) == (S.SUBMITTED, 0, D(2))
    booked = apply_order_fill(reported, D(1), D(100)).order
    assert (booked.status, booked.unbooked_qty) == (S.PARTIALLY_FILLED, D(1))
    assert apply_venue_status(booked, S.FILLED, D(2)).status is S.PARTIALLY_FILLED
    booked = apply_order_fill(booked, D(1), D(100)).order
    assert (booked.status, booked.unbooked_qty) == (S.FILLED, D(0))
    assert apply_venue_status(booked, S.FILLED, D(2)) == booked


def test_books_order_refusals_and_unknown_outcome() -> None:
    with pytest.raises(InvalidQty):
        new_order(D(0))
    order = new_order(D(1))
    with pytest.raises(InvalidQty):
        apply_order_fill(order, D(0), D(1))
    unknown = mark_outcome_unknown(order)
    assert unknown.outcome_unknown
    rejected = resolve_not_found(unknown)
    assert (rejected.status, rejected.reason, rejected.outcome_unknown) == (
        S.REJECTED, "outcome_unknown_not_found", False)
    revived = apply_order_fill(rejected, D("0.4"), D(10))
    assert (revived.order.status, revived.late) == (S.PARTIALLY_FILLED, True)
    with pytest.raises(InvalidOrderState):
        resolve_not_found(order)
    with pytest.raises(InvalidOrderState):
        mark_outcome_unknown(revived.order)
    with pytest.raises(InvalidOrderState):
        cancel_before_send(revived.order)
    assert cancel_before_send(order).status is S.CANCELED
    check_cancellable(order)
    with pytest.raises(InvalidOrderState) as refused:
        check_cancellable(cancel_before_send(order))
    assert refused.value.code == "invalid_order_state"
    with pytest.raises(InvalidOrderState):
        transition(S.FILLED, S.CANCELED)
    assert not can_transition(S.CANCELED, S.FILLED)
    assert can_transition(S.CANCELED, S.FILLED, by_fill=True)
    assert S.SUBMITTED.is_open
    assert not S.EXPIRED.is_open


def test_books_target_validation() -> None:
    validate_targets(Side.BUY, D(90), D(110), D(100))
    validate_targets(Side.SELL, D(110), D(90), D(100))
    validate_targets(Side.BUY, None, None, None)
    bad = [
        (Side.BUY, D(0), None, None),
        (Side.BUY, D(110), D(90), None),
        (Side.BUY, D(100), None, D(100)),
        (Side.BUY, None, D(99), D(100)),
        (Side.SELL, D(99), None, D(100)),
        (Side.SELL, None, D(101), D(100)),
    ]
    for side, stop, gain, ref in bad:
        with pytest.raises(InvalidTargets) as refused:
            validate_targets(side, stop, gain, ref)
        assert refused.value.code == "validation_error"


def test_books_trigger_long_on_bid_short_on_ask() -> None:
    sim = Sim(PositionMode.HEDGE)
    sim.fill("buy", "1", "100", stop_loss=D(95), stop_gain=D(110))
    sim.fill("sell", "1", "100", stop_loss=D(105), stop_gain=D(90))
    long, short = sim.pos(1), sim.pos(2)
    assert trigger(long, D(95), D(999)) is TriggerKind.STOP_LOSS
    assert trigger(long, D(110), D(0)) is TriggerKind.TAKE_PROFIT
    assert trigger(long, D(100), D(200)) is None
    assert trigger(long, None, D(1)) is None
    assert trigger(short, D(0), D(105)) is TriggerKind.STOP_LOSS
    assert trigger(short, D(999), D(90)) is TriggerKind.TAKE_PROFIT
    assert trigger(short, D(1), D(100)) is None
    assert trigger(replace(long, qty=D(0)), D(1), None) is None
    assert trigger_request_id(7, TriggerKind.STOP_LOSS, 2) == "trg:7:stop_loss:2"
    changed = change_targets(long, stop_gain=None)
    assert (changed.stop_loss, changed.stop_gain) == (D(95), None)
    assert change_targets(long, stop_loss=D(97)).stop_gain == D(110)
    with pytest.raises(InvalidTargets):
        change_targets(long, stop_loss=D(120), reference_price=D(100))


def _intent(**kw: object) -> OrderIntent:
    base: dict[str, object] = {"symbol": "BTC/USDT", "side": Side.BUY, "qty": D(2)}
    base.update(kw)
    return OrderIntent(**base)  # type: ignore[arg-type]


def _rules(intent: OrderIntent, *scopes: RiskScope, **kw: object) -> list[str]:
    return [rule for rule, _ in violations(intent, scopes, **kw)]  # type: ignore[arg-type]


def test_books_risk_rules_each_have_a_stable_name() -> None:
    account = RiskScope("account", RiskLimits())
    assert _rules(_intent(), account) == []
    cases = [
        (RiskLimits(symbol_allowlist=("ETH/USDT",)), {}, "symbol_not_allowed"),
        (RiskLimits(daily_loss_limit=D(100)), {"daily_realized_pnl": D(-100)}, "daily_loss_limit"),
        (RiskLimits(max_order_qty=D(1)), {}, "max_order_qty"),
        (RiskLimits(max_open_orders_per_symbol=3), {"open_orders_in_symbol": 3},
         "max_open_orders_per_symbol"),
        (RiskLimits(max_open_positions=2), {"open_positions": 2}, "max_open_positions"),
        (RiskLimits(max_open_positions_per_symbol=1), {"open_positions_in_symbol": 1},
         "max_open_positions_per_symbol"),
        (RiskLimits(min_order_notional=D(300)), {}, "min_order_notional"),
        (RiskLimits(max_order_notional=D(100)), {}, "max_order_notional"),
        (RiskLimits(max_position_notional=D(500)), {"position_qty": D(4)}, "max_position_notional"),
    ]
    for limits, counters, rule in cases:
        scope = RiskScope("account", limits, **counters)  # type: ignore[arg-type]
        assert _rules(_intent(price=D(100)), scope) == [rule]
        with pytest.raises(RiskBlocked) as blocked:
            check_order(_intent(price=D(100)), [scope])
        assert (blocked.value.code, blocked.value.rule, blocked.value.details["rule"]) == (
            "risk_blocked", rule, rule)
    assert _rules(_intent(), RiskScope("account", RiskLimits(max_order_notional=D(1)))) == [
        "no_reference_price"]
    notional = RiskScope("account", RiskLimits(max_order_notional=D(300)))
    assert _rules(_intent(), notional, quote_price=D(100)) == []
    assert _rules(_intent(opens_position=False),
                  RiskScope("account", RiskLimits(max_open_positions=0))) == []


def test_books_risk_limits_that_check_nothing() -> None:
    """A scope whose limits check nothing needs no counters; `max_commands_per_minute` is no
    pre-trade rule, and an empty allowlist is a rule (it refuses every symbol)."""
    assert RiskLimits().checks_nothing
    assert RiskLimits(max_commands_per_minute=10).checks_nothing
    assert not RiskLimits(symbol_allowlist=()).checks_nothing
    assert not RiskLimits(daily_loss_limit=D(1)).checks_nothing
    empty = RiskScope("account", RiskLimits(symbol_allowlist=()))
    assert _rules(_intent(), empty) == ["symbol_not_allowed"]


def test_books_risk_blocked_account_new_positions_and_reduce_only() -> None:
    closed_account = RiskScope("account", RiskLimits(max_order_qty=D(1)), allow_new_positions=False)
    closed_strategy = RiskScope("strategy", RiskLimits(), allow_new_positions=False)
    assert _rules(_intent(), closed_account, closed_strategy, account_blocked=True) == [
        "account_blocked", "new_positions_not_allowed", "max_order_qty",
        "strategy_new_positions_not_allowed"]
    reduce = _intent(reduce_only=True)
    assert _rules(reduce, closed_account, closed_strategy) == []
    assert _rules(reduce, closed_account, account_blocked=True) == ["account_blocked"]
    privileged = _intent(reduce_only=True, privileged_close=True)
    assert _rules(privileged, closed_account, account_blocked=True) == []
    check_order(reduce, [closed_account])
    with pytest.raises(RiskBlocked) as blocked:
        check_order(_intent(), [closed_account, closed_strategy])
    assert blocked.value.scope == "account"


def test_books_statistics() -> None:
    sim = Sim(PositionMode.HEDGE)
    sim.fill("buy", "1", "100", fee="0.1")
    sim.fill("sell", "1", "110", position_id=1, fee="0.1")  # +10
    sim.fill("buy", "1", "100")
    sim.fill("sell", "1", "96", position_id=2)  # −4
    sim.fill("buy", "2", "100")
    sim.fill("sell", "1", "90", position_id=3)  # −10 realised, still open
    sim.deals[-1] = replace(sim.deals[-1], reason="stop_loss")
    stats = compute_stats(sim.book.positions.values(), sim.deals)
    assert (stats.total_positions, stats.open_positions, stats.closed_positions) == (3, 1, 2)
    assert (stats.winning_trades, stats.losing_trades, stats.win_rate) == (1, 1, D("0.5"))
    assert (stats.total_pnl, stats.average_pnl, stats.average_win, stats.average_loss) == (
        D(-4), D(3), D(10), D(-4))
    assert (stats.fees, stats.stop_loss_count, stats.take_profit_count) == (D("0.2"), 1, 0)
    empty = compute_stats([], [])
    assert (empty.win_rate, empty.average_pnl, empty.total_pnl) == (None, None, D(0))


def test_books_money_helpers() -> None:
    assert money.to_plain(D("1E-18")) == "0.000000000000000001"
    assert money.to_plain(D("1.500")) == "1.5"
    assert money.to_plain(D("1E+3")) == "1000"
    assert money.to_plain(D("0.000")) == "0"
    assert money.to_plain(D("-2.50")) == "-2.5"
    assert money.parse_decimal("12.5") == D("12.5")
    assert money.parse_decimal(3) == 3
    with pytest.raises(money.DecimalFormatError):  # 21 fractional digits, zeros or not
        money.parse_decimal(D("1.000000000000000000000"))
    for bad in ("1_0", " 1", "abc", "NaN", "Infinity", "0.0000000000000000001", "1" * 19):
        with pytest.raises(money.DecimalFormatError):
            money.parse_decimal(bad)
    with money.money_context() as ctx:
        assert ctx.prec == 60
    assert money.quantize(D("0.0000000000000000005")) == 0
    assert Decimal("1.5") == money.quantize(D("1.5"))


def test_books_daily_realized_pnl_counts_one_utc_day() -> None:
    sim = Sim(PositionMode.HEDGE)
    sim.fill("buy", "1", "100")
    sim.fill("sell", "1", "90", position_id=1)
    day = sim.deals[-1].executed_at.date()
    assert daily_realized_pnl(sim.deals, day) == D(-10)
    assert daily_realized_pnl(sim.deals, day.replace(day=day.day + 1)) == D(0)
