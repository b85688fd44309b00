"""The contingent groups' state machine (`domain/order_groups.py`), pure: named cases, then
every combination of member situations for an OCO of two legs and a bracket, checked against
the invariants the worker relies on (never a fired member disarmed, at most one winner or an
alert, members created only while live and only once, no group ends while a member works)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from decimal import Decimal

import pytest

from apps.oms.domain.enums import OrderStatus
from apps.oms.domain.held_orders import HeldState
from apps.oms.domain.order_groups import (
    Group,
    GroupKind,
    GroupState,
    Member,
    Plan,
    Role,
    decide,
    leg_role,
    may_fire,
    rest_after_venue_legs,
    siblings_to_disarm,
)

Q = Decimal("0.01")
PART = Decimal("0.004")
S = OrderStatus
H = HeldState
#: a held member's situations: (status, filled, held state)
LEG_SITUATIONS = {
    "pending": (S.PENDING_SUBMIT, Decimal(0), None),
    "armed": (S.SUBMITTED, Decimal(0), H.ARMED),
    "fired": (S.SUBMITTED, Decimal(0), H.FIRED),
    "fired_partial": (S.PARTIALLY_FILLED, PART, H.FIRED),
    "filled": (S.FILLED, Q, H.DONE),
    "disarmed": (S.CANCELED, Decimal(0), H.CANCELED),
    "fired_unfilled": (S.CANCELED, Decimal(0), H.DONE),
    "expired": (S.EXPIRED, Decimal(0), H.EXPIRED),
    # crossed, its child waiting for the leg resting on the venue to be cancelled
    "firing": (S.SUBMITTED, Decimal(0), H.FIRING),
    # an OCO's plain limit leg, which the venue works (no held row)
    "resting": (S.SUBMITTED, Decimal(0), None),
    "resting_partial": (S.PARTIALLY_FILLED, PART, None),
    "resting_filled": (S.FILLED, Q, None),
    "resting_canceled": (S.CANCELED, Decimal(0), None),
    "resting_canceled_partial": (S.CANCELED, PART, None),
}
ENTRY_SITUATIONS = {
    "queued": (S.PENDING_SUBMIT, Decimal(0)),
    "resting": (S.SUBMITTED, Decimal(0)),
    "partial": (S.PARTIALLY_FILLED, PART),
    "filled": (S.FILLED, Q),
    "canceled": (S.CANCELED, Decimal(0)),
    "canceled_partial": (S.CANCELED, PART),
    "rejected": (S.REJECTED, Decimal(0)),
}
LIVE = (GroupState.PENDING, GroupState.ACTIVE, GroupState.TRIGGERED)


def leg(order_id: int, role: str, situation: str, qty: Decimal = Q) -> Member:
    status, filled, held = LEG_SITUATIONS[situation]
    return Member(order_id, role, status, qty, filled, held)


def entry(situation: str) -> Member:
    status, filled = ENTRY_SITUATIONS[situation]
    return Member(1, Role.ENTRY, status, Q, filled)


def oco(state: GroupState = GroupState.ACTIVE, **flags: bool) -> Group:
    return Group(7, GroupKind.OCO, state, (leg_role(1),), **flags)


def bracket(state: GroupState = GroupState.ACTIVE, **flags: bool) -> Group:
    return Group(8, GroupKind.BRACKET, state, (Role.STOP_LOSS, Role.TAKE_PROFIT), **flags)


# --- named cases -----------------------------------------------------------------------------


def test_an_oco_arms_its_other_legs_once_its_first_is_armed() -> None:
    assert decide(oco(GroupState.PENDING), [leg(1, "leg0", "pending")]) == Plan(
        GroupState.PENDING)
    assert decide(oco(GroupState.PENDING), [leg(1, "leg0", "armed")]) == Plan(
        GroupState.ACTIVE, create=("leg1",), create_qty=Q)
    assert decide(oco(), [leg(1, "leg0", "armed"), leg(2, "leg1", "armed")]) == Plan(
        GroupState.ACTIVE)


def test_the_first_leg_that_fires_takes_an_oco() -> None:
    members = [leg(1, "leg0", "armed"), leg(2, "leg1", "armed")]
    assert may_fire(oco(), members, 2)
    assert siblings_to_disarm(oco(), members, 2) == (1,)
    fired = [leg(1, "leg0", "armed"), leg(2, "leg1", "fired")]
    assert not may_fire(oco(), fired, 1)
    assert decide(oco(), fired) == Plan(GroupState.TRIGGERED, disarm=(1,))
    done = [leg(1, "leg0", "disarmed"), leg(2, "leg1", "filled")]
    assert decide(oco(GroupState.TRIGGERED), done) == Plan(GroupState.DONE)


def test_a_leg_whose_child_ended_unfilled_ends_the_oco_canceled() -> None:
    members = [leg(1, "leg0", "disarmed"), leg(2, "leg1", "fired_unfilled")]
    assert decide(oco(GroupState.TRIGGERED), members) == Plan(GroupState.CANCELED)


def test_a_leg_that_expires_on_its_own_leaves_the_other_armed() -> None:
    members = [leg(1, "leg0", "expired"), leg(2, "leg1", "armed")]
    assert decide(oco(), members) == Plan(GroupState.ACTIVE)
    assert may_fire(oco(), members, 2)
    members = [leg(1, "leg0", "expired"), leg(2, "leg1", "expired")]
    assert decide(oco(), members) == Plan(GroupState.CANCELED)


def test_two_filled_legs_are_overfilled_and_alerted_once() -> None:
    members = [leg(1, "leg0", "filled"), leg(2, "leg1", "fired_partial")]
    assert decide(oco(GroupState.TRIGGERED), members) == Plan(GroupState.OVERFILLED, alert=True)
    assert decide(oco(GroupState.OVERFILLED, alerted=True), members) == Plan(
        GroupState.OVERFILLED)


def test_a_cancel_ends_an_oco_whole() -> None:
    members = [leg(1, "leg0", "disarmed"), leg(2, "leg1", "armed")]
    assert decide(oco(cancel_requested=True), members) == Plan(GroupState.CANCELED, disarm=(2,))
    assert not may_fire(oco(cancel_requested=True), members, 2)
    working = [leg(1, "leg0", "fired"), leg(2, "leg1", "disarmed")]
    assert decide(oco(GroupState.TRIGGERED, cancel_requested=True), working) == Plan(
        GroupState.TRIGGERED, cancel=(1,))


def venue_oco(state: GroupState = GroupState.ACTIVE, **flags: bool) -> Group:
    """Binance spot's own OCO: both legs on the venue, placed together."""
    return Group(9, GroupKind.OCO, state, (), venue=True, **flags)


#: a leg of the venue's own OCO: the venue works it (no held row)
VENUE_SITUATIONS = {
    "pending": (S.PENDING_SUBMIT, Decimal(0)),
    "rejected": (S.REJECTED, Decimal(0)),
    "open": (S.SUBMITTED, Decimal(0)),
    "partial": (S.PARTIALLY_FILLED, PART),
    "filled": (S.FILLED, Q),
    "expired": (S.EXPIRED, Decimal(0)),
    "expired_partial": (S.EXPIRED, PART),
    "canceled": (S.CANCELED, Decimal(0)),
}


def venue_leg(order_id: int, situation: str) -> Member:
    status, filled = VENUE_SITUATIONS[situation]
    return Member(order_id, leg_role(order_id - 1), status, Q, filled)


def test_the_venues_oco_follows_what_the_venue_reports_of_its_legs() -> None:
    group = venue_oco(GroupState.PENDING)
    # written ahead together, placed in one request
    assert decide(group, [venue_leg(1, "pending")]) == Plan(GroupState.PENDING)
    assert decide(group, [venue_leg(1, "pending"), venue_leg(2, "pending")]) == Plan(
        GroupState.PENDING)
    assert decide(group, [venue_leg(1, "open"), venue_leg(2, "open")]) == Plan(
        GroupState.ACTIVE)
    # a fill takes it; the venue itself expires the other leg: nothing to cancel
    assert decide(venue_oco(), [venue_leg(1, "partial"), venue_leg(2, "open")]) == Plan(
        GroupState.TRIGGERED)
    assert decide(venue_oco(), [venue_leg(1, "open"), venue_leg(2, "filled")]) == Plan(
        GroupState.TRIGGERED)
    assert decide(venue_oco(GroupState.TRIGGERED),
                  [venue_leg(1, "expired"), venue_leg(2, "filled")]) == Plan(GroupState.DONE)
    # refused, or cancelled on the venue: ends without a fill
    assert decide(group, [venue_leg(1, "rejected")]) == Plan(GroupState.CANCELED)
    assert decide(venue_oco(), [venue_leg(1, "canceled"), venue_leg(2, "canceled")]) == Plan(
        GroupState.CANCELED)
    # a cancel of the group cancels what works; a race the venue lost is still marked
    assert decide(venue_oco(cancel_requested=True),
                  [venue_leg(1, "open"), venue_leg(2, "open")]) == Plan(
        GroupState.ACTIVE, cancel=(1, 2))
    assert decide(venue_oco(), [venue_leg(1, "filled"), venue_leg(2, "expired_partial")]
                  ) == Plan(GroupState.OVERFILLED, alert=True)


def test_every_venue_oco_keeps_the_invariants() -> None:
    legs: list[str | None] = [None, *VENUE_SITUATIONS]
    for state, flags, a, b in itertools.product(
            (*LIVE, GroupState.OVERFILLED), FLAGS, VENUE_SITUATIONS, legs):
        group = venue_oco(state, **flags)
        members = [venue_leg(1, a)] + ([] if b is None else [venue_leg(2, b)])
        plan = decide(group, members)
        check_invariants(group, members, plan)
        assert (plan.create, plan.disarm) == ((), ())  # nothing of it is created or held
        if not flags["cancel_requested"]:  # the venue ends the other leg itself
            assert not plan.cancel


def test_a_bracket_waits_for_its_entry_then_sizes_its_exits_to_the_fills() -> None:
    assert decide(bracket(GroupState.PENDING), [entry("resting")]) == Plan(GroupState.PENDING)
    assert decide(bracket(GroupState.PENDING), [entry("partial")]) == Plan(
        GroupState.ACTIVE, create=(Role.STOP_LOSS, Role.TAKE_PROFIT), create_qty=PART)
    armed = [entry("filled"), leg(2, Role.STOP_LOSS, "armed", PART),
             leg(3, Role.TAKE_PROFIT, "armed", PART)]
    assert decide(bracket(), armed) == Plan(GroupState.ACTIVE, resize=((2, Q), (3, Q)))


def test_an_entry_that_ends_unfilled_cancels_its_bracket() -> None:
    for situation in ("canceled", "rejected"):
        assert decide(bracket(GroupState.PENDING), [entry(situation)]) == Plan(
            GroupState.CANCELED)


def test_an_exit_that_fires_cancels_the_rest_of_the_entry_and_disarms_the_other() -> None:
    members = [entry("partial"), leg(2, Role.STOP_LOSS, "fired", PART),
               leg(3, Role.TAKE_PROFIT, "armed", PART)]
    assert decide(bracket(), members) == Plan(GroupState.TRIGGERED, disarm=(3,), cancel=(1,))
    ended = [entry("canceled_partial"), leg(2, Role.STOP_LOSS, "filled", PART),
             leg(3, Role.TAKE_PROFIT, "disarmed", PART)]
    assert decide(bracket(GroupState.TRIGGERED), ended) == Plan(GroupState.DONE)


def test_exits_of_a_closed_position_are_disarmed() -> None:
    members = [entry("filled"), leg(2, Role.STOP_LOSS, "armed"),
               leg(3, Role.TAKE_PROFIT, "armed")]
    assert decide(bracket(), members, position_open=False) == Plan(
        GroupState.DONE, disarm=(2, 3))
    # an entry still working may fill again: its exits stay
    working = [entry("partial"), leg(2, Role.STOP_LOSS, "armed", PART)]
    assert decide(bracket(), working, position_open=False).disarm == ()


def test_a_bracket_exit_can_fire_only_while_no_other_exit_took_it() -> None:
    members = [entry("filled"), leg(2, Role.STOP_LOSS, "armed"),
               leg(3, Role.TAKE_PROFIT, "fired")]
    assert not may_fire(bracket(), members, 2)
    assert may_fire(bracket(), members[:2], 2)  # the entry's own fills do not count


def test_a_time_limit_is_an_exit_like_the_others() -> None:
    """The triple barrier: the time limit is created with the other exits at the entry's first
    fill, sized and resized as they are, and one-cancels-the-others with them."""
    timed = Group(9, GroupKind.BRACKET, GroupState.PENDING,
                  (Role.STOP_LOSS, Role.TAKE_PROFIT, Role.TIME_LIMIT))
    assert decide(timed, [entry("partial")]) == Plan(
        GroupState.ACTIVE, create=(Role.STOP_LOSS, Role.TAKE_PROFIT, Role.TIME_LIMIT),
        create_qty=PART)
    exits = [leg(2, Role.STOP_LOSS, "armed", PART), leg(3, Role.TAKE_PROFIT, "armed", PART),
             leg(4, Role.TIME_LIMIT, "armed", PART)]
    active = replace(timed, state=GroupState.ACTIVE)
    assert decide(active, [entry("filled"), *exits]) == Plan(
        GroupState.ACTIVE, resize=((2, Q), (3, Q), (4, Q)))
    assert may_fire(active, [entry("filled"), *exits], 4)
    assert siblings_to_disarm(active, [entry("filled"), *exits], 4) == (2, 3)
    fired = [entry("filled"), leg(2, Role.STOP_LOSS, "fired"),
             leg(3, Role.TAKE_PROFIT, "disarmed"), leg(4, Role.TIME_LIMIT, "armed")]
    assert not may_fire(active, fired, 4)
    assert decide(active, fired) == Plan(GroupState.TRIGGERED, disarm=(4,))
    alone = Group(10, GroupKind.BRACKET, GroupState.ACTIVE, (Role.TIME_LIMIT,))
    members = [entry("filled"), leg(4, Role.TIME_LIMIT, "armed")]
    assert decide(alone, members, position_open=False) == Plan(GroupState.DONE, disarm=(4,))


def test_an_oco_resting_leg_is_cancelled_before_the_fired_leg_sends_its_child() -> None:
    """Binance's OCO (a limit on the venue, a held stop): the held legs are created once the
    limit rests on the venue; a stop that fires waits for the limit's end and sends the rest."""
    assert decide(oco(GroupState.PENDING), [leg(1, "leg0", "pending")]) == Plan(
        GroupState.PENDING)  # not on the venue yet
    assert decide(oco(GroupState.PENDING), [leg(1, "leg0", "resting")]) == Plan(
        GroupState.ACTIVE, create=("leg1",), create_qty=Q)
    firing = [leg(1, "leg0", "resting"), leg(2, "leg1", "firing")]
    assert decide(oco(), firing) == Plan(GroupState.TRIGGERED)  # its release cancels leg0
    assert rest_after_venue_legs(firing, 2) is None  # the limit still works
    assert not may_fire(oco(), firing, 1)
    raced = [leg(1, "leg0", "resting_partial"), leg(2, "leg1", "firing")]
    assert rest_after_venue_legs(raced, 2) is None
    assert decide(oco(), raced).state is GroupState.TRIGGERED  # the held leg took it
    ended = [leg(1, "leg0", "resting_canceled_partial"), leg(2, "leg1", "firing")]
    assert rest_after_venue_legs(ended, 2) == Q - PART
    assert rest_after_venue_legs([leg(1, "leg0", "resting_canceled"), firing[1]], 2) == Q
    assert rest_after_venue_legs([leg(1, "leg0", "resting_filled"), firing[1]], 2) == 0
    # the venue reports fills of the cancelled limit whose trades are not booked yet
    canceled = [leg(1, "leg0", "resting_canceled"), firing[1]]
    assert rest_after_venue_legs(canceled, 2, {1: PART}) == Q - PART
    assert rest_after_venue_legs(ended, 2, {1: Decimal(0)}) == Q - PART  # the books saw more
    # the rest filled: the legs' fills add up to the qty, no overfill
    done = [leg(1, "leg0", "resting_canceled_partial"),
            Member(2, "leg1", S.FILLED, Q, Q - PART, H.DONE)]
    assert decide(oco(GroupState.TRIGGERED), done) == Plan(GroupState.DONE)
    # the limit filled on the venue first: it takes the group, the stop is disarmed
    took = [leg(1, "leg0", "resting_partial"), leg(2, "leg1", "armed")]
    assert decide(oco(), took) == Plan(GroupState.TRIGGERED, disarm=(2,))
    assert not may_fire(oco(), took, 2)


@pytest.mark.parametrize("state", [GroupState.DONE, GroupState.CANCELED])
def test_an_ended_group_does_nothing(state: GroupState) -> None:
    members = [leg(1, "leg0", "armed"), leg(2, "leg1", "armed")]
    assert decide(oco(state), members) == Plan(state)
    assert not may_fire(oco(state), members, 1)


def oto(state: GroupState = GroupState.PENDING, **flags: bool) -> Group:
    return Group(9, GroupKind.OTO, state, ("child1", "child2"), **flags)


def test_an_oto_releases_its_children_once_the_parent_is_done_filling() -> None:
    assert decide(oto(), [entry("partial")]) == Plan(GroupState.PENDING)
    assert decide(oto(), [entry("canceled_partial")]) == Plan(
        GroupState.ACTIVE, create=("child1", "child2"), create_qty=PART)
    assert decide(oto(), [entry("rejected")]) == Plan(GroupState.CANCELED)
    children = [entry("filled"), leg(2, "child1", "filled"), leg(3, "child2", "armed")]
    assert decide(oto(GroupState.ACTIVE), children) == Plan(GroupState.ACTIVE)
    assert may_fire(oto(GroupState.ACTIVE), children, 3)  # independent of each other
    assert siblings_to_disarm(oto(GroupState.ACTIVE), children, 3) == ()
    ended = [entry("filled"), leg(2, "child1", "filled"), leg(3, "child2", "fired_unfilled")]
    assert decide(oto(GroupState.ACTIVE), ended) == Plan(GroupState.DONE)


def test_every_oto_keeps_the_invariants() -> None:
    kids: list[str | None] = [None, *(s for s in LEG_SITUATIONS if s != "pending")]
    for state, flags, e, a, b in itertools.product(
            (*LIVE, GroupState.OVERFILLED), FLAGS, ENTRY_SITUATIONS, kids, kids):
        group = oto(state, **flags)
        members = [entry(e)]
        for order_id, role, situation in ((2, "child1", a), (3, "child2", b)):
            if situation is not None:
                members.append(leg(order_id, role, situation))
        plan = decide(group, members)
        check_invariants(group, members, plan)
        assert plan.state is not GroupState.OVERFILLED or state is GroupState.OVERFILLED
        if plan.create:  # only once the parent is done filling, sized to its fills
            assert not members[0].status.is_open
            assert plan.create_qty == members[0].filled_qty


# --- every combination -----------------------------------------------------------------------


def check_invariants(group: Group, members: list[Member], plan: Plan) -> None:
    by_id = {m.order_id: m for m in members}
    legs = [m for m in members if group.kind is GroupKind.OCO or m.role != Role.ENTRY]
    if group.kind is GroupKind.OTO:
        legs = []  # its children are independent: none takes the group
    for order_id in plan.disarm:  # only armed members are disarmed, never a fired one
        assert by_id[order_id].armed, (group, members, plan)
    for order_id in plan.cancel:  # only working ones are cancelled
        member = by_id[order_id]
        assert (member.status.is_open, member.armed) == (True, False), (group, members, plan)
    assert not set(plan.disarm) & set(plan.cancel)
    filled_legs = [m for m in legs if m.filled_qty > 0]
    if len(filled_legs) >= 2 and sum(m.filled_qty for m in filled_legs) > Q:
        assert plan.state is GroupState.OVERFILLED
        assert plan.alert is (not group.alerted)
        assert not plan.create
    elif group.state.is_live:
        assert plan.state is not GroupState.OVERFILLED
    if plan.create:  # only while live, only what is missing, never after a winner
        assert (group.state.is_live, group.cancel_requested) == (True, False)
        assert not any(m.fired for m in legs)
        assert not {m.role for m in members} & set(plan.create)
        assert plan.create_qty > 0
    winners = [m for m in legs if m.fired]
    if winners and plan.state is not GroupState.OVERFILLED:
        still = [m for m in legs if m.armed and m.order_id not in plan.disarm
                 and m is not winners[0]]  # fmt: skip
        assert still == [], (group, members, plan)  # one cancels the others
    if plan.state in (GroupState.DONE, GroupState.CANCELED):
        ending = set(plan.disarm)
        assert not [m for m in members if m.status.is_open and m.order_id not in ending
                    and not (group.kind is GroupKind.BRACKET and m.role == Role.ENTRY
                             and m.filled_qty == 0 and not plan.create)
                    and m.order_id not in plan.cancel], (group, members, plan)  # fmt: skip
    for order_id, qty in plan.resize:
        assert by_id[order_id].armed
        assert qty > 0


FLAGS = [dict(zip(("cancel_requested", "alerted"), bits, strict=True))
         for bits in itertools.product((False, True), repeat=2)]


def test_every_oco_of_two_legs_keeps_the_invariants() -> None:
    checked = 0
    for state, flags, a, b in itertools.product(
            (*LIVE, GroupState.OVERFILLED), FLAGS, LEG_SITUATIONS, LEG_SITUATIONS):
        group = oco(state, **flags)
        members = [leg(1, "leg0", a), leg(2, "leg1", b)]
        plan = decide(group, members)
        check_invariants(group, members, plan)
        for member in members:  # a leg may fire only if no other took the group
            if may_fire(group, members, member.order_id):
                assert not any(m.fired for m in members if m is not member)
        checked += 1
    assert checked == 4 * 4 * len(LEG_SITUATIONS) ** 2


def test_every_bracket_keeps_the_invariants() -> None:
    # a bracket's exits are created armed (never pending), held (never resting on the venue)
    exits: list[str | None] = [None, *(s for s in LEG_SITUATIONS if s != "pending"
                                       and not s.startswith("resting"))]
    checked = 0
    for state, flags, e, sl, tp, position_open in itertools.product(
            (*LIVE, GroupState.OVERFILLED), FLAGS, ENTRY_SITUATIONS, exits, exits,
            (True, False)):
        group = bracket(state, **flags)
        members = [entry(e)]
        for order_id, role, situation in ((2, Role.STOP_LOSS, sl), (3, Role.TAKE_PROFIT, tp)):
            if situation is not None:
                members.append(leg(order_id, role, situation))
        plan = decide(group, members, position_open=position_open)
        check_invariants(group, members, plan)
        if plan.create:
            assert plan.create_qty == members[0].filled_qty
        if not position_open and not members[0].status.is_open and plan.state.is_live:
            assert not [m for m in members[1:] if m.armed and m.order_id not in plan.disarm]
        checked += 1
    assert checked == 4 * 4 * len(ENTRY_SITUATIONS) * len(exits) ** 2 * 2
