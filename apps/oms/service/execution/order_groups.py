"""Contingent groups (OCO, bracket) in the worker that owns the account: each step loads the
group and its members, the pure core decides (`domain/order_groups.decide`), and the step
writes the decision in one transaction fenced by the account's lease.

- **OCO**: its first leg is armed by its own `send_order` (`held.arm`), which arms the other
  legs in the same transaction (`on_armed`). When a leg fires, `on_fire` disarms the others in
  the firing's transaction, or disarms the firing leg itself if another took the group first.
- **Bracket**: `check_groups` (each housekeeping round, after the held orders) creates the
  exits at the entry's first fill, armed and sized to what it filled (a time limit armed to
  fire its limit's seconds after that fill), resizes them as it fills
  more, cancels what is left of the entry once an exit fired, and disarms the exits once the
  position they protect is gone.
- Members are created under a unique role per group, cancels are queued under a request id
  unique per group and order (`group:{group}:cancel:{order}`): a step taken twice (a stale
  owner, a takeover) writes nothing twice.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from apps.oms.domain.closing import reserve_close
from apps.oms.domain.enums import OrderStatus, Side
from apps.oms.domain.events import (
    ORDER_ACCEPTED,
    ORDER_CHANGED,
    ORDER_GROUP_CHANGED,
    ORDER_GROUP_OVERFILLED,
    OrderGroupView,
)
from apps.oms.domain.held_orders import HeldState
from apps.oms.domain.money import to_plain
from apps.oms.domain.order_groups import (
    EXITS,
    Group,
    GroupKind,
    GroupState,
    Member,
    Plan,
    Role,
    decide,
    may_fire,
    rest_after_venue_legs,
    siblings_to_disarm,
)
from apps.oms.service.execution.order_state import state_of, write_order
from apps.oms.service.execution.runtime import AccountRuntime, Recorder
from apps.oms.service.views import order_view
from apps.oms.store import books, order_records
from apps.oms.store import held_orders as held_store
from apps.oms.store import order_groups as group_store
from apps.oms.store import positions as position_store
from apps.oms.store.boundary import Connection
from apps.oms.store.order_groups import GroupRow
from apps.oms.store.order_rows import OrderRow
from apps.oms.store.positions import position_from_row

MemberRow = Mapping[str, object]
ZERO = Decimal(0)


def group_of(row: GroupRow) -> Group:
    roles = tuple(str(m["role"]) for m in row["spec"].get("members", []))
    return Group(int(row["id"]), GroupKind(row["kind"]), GroupState(row["state"]), roles,
                 bool(row["cancel_requested"]), bool(row["alerted"]),
                 row["spec"].get("emulation") == "venue")  # fmt: skip


def member_of(row: MemberRow) -> Member:
    held = row.get("held")
    return Member(int(str(row["order_id"])), str(row["role"]), OrderStatus(str(row["status"])),
                  Decimal(str(row["qty"])), Decimal(str(row["filled_qty"])),
                  None if held is None else HeldState(str(held)))  # fmt: skip


def group_view(row: GroupRow, members: Sequence[MemberRow], state: GroupState
               ) -> OrderGroupView:  # fmt: skip
    return {
        "group_id": int(row["id"]), "account_id": int(row["account_id"]),
        "kind": str(row["kind"]), "state": state.value, "symbol": str(row["symbol"]),
        "strategy_id": int(row["strategy_id"]), "parent_order_id": int(row["parent_order_id"]),
        "members": [{"order_id": int(str(m["order_id"])), "role": str(m["role"]),
                     "status": str(m["status"]), "filled_qty": to_plain(Decimal(str(
                         m["filled_qty"])))} for m in members],
    }  # fmt: skip


# --- the round -------------------------------------------------------------------------------


async def check_groups(rt: AccountRuntime) -> int:
    """One round over the account's live groups; how many acted. Decided on the rows as read
    (no transaction when nothing is due), then again on the locked group row."""
    async with rt.store.read() as conn:
        live = await group_store.live_of(conn, rt.account_id)
        if not live:
            return 0
        rows = await group_store.members_of(conn, [int(g["id"]) for g in live])
        due = [g for g in live if _plan(g, rows, await _position_open(conn, g, rows))
               .acts(group_of(g))]  # fmt: skip
    done = 0
    for grow in due:
        async with rt.record() as rec:
            done += await step(rec, int(grow["id"]))
    return done


def _members(group_id: int, rows: Sequence[MemberRow]) -> list[MemberRow]:
    return [r for r in rows if int(str(r["group_id"])) == group_id]


def _plan(grow: GroupRow, rows: Sequence[MemberRow], position_open: bool) -> Plan:
    members = [member_of(r) for r in _members(int(grow["id"]), rows)]
    return decide(group_of(grow), members, position_open=position_open)


async def _position_open(conn: Connection, grow: GroupRow, rows: Sequence[MemberRow]) -> bool:
    """Whether the position a bracket's exits protect still holds qty (True when it has no
    exits yet, or is an OCO: nothing to ask)."""
    exits = [r for r in _members(int(grow["id"]), rows) if r["role"] in EXITS]
    if grow["kind"] != GroupKind.BRACKET or not exits:
        return True
    position_id = int(str(exits[0]["position_id"]))
    row = await position_store.get_position(conn, position_id)
    return row is not None and bool(row["is_open"])


async def step(rec: Recorder, group_id: int) -> int:
    """Decide on the locked group and write the decision; 1 when something was written (a
    decision already carried out, e.g. a cancel queued before and not run yet, writes
    nothing: the account can go idle)."""
    grow = await group_store.get(rec.conn, group_id, lock=True)
    if grow is None:
        return 0
    rows = await group_store.members_of(rec.conn, [group_id])
    plan = _plan(grow, rows, await _position_open(rec.conn, grow, rows))
    if not plan.acts(group_of(grow)):
        return 0
    return int(await _apply(rec, grow, plan))


async def _apply(rec: Recorder, grow: GroupRow, plan: Plan) -> bool:
    wrote = plan.alert or plan.state.value != grow["state"] or bool(plan.resize)
    for order_id in plan.disarm:
        wrote |= await disarm(rec, order_id)
    for order_id in plan.cancel:
        wrote |= await _queue_cancel(rec, int(grow["id"]), order_id)
    for order_id, qty in plan.resize:
        row = await rec.rows.order_row(order_id)
        new = rec.rows.update_order(row, {"qty": qty, "updated_at": rec.now})
        rec.hold_event(ORDER_CHANGED, rec.order_view(new), strategy_id=int(new["strategy_id"]))
    if plan.create:
        wrote |= await _create(rec, grow, plan.create, plan.create_qty)
    if not wrote:
        return False
    await rec.write_held()
    members = await group_store.members_of(rec.conn, [int(grow["id"])])
    changes: dict[str, object] = {"state": plan.state.value, "updated_at": rec.now}
    view = group_view(grow, members, plan.state)
    if plan.alert:
        changes["alerted"] = True
        rec.hold_event(ORDER_GROUP_OVERFILLED, view, strategy_id=int(grow["strategy_id"]))
    await group_store.change(rec.conn, int(grow["id"]), changes)
    rec.hold_event(ORDER_GROUP_CHANGED, view, strategy_id=int(grow["strategy_id"]))
    return True


async def disarm(rec: Recorder, order_id: int) -> bool:
    """An armed member ends CANCELED, its held row `canceled` (it never fires); False if it
    was not armed any more."""
    held = await held_store.of_order(rec.conn, order_id, lock=True)
    if held is None or held["state"] != HeldState.ARMED:
        return False
    await held_store.change(rec.conn, int(held["id"]), {
        "state": HeldState.CANCELED.value, "updated_at": rec.now})
    row = await rec.rows.order_row(order_id)
    if OrderStatus(row["status"]).is_open:
        await write_order(rec, row, replace(state_of(row), status=OrderStatus.CANCELED))
    return True


async def _queue_cancel(rec: Recorder, group_id: int, order_id: int) -> bool:
    account_id = rec.rt.account_id
    request_id = f"group:{group_id}:cancel:{order_id}"
    digest = hashlib.sha256(f"{account_id}:{request_id}".encode()).hexdigest()
    return await group_store.queue_command(rec.conn, account_id, "cancel_order", request_id, digest,
                                    {"order_id": order_id}, rec.now)  # fmt: skip


# --- members the group creates ---------------------------------------------------------------


async def _create(rec: Recorder, grow: GroupRow, roles: Sequence[str], qty: Decimal) -> bool:
    """Create the members `roles` of the group's spec, each sized `qty`: an OCO's legs copy
    its first leg; a bracket's exits and an OTO's children name the entry as their parent and
    the position the entry filled into, reduce-only when on its other side. Members with a
    trigger are armed (held), an OTO's plain children queued to the venue."""
    group_id = int(grow["id"])
    template = await rec.rows.order_row(int(grow["parent_order_id"]))
    position_id = int(template["position_id"])
    oco = grow["kind"] == GroupKind.OCO
    if not oco:
        found = await group_store.filled_position(rec.conn, int(template["id"]))
        if found is None:
            return False  # its fills are not booked yet: the next round creates the members
        position_id = found
    other = Side.SELL.value if template["side"] == Side.BUY.value else Side.BUY.value
    specs = {str(m["role"]): m for m in grow["spec"].get("members", [])}
    for role in roles:
        spec = specs[role]
        side = str(template["side"]) if oco else str(spec.get("side") or other)
        values: dict[str, object] = {
            "account_id": rec.rt.account_id, "symbol": template["symbol"], "side": side,
            "order_type": spec["order_type"], "qty": qty, "price": _dec(spec.get("price")),
            "stop_price": _dec(spec.get("stop_price")),
            "take_profit_price": _dec(spec.get("take_profit_price")),
            "trigger_price_type": template["trigger_price_type"], "emulation": "gateway",
            "parent_order_id": int(template["id"]), "group_id": group_id,
            "group_kind": grow["kind"], "group_role": role,
            "reduce_only": bool(template["reduce_only"]) if oco else side == other,
            "strategy_id": int(template["strategy_id"]), "position_id": position_id,
            "reason": template["reason"], "comment": template["comment"], "params": {},
            "status": OrderStatus.SUBMITTED.value, "is_open": True,
            "client_order_id": f"g{group_id:x}{role.replace('_', '')[:4]}x"
                               f"{secrets.token_hex(8)}"[:32],
            "created_at": rec.now, "updated_at": rec.now, "submitted_at": rec.now,
        }  # fmt: skip
        if role in EXITS:  # a bracket's exit closes as a stop-loss or take-profit does
            values["reason"] = role
        if oco:  # legs are siblings, expiring together
            values.update(parent_order_id=None, expire_at=template["expire_at"],
                          time_in_force=template["time_in_force"])
        if spec.get("after_seconds") is not None:  # a time limit: the clock fires it
            first_fill = await group_store.first_fill_at(rec.conn, int(template["id"]))
            values["fire_at"] = (first_fill or rec.now) + timedelta(
                seconds=int(str(spec["after_seconds"])))
            await _arm_member(rec, group_id, role, values)
        elif values["stop_price"] is None and values["take_profit_price"] is None:
            values["trigger_price_type"] = None  # a plain order: the venue is told no trigger
            await _send_member(rec, group_id, role, values)
        else:
            await _arm_member(rec, group_id, role, values)
    return True


async def _send_member(rec: Recorder, group_id: int, role: str, values: dict[str, object]
                       ) -> None:  # fmt: skip
    """An OTO's plain child: its `send_order` queued (request id `group:{group}:{role}`, once)
    with its PENDING_SUBMIT order, sent by the queue like any order; a reduce-only one
    reserves what it closes on its position, as a close does."""
    position = None
    qty = Decimal(str(values["qty"]))
    if values["reduce_only"]:
        row = await position_store.get_position(rec.conn, int(str(values["position_id"])),
                                                for_update=True)  # fmt: skip
        position = None if row is None or not row["is_open"] else position_from_row(row)
        qty = ZERO if position is None else min(qty, position.available_qty)
    values = {**values, "emulation": "venue", "qty": qty,
              "status": OrderStatus.PENDING_SUBMIT.value, "submitted_at": None}
    if qty <= 0:  # nothing left to reduce: the child ends at once, never sent
        values.update(status=OrderStatus.CANCELED.value, is_open=False, closed_at=rec.now,
                      error_code="nothing_to_reduce")
        await group_store.add_member_order(rec.conn, group_id, role, values, rec.now)
        return
    account_id = rec.rt.account_id
    request_id = f"group:{group_id}:{role}"
    digest = hashlib.sha256(f"{account_id}:{request_id}".encode()).hexdigest()
    payload = {k: _wire(values.get(k)) for k in (
        "symbol", "side", "order_type", "qty", "price", "strategy_id", "position_id", "reason",
        "reduce_only", "client_order_id")}  # fmt: skip
    command_id = await held_store.queue_child(rec.conn, account_id, request_id, digest, payload,
                                              rec.now)  # fmt: skip
    if command_id is None:
        return  # queued before (a step taken twice)
    order_id = await group_store.add_member_order(
        rec.conn, group_id, role, {**values, "command_id": command_id}, rec.now)
    if order_id is None:
        return
    await held_store.link_command(rec.conn, command_id, order_id)
    if position is not None:
        await books.update_position(rec.conn, reserve_close(position, qty))
    written = await order_records.require_order(rec.conn, order_id)
    rec.hold_event(ORDER_ACCEPTED, order_view(written), strategy_id=int(written["strategy_id"]))


def _wire(value: object) -> object:
    return to_plain(value) if isinstance(value, Decimal) else value


async def _arm_member(rec: Recorder, group_id: int, role: str, values: dict[str, object]
                      ) -> None:  # fmt: skip
    from apps.oms.service.execution.held import held_values  # held imports this module

    order_id = await group_store.add_member_order(rec.conn, group_id, role, values, rec.now)
    if order_id is None:
        return  # created before (a step taken twice)
    row = await order_records.require_order(rec.conn, order_id)
    await held_store.arm(rec.conn, held_values(rec, row))
    rec.hold_event(ORDER_ACCEPTED, order_view(row), strategy_id=int(row["strategy_id"]))


def _dec(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


# --- hooks of the held orders ----------------------------------------------------------------


async def _oco_members(conn: Connection, parent: OrderRow) -> list[Member] | None:
    """The members of the OCO `parent` is a leg of (None: it is in no OCO)."""
    group_id = parent.get("group_id")
    if group_id is None or parent.get("group_kind") != GroupKind.OCO:
        return None
    return [member_of(r) for r in await group_store.members_of(conn, [int(group_id)])]


async def resting_legs(conn: Connection, parent: OrderRow) -> list[Member]:
    """The legs of `parent`'s OCO that rest on the venue (none outside an OCO)."""
    members = await _oco_members(conn, parent) or []
    return [m for m in members if m.resting and m.order_id != int(parent["id"])]


async def rest_after_resting_legs(rec: Recorder, parent: OrderRow,
                                  venue_filled: Mapping[int, Decimal]) -> Decimal | None:
    """What a fired leg may still fill: its qty less what its OCO's legs resting on the venue
    filled (`rest_after_venue_legs`); None while one of them still works."""
    members = await _oco_members(rec.conn, parent)
    if members is None:
        return Decimal(parent["qty"])
    return rest_after_venue_legs(members, int(parent["id"]), venue_filled)


async def may_release(rec: Recorder, parent: OrderRow) -> bool:
    """Whether a firing leg may still send its child: its group is live and nobody asked to
    cancel it (the group row locked, as a firing locks it)."""
    group_id = parent.get("group_id")
    if group_id is None:
        return True
    grow = await group_store.get(rec.conn, int(group_id), lock=True)
    return grow is None or (GroupState(grow["state"]).is_live
                            and not bool(grow["cancel_requested"]))  # fmt: skip


async def on_armed(rec: Recorder, row: OrderRow) -> None:
    """An OCO's first leg was armed: the group step arms the other legs in the same
    transaction."""
    if row.get("group_id") is None:
        return
    await rec.write_held()
    await step(rec, int(row["group_id"]))  # type: ignore[arg-type]


async def on_fire(rec: Recorder, row: OrderRow) -> bool:
    """A held member is about to fire: False (and it is disarmed) when another leg took the
    group or the group ends; else its armed siblings are disarmed now, in the firing's
    transaction (one cancels the others)."""
    group_id = row.get("group_id")
    if group_id is None:
        return True
    grow = await group_store.get(rec.conn, int(group_id), lock=True)
    if grow is None:
        return True
    rows = await group_store.members_of(rec.conn, [int(group_id)])
    group, members = group_of(grow), [member_of(r) for r in rows]
    order_id = int(row["id"])
    if any(m.order_id == order_id and m.role == Role.ENTRY for m in members):
        return True  # a held entry fires as any held order: its fills make the exits
    if not may_fire(group, members, order_id):
        await disarm(rec, order_id)
        return False
    if group.kind is GroupKind.OTO:
        return True  # its children are independent of each other
    for sibling in siblings_to_disarm(group, members, order_id):
        await disarm(rec, sibling)
    await group_store.change(rec.conn, int(group_id), {
        "state": GroupState.TRIGGERED.value, "updated_at": rec.now})
    await rec.write_held()
    rows = await group_store.members_of(rec.conn, [int(group_id)])
    rec.hold_event(ORDER_GROUP_CHANGED, group_view(grow, rows, GroupState.TRIGGERED),
                   strategy_id=int(grow["strategy_id"]))
    return True


