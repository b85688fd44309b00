"""`POST /oms/commands`: validate each item, accept it, optionally wait for execution, and build
the `{"results": [...]}` body with 200 / 207 / first-failure status exactly as api.md says."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from pydantic import ValidationError

from apps.oms.config import Settings
from apps.oms.errors import ErrorBody, OmsError, ValidationFailed
from apps.oms.security.principal import Principal
from apps.oms.service import accept_changes, accept_orders
from apps.oms.service.acceptance import (
    DOMAIN_STATUS,
    Accepted,
    BatchShare,
    Handler,
    HeldKeyLost,
    accept,
    accept_in,
    counts_rate,
    preload_accounts,
    write_held,
)
from apps.oms.service.command_models import CommandEnvelope, Payload, parse_payload
from apps.oms.store import commands as command_store
from apps.oms.store import outbox
from apps.oms.store.boundary import IntegrityError, OperationalError, savepoint
from apps.oms.store.store import Store

MAX_BATCH = 500
HANDLERS: dict[str, Handler] = {
    "send_order": accept_orders.accept_send_order,
    "close_position": accept_orders.accept_close_position,
    "cancel_order": accept_changes.accept_cancel_order,
    "cancel_all_orders": accept_changes.accept_cancel_all_orders,
    "change_order": accept_changes.accept_change_order,
    "close_by": accept_changes.accept_close_by,
    "merge_positions": accept_changes.accept_merge_positions,
    "position_change": accept_changes.accept_position_change,
}
# wait=completed: HTTP status of a command that failed in the worker, by its error code
EXECUTION_STATUS = {
    **DOMAIN_STATUS,
    "venue_rejected": 422,
    "insufficient_funds": 422,
    "exchange_error": 502,
    "venue_error": 502,
    "exchange_unavailable": 503,
    "venue_unavailable": 503,
    "order_outcome_unknown": 504,
    "outcome_unknown_not_found": 504,
    "internal_error": 500,
}



class CommandItem(TypedDict):
    """One command's outcome, as `POST /oms/commands` answers it (`results` items)."""

    index: int
    ok: bool
    command_id: int | None
    order_id: int | None
    status: str | None
    error: ErrorBody | None
    shadow: NotRequired[bool]  # shadow mode: recorded, nothing sent (docs/signals.md)


class Results(TypedDict):
    results: list[CommandItem]

@dataclass
class Item:
    index: int
    ok: bool
    command_id: int | None
    order_id: int | None
    status: str | None
    error: ErrorBody | None
    http_status: int = 200
    account_id: int | None = None  # set when a command was stored
    shadow: bool = False

    def wire(self) -> CommandItem:
        body: CommandItem = {
            "index": self.index,
            "ok": self.ok,
            "command_id": self.command_id,
            "order_id": self.order_id,
            "status": self.status,
            "error": self.error,
        }
        if self.shadow:  # shadow mode: recorded, nothing sent (docs/signals.md)
            body["shadow"] = True
        return body


def _validation_item(
    index: int, exc: ValidationError, at: str, prefix: tuple[str, ...] = ()
) -> Item:
    """A 422 item whose message says where in the body: `body[1].payload.qty: …` for an item of
    a list, `payload.qty: …` (or `body: …`) for a single command."""
    errors = [
        {"loc": [*prefix, *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()
    ]
    parts = ([at] if at else []) + ([str(p) for p in errors[0]["loc"]] if errors else [])
    where = ".".join(parts) or "body"
    error: ErrorBody = {
        "code": "validation_error",
        "message": f"{where}: {errors[0]['msg']}" if errors else "invalid",
        "details": {"errors": errors},
    }
    return Item(index, False, None, None, None, error, 422)


def _parse(index: int, raw: Any, at: str = "") -> tuple[CommandEnvelope, Payload] | Item:
    """The envelope and payload of one command; `at` names it in messages (`body[3]`)."""
    try:
        envelope = CommandEnvelope.model_validate(raw)
    except ValidationError as exc:
        return _validation_item(index, exc, at)
    try:
        payload = parse_payload(envelope.command, envelope.payload)
    except ValidationError as exc:
        return _validation_item(index, exc, at, ("payload",))
    return envelope, payload


def _refused(index: int, exc: OmsError) -> Item:
    error: ErrorBody = {"code": exc.code, "message": exc.message, "details": exc.details}
    return Item(index, False, None, None, None, error, exc.status)


def _accepted(index: int, envelope: CommandEnvelope, accepted: Accepted) -> Item:
    ok = accepted.status != "failed"
    code = "" if accepted.error is None else accepted.error["code"]
    status = 200 if ok else EXECUTION_STATUS.get(code, 409)
    return Item(
        index,
        ok,
        accepted.command_id,
        accepted.order_id,
        accepted.status,
        accepted.error,
        status,
        envelope.account_id,
        accepted.shadow,
    )


async def _alone(
    store: Store, principal: Principal, index: int, envelope: CommandEnvelope, payload: Payload
) -> Item:
    try:
        accepted: Accepted = await accept(store, principal, envelope, payload, HANDLERS)
    except OmsError as exc:
        return _refused(index, exc)
    return _accepted(index, envelope, accepted)


async def _one(store: Store, principal: Principal, index: int, raw: Any, at: str) -> Item:
    parsed = _parse(index, raw, at)
    if isinstance(parsed, Item):
        return parsed
    return await _alone(store, principal, index, *parsed)


async def _batch(store: Store, principal: Principal, raw_items: list[Any]) -> list[Item]:
    """Several commands in one transaction: a refused command leaves no trace and the others
    stand; account and risk-limit rows are read once, the accepted sends are written together
    (one multi-row insert each for their commands and orders: `acceptance.write_held`), the
    outbox rows of every accepted command go in one statement, and the batch pays one commit.
    A command that lost an idempotency key to a concurrent duplicate is accepted again after
    the batch, in a transaction of its own, which finds that duplicate and answers with its
    result."""
    parsed = [_parse(i, raw, f"body[{i}]") for i, raw in enumerate(raw_items)]
    try:
        return await _in_one_transaction(store, principal, parsed)
    except (OperationalError, HeldKeyLost) as exc:
        if isinstance(exc, OperationalError) and not _lock_conflict(exc):
            raise  # e.g. a lost connection: its commit may have happened, so nothing is redone
        # a deadlock or lock wait (two lists locking the same positions in different orders),
        # or a held send whose idempotency key a concurrent command took meanwhile, rolled the
        # whole list back before its commit: accept it command by command
        return [
            entry if isinstance(entry, Item) else await _alone(store, principal, i, *entry)
            for i, entry in enumerate(parsed)
        ]


LOCK_CONFLICTS = {1205, 1213}  # MySQL/MariaDB lock wait timeout, deadlock
# commands whose acceptance writes nothing but held rows and one conditional row update (a
# close's reservation): they need no savepoint of their own
HELD_ONLY = frozenset({"send_order", "close_position"})


def _lock_conflict(exc: OperationalError) -> bool:
    """A statement lost a lock conflict and the server rolled the transaction back (MySQL), or
    SQLite could not take its write lock: nothing of the transaction was committed."""
    args = getattr(exc.orig, "args", ())
    if args and args[0] in LOCK_CONFLICTS:
        return True
    return "database is locked" in str(exc.orig)


async def _in_one_transaction(
    store: Store, principal: Principal, parsed: list[tuple[CommandEnvelope, Payload] | Item]
) -> list[Item]:
    items: dict[int, Item] = {}
    accepted: dict[int, tuple[CommandEnvelope, Accepted]] = {}  # ids complete once written
    raced: list[int] = []
    async with store.transaction() as conn:
        share = BatchShare()
        # every account the list names, with its limits, in one statement
        await preload_accounts(conn, share, [e[0].account_id for e in parsed
                                             if not isinstance(e, Item)],
                               principal.api_key_id, principal.user_id)  # fmt: skip
        for index, entry in enumerate(parsed):
            if isinstance(entry, Item):
                items[index] = entry
                continue
            envelope, payload = entry
            try:
                if envelope.command in HELD_ONLY and not counts_rate(share, envelope.account_id):
                    done = await accept_in(conn, share, principal, envelope, payload, HANDLERS)
                else:  # it may read the held commands' rows, and writes as it goes
                    await write_held(conn, share)
                    async with savepoint(conn):
                        done = await accept_in(conn, share, principal, envelope, payload, HANDLERS)
            except OmsError as exc:
                items[index] = _refused(index, exc)
            except IntegrityError:
                raced.append(index)
            else:
                accepted[index] = (envelope, done)
        await write_held(conn, share)
        await outbox.append_events(conn, share.events)
    for index, (envelope, done) in accepted.items():
        items[index] = _accepted(index, envelope, done)
    for index in raced:
        entry = parsed[index]
        assert not isinstance(entry, Item)  # noqa: S101 - only parsed commands race
        items[index] = await _alone(store, principal, index, *entry)
    return [items[i] for i in range(len(parsed))]


async def _wait(store: Store, items: list[Item], seconds: float) -> None:
    """Poll the accepted commands until they are terminal or the timeout passes."""
    deadline = time.monotonic() + seconds
    pending = {
        i.command_id: i
        for i in items
        if i.command_id is not None and i.status in ("queued", "running")
    }
    delay = 0.002
    while pending and time.monotonic() < deadline:
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
        async with store.read() as conn:
            rows = await command_store.statuses(conn, list(pending))
        for command_id, row in rows.items():
            item = pending[command_id]
            item.status = row.status
            if row.terminal:
                del pending[command_id]
                if row.status == "failed":
                    code = row.error_code or "internal_error"
                    item.ok, item.http_status = False, EXECUTION_STATUS.get(code, 409)
                    item.error = {
                        "code": code,
                        "message": row.error_message or "",
                        "details": {},
                    }
    for item in pending.values():
        item.status = item.status or "running"


async def submit(
    store: Store, settings: Settings, principal: Principal, body: Any, *, wait: bool
) -> tuple[int, Results]:
    """Accept one command or a batch; returns (HTTP status, body)."""
    raw_items = body if isinstance(body, list) else [body]
    if not raw_items or len(raw_items) > MAX_BATCH:
        raise ValidationFailed(f"send one command or a list of 1..{MAX_BATCH}")
    if len(raw_items) == 1:
        at = "body[0]" if isinstance(body, list) else ""
        items = [await _one(store, principal, 0, raw_items[0], at)]
    else:
        items = await _batch(store, principal, raw_items)
    store.note_accepted({i.account_id for i in items if i.account_id is not None})
    await store.notify_queued(
        {i.account_id for i in items if i.account_id is not None and i.status == "queued"}
    )
    if wait:
        await _wait(store, items, settings.api.request_timeout_seconds)
    results = [item.wire() for item in items]
    failed = [item for item in items if not item.ok]
    if not failed:
        return 200, {"results": results}
    if len(failed) < len(items):
        return 207, {"results": results}
    first = failed[0]
    error = first.error or {"code": "internal_error", "message": ""}
    raise OmsError(
        error["message"],
        code=error["code"],
        status=first.http_status,
        details={**error.get("details", {}), "results": results},
    )
