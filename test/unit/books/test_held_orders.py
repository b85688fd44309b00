"""The pure decisions of the orders the gateway holds (`domain/held_orders.py`): trailing
trigger moves, activation, crossing, expiry, and the parent following its child; and the
trailing-stop trigger prices against a transcription of NautilusTrader's
`TrailingStopCalculator` (offset types PRICE and BASIS_POINTS, trigger type LAST_PRICE) over
seeded price paths."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.oms.domain.enums import OrderStatus, Reason, Side
from apps.oms.domain.held_orders import (
    Decision,
    Held,
    HeldKind,
    HeldState,
    child_qty,
    crossed,
    fire_request_id,
    follow_child,
    kind_of,
    new_time_limit,
    new_trailing,
    observe,
    refires,
    trailing_trigger,
)
from apps.oms.domain.orders import OrderState

D = Decimal
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def run(held: Held, prices: list[str]) -> tuple[Held, int | None]:
    """Feed prices; (the state after, the index of the price that fired it or None)."""
    for i, p in enumerate(prices):
        step = observe(held, D(p), NOW)
        held = step.held
        if step.decision is Decision.FIRE:
            return held, i
    return held, None


# --- crossing -----------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "side", "trigger", "price", "fires"), [
    (HeldKind.STOP, Side.BUY, "100", "99.99", False),
    (HeldKind.STOP, Side.BUY, "100", "100", True),
    (HeldKind.STOP, Side.BUY, "100", "101", True),
    (HeldKind.STOP, Side.SELL, "100", "100.01", False),
    (HeldKind.STOP, Side.SELL, "100", "100", True),
    (HeldKind.STOP, Side.SELL, "100", "99", True),
    (HeldKind.IF_TOUCHED, Side.BUY, "100", "100.01", False),
    (HeldKind.IF_TOUCHED, Side.BUY, "100", "100", True),
    (HeldKind.IF_TOUCHED, Side.BUY, "100", "99", True),
    (HeldKind.IF_TOUCHED, Side.SELL, "100", "99.99", False),
    (HeldKind.IF_TOUCHED, Side.SELL, "100", "100", True),
    (HeldKind.IF_TOUCHED, Side.SELL, "100", "101", True),
    (HeldKind.TRAILING, Side.SELL, "100", "100", True),
    (HeldKind.TRAILING, Side.BUY, "100", "100", True),
    (HeldKind.TRAILING, Side.BUY, "100", "99", False),
])  # fmt: skip
def test_crossing_by_kind_and_side(kind: HeldKind, side: Side, trigger: str, price: str,
                                   fires: bool) -> None:
    assert crossed(kind, side, D(trigger), D(price)) is fires


def test_a_stop_fires_at_the_first_price_that_crosses_and_only_then() -> None:
    held = Held(HeldKind.STOP, Side.SELL, D(95))
    after, at = run(held, ["100", "97", "95.01", "94", "93"])
    assert at == 3
    assert after.state is HeldState.FIRED
    assert observe(after, D(90), NOW).decision is Decision.NONE  # fired: never again


def test_an_if_touched_buy_fires_when_the_price_falls_to_it() -> None:
    _, at = run(Held(HeldKind.IF_TOUCHED, Side.BUY, D(95)), ["100", "96", "95", "94"])
    assert at == 2


def test_no_price_decides_nothing_but_the_expiry() -> None:
    held = Held(HeldKind.STOP, Side.SELL, D(95), expire_at=NOW + timedelta(seconds=5))
    assert observe(held, None, NOW).decision is Decision.NONE
    step = observe(held, None, NOW + timedelta(seconds=5))
    assert step.decision is Decision.EXPIRE
    assert step.held.state is HeldState.EXPIRED


def test_expiry_wins_over_a_crossing_at_the_same_instant() -> None:
    held = Held(HeldKind.STOP, Side.SELL, D(95), expire_at=NOW)
    assert observe(held, D(90), NOW).decision is Decision.EXPIRE
    assert observe(held, D(90), NOW - timedelta(microseconds=1)).decision is Decision.FIRE


# --- trailing -------------------------------------------------------------------------------


def test_a_sell_trailing_stop_by_amount_follows_the_high_and_fires_on_the_drop() -> None:
    held = new_trailing(Side.SELL, D(5), None)
    step = observe(held, D(100), NOW)
    assert (step.decision, step.held.trigger_price) == (Decision.MOVED, D(95))
    held = step.held
    held = observe(held, D(110), NOW).held
    assert held.trigger_price == D(105)
    step = observe(held, D(106), NOW)  # the trigger never moves back
    assert (step.decision, step.held.trigger_price) == (Decision.NONE, D(105))
    step = observe(held, D(105), NOW)
    assert step.decision is Decision.FIRE
    assert step.held.trigger_price == D(105)


def test_a_buy_trailing_stop_by_percent_follows_the_low() -> None:
    held = new_trailing(Side.BUY, None, D(2))
    held = observe(held, D(100), NOW).held
    assert held.trigger_price == D(102)
    held = observe(held, D(50), NOW).held
    assert held.trigger_price == D(51)
    assert observe(held, D("50.99"), NOW).decision is Decision.NONE
    assert observe(held, D(51), NOW).decision is Decision.FIRE


def test_activation_price_holds_the_trailing_until_reached() -> None:
    held = new_trailing(Side.SELL, D(5), None, activation_price=D(110))
    assert not held.activated
    for p in ("100", "90", "109.99"):  # below activation: no trigger, nothing fires
        step = observe(held, D(p), NOW)
        assert step.decision is Decision.NONE
    step = observe(held, D(110), NOW)
    assert step.decision is Decision.MOVED
    assert (step.held.activated, step.held.trigger_price) == (True, D(105))
    assert observe(step.held, D(104), NOW).decision is Decision.FIRE


def test_a_buy_activates_at_or_below_its_activation_price() -> None:
    held = new_trailing(Side.BUY, D(1), None, activation_price=D(90))
    assert observe(held, D("90.5"), NOW).decision is Decision.NONE
    step = observe(held, D(89), NOW)
    assert (step.held.activated, step.held.trigger_price) == (True, D(90))


def test_the_trigger_is_rounded_to_the_price_increment_half_even() -> None:
    held = new_trailing(Side.SELL, None, D("0.5"), price_increment=D("0.1"))
    assert trailing_trigger(held, D("100.10")) == D("99.6")  # 100.10 - 0.5005 = 99.5995
    held = new_trailing(Side.SELL, D("0.05"), None, price_increment=D("0.1"))
    assert trailing_trigger(held, D("100.10")) == D("100.0")  # 100.05: half to even


def test_a_trailing_stop_needs_exactly_one_distance() -> None:
    with pytest.raises(ValueError, match="one of them"):
        new_trailing(Side.SELL, D(1), D(1))
    with pytest.raises(ValueError, match="one of them"):
        new_trailing(Side.SELL, None, None)


def test_a_time_limit_fires_at_its_time_whatever_the_price() -> None:
    held = new_time_limit(Side.SELL, NOW)
    early = NOW - timedelta(microseconds=1)
    for price in (None, D(0), D(1), D(10**9)):
        assert observe(held, price, early).decision is Decision.NONE
        step = observe(held, price, NOW)
        assert (step.decision, step.held.state) == (Decision.FIRE, HeldState.FIRED)
        assert observe(held, price, NOW + timedelta(days=1)).decision is Decision.FIRE
    assert observe(step.held, D(1), NOW).decision is Decision.NONE  # fired once


def test_a_time_limit_expires_first_when_its_date_comes_first() -> None:
    held = replace(new_time_limit(Side.BUY, NOW), expire_at=NOW - timedelta(seconds=1))
    assert observe(held, None, NOW).decision is Decision.EXPIRE
    assert observe(replace(held, state=HeldState.CANCELED), None, NOW).decision \
        is Decision.NONE


# --- small pieces ---------------------------------------------------------------------------


def test_kind_of_fields() -> None:
    assert kind_of(None, None, None, True) is HeldKind.TRAILING
    assert kind_of(D(1), None, None, False) is HeldKind.STOP
    assert kind_of(None, D(1), None, False) is HeldKind.STOP
    assert kind_of(None, None, D(1), False) is HeldKind.IF_TOUCHED
    assert kind_of(None, None, None, False) is None


def test_one_child_per_firing() -> None:
    assert fire_request_id(42) == "held:42:fire"
    assert fire_request_id(42, 2) == "held:42:fire:2"


NEVER_PLACED = OrderState(D(1), OrderStatus.REJECTED, reason=Reason.OUTCOME_UNKNOWN_NOT_FOUND)


def test_a_child_never_placed_is_sent_again() -> None:
    assert refires(NEVER_PLACED)


@pytest.mark.parametrize("child", [
    replace(NEVER_PLACED, reason=Reason.API),  # the venue refused it: the parent ends so too
    replace(NEVER_PLACED, filled_qty=D("0.1")),  # a late fill: it was placed after all
    replace(NEVER_PLACED, status=OrderStatus.CANCELED),
    replace(NEVER_PLACED, status=OrderStatus.PENDING_SUBMIT, outcome_unknown=True),  # looked up
    replace(NEVER_PLACED, status=OrderStatus.FILLED, filled_qty=D(1)),
])  # fmt: skip
def test_any_other_child_is_followed(child: OrderState) -> None:
    assert not refires(child)


def test_a_reserving_child_is_sized_to_what_is_left() -> None:
    assert child_qty(D(3), False, D(0)) == D(3)
    assert child_qty(D(3), True, D(2)) == D(2)
    assert child_qty(D(3), True, D(5)) == D(3)
    assert child_qty(D(3), True, D(-1)) == D(0)


@pytest.mark.parametrize("status", [OrderStatus.PENDING_SUBMIT, OrderStatus.SUBMITTED])
def test_the_parent_waits_while_its_child_works(status: OrderStatus) -> None:
    parent = OrderState(D(1), OrderStatus.SUBMITTED)
    assert follow_child(parent, OrderState(D(1), status)) == parent


@pytest.mark.parametrize("status", [OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED,
                                    OrderStatus.CANCELED, OrderStatus.REJECTED,
                                    OrderStatus.EXPIRED])
def test_the_parent_shows_its_childs_fills_and_end(status: OrderStatus) -> None:
    parent = OrderState(D(1), OrderStatus.SUBMITTED)
    child = OrderState(D(1), status, filled_qty=D("0.4"), avg_fill_price=D(100))
    new = follow_child(parent, child)
    assert (new.status, new.filled_qty, new.avg_fill_price) == (status, D("0.4"), D(100))
    ended = replace(parent, status=OrderStatus.CANCELED)
    assert follow_child(ended, child) == ended  # a parent that ended stays as it ended


# --- against NautilusTrader's trailing-stop calculation --------------------------------------


def nautilus_trailing(side: Side, offset: Decimal, basis_points: bool, increment: Decimal,
                      lasts: list[Decimal]) -> list[Decimal | None]:
    """NautilusTrader's `TrailingStopCalculator.calculate` with trigger type LAST_PRICE,
    transcribed from `nautilus_trader/execution/trailing.pyx` (1.221): the candidate is
    `last ∓ offset` (BASIS_POINTS: `last × offset / 100 / 100`) as a `Price` of the
    increment's precision, and replaces the trigger only if it improves it (a sell's
    rises, a buy's falls). Returns the trigger after each price."""
    trigger: Decimal | None = None
    out: list[Decimal | None] = []
    for last in lasts:
        distance = last * (offset / 100) / 100 if basis_points else offset
        raw = last + distance if side is Side.BUY else last - distance
        candidate = raw.quantize(increment, rounding=ROUND_HALF_EVEN)
        if trigger is None or (candidate < trigger if side is Side.BUY else candidate > trigger):
            trigger = candidate
        out.append(trigger)
    return out


prices = st.lists(st.integers(min_value=5_000, max_value=15_000), min_size=1, max_size=60)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(prices=prices, side=st.sampled_from([Side.BUY, Side.SELL]),
       amount=st.integers(min_value=1, max_value=500), percent=st.booleans())
def test_trailing_triggers_equal_nautilus_on_price_paths(prices: list[int], side: Side,
                                                         amount: int, percent: bool) -> None:
    increment = D("0.01")
    lasts = [D(p) * increment for p in prices]  # 50.00 .. 150.00
    offset = D(amount) * increment  # 0.01 .. 5.00 (a percent: 0.01 % .. 5 %)
    held = new_trailing(side, None if percent else offset, offset if percent else None,
                        price_increment=increment)
    expected = nautilus_trailing(side, offset * 100 if percent else offset, percent,
                                 increment, lasts)
    for last, want in zip(lasts, expected, strict=True):
        step = observe(held, last, NOW)
        held = step.held
        assert held.trigger_price == want, (last, want)
        # the crossing of the trigger as it stands after this price
        fires = want is not None and crossed(HeldKind.TRAILING, side, want, last)
        assert (step.decision is Decision.FIRE) is fires
        if fires:
            break
