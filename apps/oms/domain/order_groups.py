"""Contingent order groups the gateway holds: the pure decisions.

Two kinds, both made of orders the gateway holds (`domain/held_orders.py`) so that the choice
between legs is taken in one transaction, never raced on the venue:

- **OCO** (one cancels the others): two or more legs of one symbol, side and qty (a
  stop-loss and a take-profit, say), each held but at most one: a plain limit resting on the
  venue (Binance's OCO: a limit maker and a stop). The first leg that fires or fills takes the
  group: in the firing's transaction the other held legs are disarmed (`may_fire`,
  `siblings_to_disarm`); a leg resting on the venue is cancelled first, and the fired leg's
  child waits for that cancel's outcome (`HeldState.FIRING`), sized to what the resting leg
  did not fill (`rest_after_venue_legs`): the legs' fills never add up to more than the
  group's qty. A fill of the resting leg, partial included, disarms the held legs. Were the
  fills ever to add up to more (a venue that raced them), the group is `overfilled` and an
  alert is raised once.
- **Bracket**: an entry (any order the gateway accepts) and one to three exits (a held
  stop-loss, a held take-profit, a time limit that closes after N seconds: the triple barrier)
  on the other side, reduce-only on the entry's position. The
  exits are created at the entry's first fill, sized to what the entry filled, and resized on
  each further fill while they are armed; they are OCO with each other; the exit that fires
  takes the group and what is left of the entry is cancelled.

- **OTO** (one triggers the others): a parent (the entry) and its children, released when the
  parent is done filling (FILLED, or ended after a partial fill: Binance's OTO rule), sized to
  what it filled; a child on the parent's other side is reduce-only on its position. The
  children are independent of each other (a bracket is the OTO whose children are OCO).

Besides these, **the venue's own OCO** (Binance spot's order list, asked for with `emulation:
venue`): both legs go to the venue in one request and the venue ends the other leg when one
executes; the group follows what the venue reports of its legs (were both ever to fill, it is
`overfilled` as above).

Cancelling any member (the parent included) ends the group whole: its armed members are
disarmed, its working ones cancelled. `decide` is the state machine: a snapshot of the group
and its members in, what to write out; it is re-taken on the locked group row by the worker
that holds the account's lease, so two owners cannot both act on one snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from apps.oms.domain.enums import OrderStatus
from apps.oms.domain.held_orders import HeldState

ZERO = Decimal(0)


class GroupKind(StrEnum):
    OCO = "oco"
    BRACKET = "bracket"
    OTO = "oto"


class GroupState(StrEnum):
    PENDING = "pending"  # a bracket's entry has not filled; an OCO's legs are not all armed
    ACTIVE = "active"  # its legs (its exits) are armed
    TRIGGERED = "triggered"  # a leg (an exit) fired: its child works
    DONE = "done"  # ended with a fill of its winning leg (or with its entry's fills)
    CANCELED = "canceled"  # ended without a fill
    OVERFILLED = "overfilled"  # two legs filled (a venue raced them): alerted once

    @property
    def is_live(self) -> bool:
        return self in (GroupState.PENDING, GroupState.ACTIVE, GroupState.TRIGGERED)


class Role(StrEnum):
    ENTRY = "entry"  # a bracket's entry
    STOP_LOSS = "stop_loss"  # a bracket's exits
    TAKE_PROFIT = "take_profit"
    TIME_LIMIT = "time_limit"  # fires a market close N seconds after the entry's first fill


EXITS = (Role.STOP_LOSS, Role.TAKE_PROFIT, Role.TIME_LIMIT)


def leg_role(index: int) -> str:
    """An OCO leg's role: `leg0` is the order the group was accepted with."""
    return f"leg{index}"


@dataclass(frozen=True, slots=True)
class Member:
    """One member as the store holds it now."""

    order_id: int
    role: str
    status: OrderStatus
    qty: Decimal
    filled_qty: Decimal
    #: its held row's state (None: not held, e.g. a bracket entry the venue executes)
    held: HeldState | None = None

    @property
    def armed(self) -> bool:
        return self.held is HeldState.ARMED and self.status.is_open

    @property
    def fired(self) -> bool:
        """Took the group: it fired (its child was sent or waits to be) or something of it
        filled."""
        return self.held in TOOK or self.filled_qty > 0

    @property
    def resting(self) -> bool:
        """A leg the venue works itself (not held): an OCO's plain limit."""
        return self.held is None and self.role != Role.ENTRY


#: the held states of a member that took its group
TOOK = (HeldState.FIRING, HeldState.FIRED, HeldState.DONE)


@dataclass(frozen=True, slots=True)
class Group:
    group_id: int
    kind: GroupKind
    state: GroupState
    #: the member roles it creates itself: an OCO's other legs, a bracket's exits
    spec_roles: tuple[str, ...] = ()
    cancel_requested: bool = False
    alerted: bool = False
    #: the venue holds it (Binance spot's own OCO): its legs were placed together and the
    #: venue ends the other leg the moment one executes
    venue: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """What to write for a group: members to create (roles, sized `create_qty`), armed exits
    to resize `(order id, qty)`, armed members to disarm, working members to cancel through a
    queued `cancel_order`, the group's new state and whether to raise the overfill alert."""

    state: GroupState
    create: tuple[str, ...] = ()
    create_qty: Decimal = ZERO
    resize: tuple[tuple[int, Decimal], ...] = ()
    disarm: tuple[int, ...] = ()
    cancel: tuple[int, ...] = ()
    alert: bool = False

    def acts(self, group: Group) -> bool:
        return bool(self.create or self.resize or self.disarm or self.cancel or self.alert
                    or self.state is not group.state)  # fmt: skip


def _legs(group: Group, members: Sequence[Member]) -> list[Member]:
    """The members one of which takes the group (none in an OTO: its children are
    independent)."""
    if group.kind is GroupKind.OCO:
        return list(members)
    if group.kind is GroupKind.OTO:
        return []
    return [m for m in members if m.role in EXITS]


def _entry(members: Sequence[Member]) -> Member | None:
    return next((m for m in members if m.role == Role.ENTRY), None)


def _wind_down(members: Sequence[Member], *, keep: int | None = None
               ) -> tuple[tuple[int, ...], tuple[int, ...]]:  # fmt: skip
    """(disarm, cancel) of every open member but `keep`: armed ones are disarmed in the
    transaction, the others (a venue entry, a fired leg whose child works) are cancelled."""
    disarm = tuple(m.order_id for m in members if m.order_id != keep and m.armed)
    cancel = tuple(m.order_id for m in members if m.order_id != keep and m.status.is_open
                   and not m.armed)  # fmt: skip
    return disarm, cancel


def _final(members: Sequence[Member], filled: bool) -> GroupState | None:
    """The end state once nothing is open any more (None: something still works)."""
    if any(m.status.is_open for m in members):
        return None
    return GroupState.DONE if filled else GroupState.CANCELED


def decide(group: Group, members: Sequence[Member], *, position_open: bool = True) -> Plan:
    """The group's next writes. Invariants: a member that fired is never disarmed; at most
    one leg fires (a second one seen is `overfilled`, never hidden); members are created only
    while the group is live, at most once each (the store's unique role); `position_open`:
    whether a bracket entry's position still holds qty (its armed exits are disarmed once it
    does not and the entry ended: no orphaned exit)."""
    if not group.state.is_live and group.state is not GroupState.OVERFILLED:
        return Plan(group.state)
    legs = _legs(group, members)
    # a held leg that fired took the group even if the leg resting on the venue filled a part
    # before its cancel got there (the fired leg's child is sized to the rest)
    winners = sorted((m for m in legs if m.fired), key=lambda m: m.resting)
    if _overfilled(legs) or group.state is GroupState.OVERFILLED:
        disarm, _ = _wind_down(members)
        return Plan(GroupState.OVERFILLED, disarm=disarm, alert=not group.alerted)
    if group.cancel_requested:
        disarm, cancel = _wind_down(members)
        filled = any(m.filled_qty > 0 for m in legs)
        return Plan(_final([m for m in members if m.order_id not in disarm], filled)
                    or group.state, disarm=disarm, cancel=cancel)  # fmt: skip
    if winners:
        return _won(group, members, winners[0])
    if group.kind is GroupKind.OCO:
        return _oco_waiting(group, members)
    if group.kind is GroupKind.OTO:
        return _oto_waiting(group, members)
    return _bracket_waiting(group, members, position_open)


def _overfilled(legs: Sequence[Member]) -> bool:
    """More was filled than the group's qty: two legs filled, adding up to more than a leg's
    qty (the legs of an OCO and the exits of a bracket share one qty)."""
    filled = [m for m in legs if m.filled_qty > 0]
    return len(filled) >= 2 and sum(m.filled_qty for m in filled) > max(m.qty for m in filled)


def rest_after_venue_legs(members: Sequence[Member], order_id: int,
                          venue_filled: Mapping[int, Decimal] | None = None) -> Decimal | None:
    """What a fired held leg may still fill: its qty less what its siblings resting on the
    venue filled, by the books or by the venue's own report (`venue_filled`, by order id:
    a venue reports a cancelled order's fills before its trades are booked); None while one of
    them still works (its cancel has not ended it yet)."""
    me = next(m for m in members if m.order_id == order_id)
    resting = [m for m in members if m.resting and m.order_id != order_id]
    if any(m.status.is_open for m in resting):
        return None
    reported = venue_filled or {}
    filled = sum((max(m.filled_qty, reported.get(m.order_id, ZERO)) for m in resting), ZERO)
    return max(ZERO, me.qty - filled)


def _won(group: Group, members: Sequence[Member], winner: Member) -> Plan:
    """A leg took the group: its siblings are disarmed (a bracket's open entry, an OCO's
    resting leg cancelled); the group follows the winner."""
    others = [m for m in members if m.order_id != winner.order_id]
    ended_elsewhere = winner.held is HeldState.FIRING or group.venue
    # a firing leg's own release cancels the resting legs, then sends its child; the venue's
    # own OCO ends its other leg itself
    disarm, cancel = _wind_down([m for m in others if not (ended_elsewhere and m.resting)])
    if winner.status.is_open:
        return Plan(GroupState.TRIGGERED, disarm=disarm, cancel=cancel)
    filled = any(m.filled_qty > 0 for m in _legs(group, members))
    state = GroupState.DONE if filled else GroupState.CANCELED
    if group.kind is GroupKind.BRACKET and winner.filled_qty == 0:
        state = GroupState.DONE  # the entry's fills stand: the bracket ended with them
    rest = [m for m in others if m.order_id not in disarm]
    return Plan(state if _final(rest, True) is not None else GroupState.TRIGGERED,
                disarm=disarm, cancel=cancel)  # fmt: skip


def _oco_waiting(group: Group, members: Sequence[Member]) -> Plan:
    """No leg fired: a leg that ended on its own (a rejected or expired one) leaves the others
    armed; the group ends when none is open."""
    if group.venue:  # its legs are placed together, then followed as the venue reports them
        if any(m.status is OrderStatus.PENDING_SUBMIT for m in members):
            return Plan(GroupState.PENDING)
        return Plan(_final(members, False) or GroupState.ACTIVE)
    roles = {m.role for m in members}
    missing = tuple(r for r in group.spec_roles if r not in roles)
    first = next((m for m in members if m.role == leg_role(0)), None)
    placed = first is not None and (first.armed or (first.resting and first.status
                                                    is OrderStatus.SUBMITTED))  # fmt: skip
    if missing and first is not None and placed:
        return Plan(GroupState.ACTIVE, create=missing, create_qty=first.qty)
    if missing and first is not None and first.status.is_open:
        return Plan(GroupState.PENDING)  # its first leg is not armed (not on the venue) yet
    end = _final(members, False)
    if end is not None:
        return Plan(end)
    return Plan(GroupState.ACTIVE if not missing else GroupState.PENDING)


def _bracket_waiting(group: Group, members: Sequence[Member], position_open: bool) -> Plan:
    """No exit fired: exits follow what the entry filled."""
    entry = _entry(members)
    if entry is None:
        return Plan(group.state)
    exits = [m for m in members if m.role in EXITS]
    if entry.filled_qty == 0:
        if entry.status.is_open:
            return Plan(GroupState.PENDING)
        disarm, cancel = _wind_down(exits)
        return Plan(GroupState.CANCELED, disarm=disarm, cancel=cancel)
    if not position_open and not entry.status.is_open:
        disarm, _ = _wind_down(exits)  # nothing left to protect: no orphaned exit
        return Plan(GroupState.DONE, disarm=disarm)
    have = {m.role for m in exits}
    create = tuple(r for r in group.spec_roles if r not in have)
    resize = tuple((m.order_id, entry.filled_qty) for m in exits
                   if m.armed and m.qty != entry.filled_qty)  # fmt: skip
    if not create and not any(m.status.is_open for m in exits):
        # its exits ended on their own (a cancel of all orders): the bracket ends whole
        cancel = (entry.order_id,) if entry.status.is_open else ()
        return Plan(GroupState.DONE if not cancel else group.state, cancel=cancel)
    return Plan(GroupState.ACTIVE, create=create,
                create_qty=entry.filled_qty if create else ZERO, resize=resize)


def _oto_waiting(group: Group, members: Sequence[Member]) -> Plan:
    """Children are released once the parent is done filling, sized to what it filled; the
    group ends when they have."""
    entry = _entry(members)
    if entry is None or entry.status.is_open:
        return Plan(GroupState.PENDING if entry is not None else group.state)
    children = [m for m in members if m.role != Role.ENTRY]
    if entry.filled_qty == 0:
        disarm, cancel = _wind_down(children)
        return Plan(GroupState.CANCELED, disarm=disarm, cancel=cancel)
    have = {m.role for m in children}
    create = tuple(r for r in group.spec_roles if r not in have)
    if create:
        return Plan(GroupState.ACTIVE, create=create, create_qty=entry.filled_qty)
    return Plan(_final(children, True) or GroupState.ACTIVE)


def may_fire(group: Group, members: Sequence[Member], order_id: int) -> bool:
    """Whether a held member may fire now: the group is live, not being cancelled, and no
    other leg took it (for a bracket: the entry filled, so the exit exists at all)."""
    if not group.state.is_live or group.cancel_requested:
        return False
    return not any(m.fired for m in _legs(group, members) if m.order_id != order_id)


def siblings_to_disarm(group: Group, members: Sequence[Member], order_id: int
                       ) -> tuple[int, ...]:  # fmt: skip
    """The armed legs a firing member disarms in its own transaction (one cancels the
    others)."""
    return tuple(m.order_id for m in _legs(group, members) if m.order_id != order_id and m.armed)
