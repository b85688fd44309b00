"""`send_order` of an OCO the venue holds (Binance spot's order list, `emulation: venue`): the
same steps as any send (`send.py`), for both legs at once.

1. **Write ahead** (one record transaction under the lease): the order is re-checked; its
   other leg's order row is created from the group's spec (`venue_legs`, once: its role is
   unique); both get their venue-order rows and `outcome_unknown`.
2. **Place** (no transaction open): one request carries both legs
   (`OcoVenuePort.create_oco`). The venue takes both or neither.
3. **Record** (one transaction): both answers are adopted and the command finishes. A refusal
   rejects both legs; an answer that did not come leaves both unknown, and they are looked up
   by client order id, each, never placed again.

From then on the legs are venue orders as any other: the sync follows them, and the group's
step ends the group as the venue ends its legs (the venue expires the other leg the moment
one executes).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import timedelta
from decimal import Decimal

from apps.oms.clock import utcnow
from apps.oms.domain.enums import OrderStatus, Reason
from apps.oms.domain.errors import DomainError
from apps.oms.domain.events import ORDER_ACCEPTED
from apps.oms.domain.order_groups import leg_role
from apps.oms.domain.orders import mark_outcome_unknown, resolve_not_found
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.oms.ports import (
    AnswerWithoutLegs,
    OcoLeg,
    OcoVenuePort,
    SendWindowPassed,
    Structure,
    implements,
)
from apps.oms.service.execution.order_state import state_of, write_order
from apps.oms.service.execution.recheck import recheck
from apps.oms.service.execution.results import adopt, finish, reject
from apps.oms.service.execution.runtime import AccountRuntime, Recorder, epoch_ms
from apps.oms.service.execution.send import (
    NOT_SENT,
    UNKNOWN,
    deadline_of,
    risk_reject,
    venue_code,
)
from apps.oms.service.views import order_view
from apps.oms.store import order_groups as group_store
from apps.oms.store import order_records
from apps.oms.store.order_rows import OrderRow
from apps.oms.store.queue import Claimed
from apps.oms.store.records import CommandPayload

log = logging.getLogger("apps.worker")
NOT_FOUND = "venue has no order with this client order id"


def asks_venue_oco(payload: CommandPayload) -> bool:
    """Whether a `send_order` is an OCO the venue holds (acceptance took `emulation: venue`
    with `oco_orders` only where the venue has an OCO of its own)."""
    return payload.get("emulation") == "venue" and bool(payload.get("oco_orders"))




async def execute_send(rt: AccountRuntime, cmd: Claimed, stop: asyncio.Event) -> None:
    assert cmd.order_id is not None  # noqa: S101 - `send.execute_send` checked it
    step, rows = await _prepare(rt, cmd, cmd.order_id)
    if step == "lookup":
        await _resolve(rt, cmd, rows, stop)
    elif step == "place":
        await _place(rt, cmd, rows, stop)


async def _prepare(rt: AccountRuntime, cmd: Claimed, order_id: int) -> tuple[str, list[OrderRow]]:
    async with rt.record(cmd) as rec:
        row = await rec.rows.order_row(order_id)
        group_id = row.get("group_id")
        grow = None if group_id is None else await group_store.get(rec.conn, int(group_id),
                                                                   lock=True)  # fmt: skip
        if grow is None:
            await finish(rec, cmd, order=await reject(rec, row, "internal_error", "no group"),
                         error_code="internal_error", error_message="no group")  # fmt: skip
            return "done", [row]
        legs = [row, *await _other_legs(rec, int(group_id))]  # type: ignore[arg-type]
        if row["outcome_unknown"]:
            return "lookup", legs
        if row["status"] != OrderStatus.PENDING_SUBMIT:
            await finish(rec, cmd, order=row)
            return "done", legs
        try:
            await recheck(rec, row)
        except DomainError as exc:
            await risk_reject(rec, cmd, row, exc)
            return "done", legs
        if len(legs) == 1:
            legs.append(await _create_other(rec, row, grow["spec"]["venue_legs"][0]))
        written = []
        for leg in legs:
            await order_records.add_venue_order(rec.conn, order_id=int(leg["id"]),
                                                account_id=rt.account_id,
                                                client_order_id=leg["client_order_id"],
                                                now=rec.now)  # fmt: skip
            written.append(await write_order(rec, leg, mark_outcome_unknown(state_of(leg))))
        return "place", written


async def _other_legs(rec: Recorder, group_id: int) -> list[OrderRow]:
    members = await group_store.members_of(rec.conn, [group_id])
    return [await rec.rows.order_row(int(m["order_id"])) for m in members
            if m["role"] != leg_role(0)]  # fmt: skip


async def _create_other(rec: Recorder, first: OrderRow, spec: dict[str, object]) -> OrderRow:
    """The other leg's order: the first leg's symbol, side, qty, strategy and position, its
    own type, price and trigger."""
    group_id = int(first["group_id"])  # type: ignore[arg-type]
    role = str(spec["role"])
    values: dict[str, object] = {
        "account_id": rec.rt.account_id, "symbol": first["symbol"], "side": first["side"],
        "order_type": spec["order_type"], "qty": first["qty"],
        "price": _dec(spec.get("price")), "stop_price": _dec(spec.get("stop_price")),
        "take_profit_price": _dec(spec.get("take_profit_price")), "emulation": "venue",
        "group_id": group_id, "group_kind": first["group_kind"], "group_role": role,
        "reduce_only": False, "strategy_id": first["strategy_id"],
        "position_id": first["position_id"], "reason": first["reason"],
        "comment": first["comment"], "params": {}, "status": OrderStatus.PENDING_SUBMIT.value,
        "is_open": True, "client_order_id": f"g{group_id:x}{role}x{secrets.token_hex(8)}"[:32],
        "created_at": rec.now, "updated_at": rec.now,
    }  # fmt: skip
    order_id = await group_store.add_member_order(rec.conn, group_id, role, values, rec.now)
    if order_id is None:  # created before by a step that rolled back? The role is unique
        raise RuntimeError(f"group {group_id}'s {role} exists but was not read")
    row = await rec.rows.order_row(order_id)
    rec.hold_event(ORDER_ACCEPTED, order_view(row), strategy_id=int(row["strategy_id"]))
    return row


def _dec(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


async def _place(rt: AccountRuntime, cmd: Claimed, legs: list[OrderRow],
                 stop: asyncio.Event) -> None:  # fmt: skip
    first = legs[0]
    venue = rt.venue
    if not implements(venue, OcoVenuePort):
        await _rejected(rt, cmd, legs, "not_supported", "the venue has no OCO of its own")
        return
    pair = tuple(OcoLeg(str(r["client_order_id"]), str(r["order_type"]), r["price"],
                        r["stop_price"] or r["trigger_price"], r["take_profit_price"])
                 for r in legs)  # fmt: skip
    try:
        if epoch_ms(utcnow()) > deadline_of(rt, first["updated_at"]):
            raise SendWindowPassed(NOT_SENT)
        answers = await asyncio.wait_for(venue.create_oco(
            str(first["symbol"]), str(first["side"]), Decimal(first["qty"]),
            (pair[0], pair[1]), str(first["client_order_id"])),
            rt.settings.venue_timeout_seconds)  # fmt: skip
    except SendWindowPassed:
        await _rejected(rt, cmd, legs, "venue_unavailable", NOT_SENT)
        return
    except UNKNOWN:
        await _resolve(rt, cmd, legs, stop)
        return
    except ccxt.BaseError as exc:
        await _rejected(rt, cmd, legs, venue_code(exc), str(exc))
        return
    except AnswerWithoutLegs:  # placed, its answer unreadable: looked up, never sent again
        await _resolve(rt, cmd, legs, stop)
        return
    await _record(rt, cmd, legs, answers, placed=True)


async def _rejected(rt: AccountRuntime, cmd: Claimed, legs: list[OrderRow], code: str,
                    message: str) -> None:  # fmt: skip
    async with rt.record(cmd) as rec:
        rows = [await reject(rec, await rec.rows.order_row(int(leg["id"])), code, message)
                for leg in legs]  # fmt: skip
        await finish(rec, cmd, order=rows[0], error_code=code, error_message=message)


async def _record(rt: AccountRuntime, cmd: Claimed, legs: list[OrderRow],
                  answers: list[Structure], *, placed: bool = False) -> None:  # fmt: skip
    async with rt.record(cmd) as rec:
        rows = [await adopt(rec, await rec.rows.order_row(int(leg["id"])), answer,
                            placed=placed) for leg, answer in zip(legs, answers, strict=True)]
        await finish(rec, cmd, order=rows[0])


async def _resolve(rt: AccountRuntime, cmd: Claimed, legs: list[OrderRow],
                   stop: asyncio.Event) -> None:  # fmt: skip
    """Look each leg up by client order id until both are found (the venue places both or
    neither) or the window passes: with neither found, both are REJECTED (reason
    `outcome_unknown_not_found`); with one found, the list was placed and the venue no longer
    shows the other (ended unfilled and purged): the found leg is recorded and the other
    settled as not found, so that the account's queue goes on and the found leg is followed.
    On shutdown it returns with the command still running: the next lease holder continues
    the lookup."""
    window = timedelta(seconds=rt.settings.unknown_outcome_window_seconds)
    async with rt.store.read() as conn:
        started = await order_records.venue_order_started(conn, legs[0]["client_order_id"])
    deadline = (started or utcnow()) + window
    pause = min(1.0, rt.settings.unknown_outcome_window_seconds / 20)
    found: dict[int, Structure] = {}
    while not stop.is_set():
        answered = True
        for leg in legs:
            if int(leg["id"]) in found:
                continue
            try:
                got = await _lookup(rt, leg)
            except UNKNOWN:
                answered = False
                continue
            if got is not None:
                found[int(leg["id"])] = got
        if len(found) == len(legs):
            await _record(rt, cmd, legs, [found[int(leg["id"])] for leg in legs])
            return
        if answered and utcnow() >= deadline:
            if found:
                log.warning("order list of %s: leg(s) %s not found after the lookup window; "
                            "recording the leg(s) found", legs[0]["client_order_id"],
                            [r["client_order_id"] for r in legs if int(r["id"]) not in found])
            await _not_found(rt, cmd, legs, found)
            return
        await asyncio.sleep(pause)


async def _lookup(rt: AccountRuntime, leg: OrderRow) -> Structure | None:
    try:
        return await asyncio.wait_for(
            rt.venue.fetch_order("", str(leg["symbol"]),
                                 {"clientOrderId": leg["client_order_id"]}),
            rt.settings.venue_timeout_seconds)  # fmt: skip
    except ccxt.OrderNotFound:
        return None


async def _not_found(rt: AccountRuntime, cmd: Claimed, legs: list[OrderRow],
                     found: dict[int, Structure]) -> None:  # fmt: skip
    """Each leg not `found` REJECTED as never seen on the venue, each found one recorded as
    the venue shows it; the command fails unless its own order (the first leg) was found."""
    code = Reason.OUTCOME_UNKNOWN_NOT_FOUND.value
    async with rt.record(cmd) as rec:
        rows = []
        for leg in legs:
            row = await rec.rows.order_row(int(leg["id"]))
            answer = found.get(int(leg["id"]))
            if answer is not None:
                rows.append(await adopt(rec, row, answer))
                continue
            rows.append(await write_order(rec, row, resolve_not_found(state_of(row)),
                                          error_code=code, error_message=NOT_FOUND))
        if int(legs[0]["id"]) in found:
            await finish(rec, cmd, order=rows[0])
        else:
            await finish(rec, cmd, order=rows[0], error_code=code, error_message=NOT_FOUND)
