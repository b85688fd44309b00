"""Reservation groups of the matching engine: orders (the legs of an order list) of which at
most one executes, so together they hold the largest of their reservations (`ledger.used`), and
the moment one executes (a fill or a trigger) the others end, in the same Outcome."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType

from apps.oms.domain.money import ZERO
from apps.paper.domain.state import CANCELED, GROUP_EXPIRED, PaperOrder, VenueAccount, VenueFill

Event = Callable[[VenueAccount], tuple[VenueAccount, PaperOrder, list[VenueFill]]]


def members(state: VenueAccount, order: PaperOrder) -> tuple[PaperOrder, ...]:
    """The other open orders of `order`'s group (none for an order alone)."""
    if order.reserve_group is None:
        return ()
    return tuple(o for o in state.open_orders.values()
                 if o.reserve_group == order.reserve_group and o.order_id != order.order_id)  # fmt: skip


def in_group(
    state: VenueAccount, order: PaperOrder, now_ms: int, run: Event
) -> tuple[VenueAccount, PaperOrder, list[VenueFill], tuple[PaperOrder, ...]]:
    """Run an event of `order` (placing, matching or filling it) within its group: the event
    runs without the group's other open orders, whose reservation it shares, so it may use all
    of it. If the order executed, the others end (canceled, reason `GROUP_EXPIRED`, nothing
    held) and are returned; else they come back as they were. An order alone: `run(state)`."""
    others = members(state, order)
    if not others:
        return (*run(state), ())
    gone = {o.order_id for o in others}
    alone = replace(state, open_orders=MappingProxyType(
        {k: o for k, o in state.open_orders.items() if k not in gone}))  # fmt: skip
    new_state, new, fills = run(alone)
    if new.filled > 0 or new.triggered:
        ended = tuple(replace(o, status=CANCELED, reserved=ZERO, updated_ms=now_ms,
                              reason=GROUP_EXPIRED) for o in others)  # fmt: skip
        return new_state, new, fills, ended
    if new_state is alone:
        return state, new, fills, ()
    back = {**new_state.open_orders, **{o.order_id: o for o in others}}
    return replace(new_state, open_orders=MappingProxyType(back)), new, fills, ()
