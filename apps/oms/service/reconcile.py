"""Reconciliation as the API and the scheduler see it: enqueue `reconcile` commands (one per
account; the worker holding the account runs them in queue order), wait for their statistics,
and read the per-account status (`fresh` / `stale` / `never`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from apps.oms.clock import utcnow
from apps.oms.config import ReconcileSettings, Settings
from apps.oms.domain.access import Action
from apps.oms.domain.reconcile import freshness
from apps.oms.errors import NotFound, PermissionDenied, ValidationFailed
from apps.oms.security.principal import Principal
from apps.oms.store import accounts as account_store
from apps.oms.store import audit
from apps.oms.store import commands as command_store
from apps.oms.store import reconcile as store
from apps.oms.store.boundary import Connection
from apps.oms.store.records import NewCommand
from apps.oms.store.store import Store

COMMAND_TYPE = "reconcile"


class RunWindows(TypedDict):
    short_minutes: int
    hourly_minutes: int
    long_days: int


class RunPayload(TypedDict):
    """A reconciliation command's payload."""

    scope: str
    windows: RunWindows
    block_new_positions: bool
    symbols_hint: list[str]
    start_ms: NotRequired[int]
    end_ms: NotRequired[int]


class Triggered(TypedDict):
    """`POST /oms/reconcile`'s answer: the reference's keys plus `runs`."""

    ok: bool
    account_ids: list[int]
    triggered_count: int
    runs: list[RunOutcome]


class RunStatus(TypedDict):
    """An account's reconciliation state (`GET /oms/reconcile/…/status` items)."""

    account_id: int
    status: str
    cursor_value: int | None
    updated_at: str | None
    age_seconds: float | None
    last_run: Mapping[str, object] | None  # the scope and the last run's statistics
    out_of_sync: bool
    blocks_new_positions: bool


#: one account's run: its statistics (`ReconcileRunView`) and `command_id`, or its error, or
#: `running` (the command's stored JSON result, read back)
RunOutcome = Mapping[str, Any]
#: `POST /oms/reconcile`'s body as its route validated it
ReconcileBody = Mapping[str, Any]


def command_payload(
    settings: ReconcileSettings,
    scope: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    symbols_hint: list[str] | None = None,
) -> RunPayload:
    """What a run needs to know besides the account (windows and the fail-closed default
    travel with the command: the worker's settings do not carry them)."""
    payload: RunPayload = {
        "scope": scope,
        "windows": {
            "short_minutes": settings.short_window_minutes,
            "hourly_minutes": settings.hourly_window_minutes,
            "long_days": settings.long_window_days,
        },
        "block_new_positions": settings.block_new_positions,
        "symbols_hint": list(symbols_hint or []),
    }
    if start is not None:
        payload["start_ms"] = int(start.timestamp() * 1000)
    if end is not None:
        payload["end_ms"] = int(end.timestamp() * 1000)
    return payload


def _hash(payload: RunPayload) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


async def queued_run(conn: Connection, account_id: int, payload: RunPayload) -> int | None:
    """A run of the same kind still queued for the account: a new request joins it instead of
    piling up (clients call reconcile after every trading step)."""
    return await command_store.newest_queued(conn, account_id, COMMAND_TYPE, _hash(payload))


async def enqueue(
    conn: Connection,
    account_id: int,
    payload: RunPayload,
    now: datetime,
    *,
    request_id: str | None = None,
    api_key_id: int | None = None,
    user_id: int | None = None,
) -> int:
    existing = await queued_run(conn, account_id, payload)
    if existing is not None:
        return existing
    return await command_store.insert_command(conn, NewCommand(
        account_id=account_id, command_type=COMMAND_TYPE, request_id=request_id,
        client_order_id=None, content_hash=_hash(payload), payload=payload,
        api_key_id=api_key_id, user_id=user_id, created_at=now,
    ))  # fmt: skip


def target_accounts(principal: Principal, body: ReconcileBody) -> list[int]:
    """`account_id` / `account_ids`, or every account the key may reconcile."""
    ids: list[int] = []
    if body.get("account_id") is not None:
        ids.append(int(body["account_id"]))
    ids.extend(int(a) for a in body.get("account_ids") or [])
    ids = list(dict.fromkeys(ids))
    if ids:
        for account_id in ids:
            principal.require(Action.RECONCILE, account_id)
        return ids
    allowed = sorted(a for a in principal.grants if principal.allows(Action.RECONCILE, a))
    if not allowed:
        raise PermissionDenied("this key may not reconcile any account", code="permission_denied")
    return allowed


async def trigger(
    store_: Store,
    settings: Settings,
    principal: Principal,
    body: ReconcileBody,
    actor: audit.Actor,
) -> Triggered:
    """`POST /oms/reconcile`: one queued run per account; waits for them (up to
    `api.request_timeout_seconds`; a run still going is reported `running`) and answers the
    reference's keys plus `runs`."""
    scope = str(body.get("scope") or "short")
    start, end = body.get("start_date"), body.get("end_date")
    if scope == "period" and start is None:
        raise ValidationFailed("scope period needs start_date", details={"field": "start_date"})
    account_ids = target_accounts(principal, body)
    payload = command_payload(settings.reconcile, scope, start=start, end=end,
                              symbols_hint=body.get("symbols_hint"))  # fmt: skip
    now = utcnow()
    queued: dict[int, int] = {}
    async with store_.transaction() as conn:
        known = {r.account_id for r in await account_store.list_accounts(conn, account_ids)}
        missing = [a for a in account_ids if a not in known]
        if missing:
            raise NotFound(f"account {missing[0]} not found", code="account_not_found")
        for account_id in account_ids:
            queued[account_id] = await enqueue(
                conn, account_id, payload, now,
                api_key_id=principal.api_key_id, user_id=principal.user_id,
            )  # fmt: skip
            await audit.record(conn, actor, action="reconcile", target_type="account",
                               target_id=account_id,
                               after={"command_id": queued[account_id], "scope": scope})
    await store_.notify_queued(set(account_ids))
    runs = await wait_all(store_, queued, settings.api.request_timeout_seconds)
    return {
        "ok": True,
        "account_ids": account_ids,
        "triggered_count": sum(1 for r in runs if r.get("ok")),
        "runs": runs,
    }


async def wait_all(store_: Store, queued: dict[int, int], seconds: float) -> list[RunOutcome]:
    """Each account's run statistics, or its error, or `running` past the deadline."""
    deadline = time.monotonic() + seconds
    delay = 0.005
    pending = dict(queued)
    done: dict[int, RunOutcome] = {}
    while pending:
        async with store_.read() as conn:
            rows = await command_store.statuses(conn, list(pending.values()))
        for account_id, command_id in list(pending.items()):
            row = rows.get(command_id)
            if row is None or not row.terminal:
                continue
            pending.pop(account_id)
            if row.status == "completed":
                done[account_id] = {**(row.result or {}), "command_id": command_id}
            else:
                done[account_id] = {
                    "account_id": account_id, "ok": False, "command_id": command_id,
                    "error": {"code": row.error_code, "message": row.error_message},
                }  # fmt: skip
        if not pending or time.monotonic() >= deadline:
            break
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)
    for account_id, command_id in pending.items():
        done[account_id] = {"account_id": account_id, "ok": False, "status": "running",
                            "command_id": command_id}  # fmt: skip
    return [done[a] for a in queued]


async def status(
    store_: Store,
    principal: Principal,
    account_id: int | None,
    stale_after_seconds: float,
    status_filter: str | None = None,
) -> dict[str, list[RunStatus]]:
    """`GET /oms/reconcile/{account_id}/status` and `GET /oms/reconcile/status`."""
    if account_id is not None:
        principal.require(Action.READ, account_id)
        ids: list[int] | None = [account_id]
    else:
        visible = principal.visible_account_ids()
        ids = None if visible is None else sorted(visible)
    async with store_.read() as conn:
        rows = await store.status_rows(conn, ids)
    if account_id is not None and not rows:
        raise NotFound(f"account {account_id} not found", code="account_not_found")
    now = utcnow()
    items = []
    for row in rows:
        run = row["run"]
        age = None if run is None else max(0.0, (now - run["last_run_at"]).total_seconds())
        item: RunStatus = {
            "account_id": int(row["id"]),
            "status": freshness(None if age is None else int(age * 1000),
                                int(stale_after_seconds * 1000)),
            "cursor_value": row["cursor_ms"],
            "updated_at": None if run is None else run["last_run_at"].isoformat(),
            "age_seconds": None if age is None else round(age, 3),
            "last_run": None if run is None else {"scope": run["scope"], **(run["last_stats"] or {})},
            "out_of_sync": bool(row["out_of_sync"]),
            "blocks_new_positions": bool(row["out_of_sync_blocks"]),
        }
        if status_filter is None or item["status"] == status_filter:
            items.append(item)
    return {"items": items}
