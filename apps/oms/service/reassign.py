"""`POST /oms/reassign` on the API side: select the orders, check permissions and attribution,
answer a preview, or queue one `reassign` command per account (the worker applies it in one
transaction, see `service.execution.reassign`) and wait for the counts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

from apps.oms.clock import utcnow
from apps.oms.config import Settings
from apps.oms.domain.access import Action
from apps.oms.domain.reassign import OrderInfo, refused_orders
from apps.oms.errors import Conflict, NotFound, OmsError, ValidationFailed
from apps.oms.security.principal import Principal
from apps.oms.service.reconcile import RunOutcome, wait_all
from apps.oms.store import audit
from apps.oms.store import commands as command_store
from apps.oms.store import reassign as store
from apps.oms.store.boundary import Connection
from apps.oms.store.positions import get_position
from apps.oms.store.records import ColumnValues, NewCommand
from apps.oms.store.store import Store

COMMAND_TYPE = "reassign"
WAIT_SECONDS = 60.0
#: `POST /oms/reassign`'s body as its route validated it
ReassignBody = Mapping[str, Any]


class ReassignItem(TypedDict):
    """One order a reassign moves (or would move)."""

    order_id: int
    account_id: int
    symbol: str
    side: str
    status: str
    reason: str
    strategy_id: int
    position_id: int
    reconciled: bool
    deals: int
    target_strategy_id: int
    target_position_id: int | None
    would_overwrite: bool


class Reassigned(TypedDict):
    """`POST /oms/reassign`'s answer: a preview (a page of `items`) or what was applied."""

    ok: bool
    preview: bool
    orders_updated: int
    deals_updated: int
    positions_rebuilt: int
    refused_order_ids: NotRequired[list[int]]
    total: NotRequired[int]
    page: NotRequired[int]
    page_size: NotRequired[int]
    items: list[ReassignItem]
    runs: NotRequired[list[RunOutcome]]


class Actor(TypedDict):
    user_id: int | None
    api_key_id: int | None
    client_address: str | None


class ReassignPayload(TypedDict):
    """An account's `reassign` command (`execution/reassign.py`)."""

    order_ids: list[int]
    target_strategy_id: int
    target_position_id: int | None
    override: bool
    actor: Actor


async def reassign(
    store_: Store,
    principal: Principal,
    body: ReassignBody,
    actor: audit.Actor,
    settings: Settings | None = None,
) -> Reassigned:
    scope = [int(body["account_id"])] if body.get("account_id") else []
    scope += [int(a) for a in body.get("account_ids") or []]
    for account_id in scope:
        principal.require(Action.REASSIGN, account_id)
    async with store_.read() as conn:
        rows = await store.select_orders(
            conn, list(body["order_ids"]), account_ids=scope or None,
            start=body.get("start_date"), end=body.get("end_date"),
            reconciled=body.get("reconciled"), statuses=body.get("order_statuses"),
        )  # fmt: skip
        accounts = sorted({int(r["account_id"]) for r in rows})
        for account_id in accounts:
            principal.require(Action.REASSIGN, account_id)
        target_strategy_id = await _target_strategy(conn, principal, body, accounts)
        deals = await store.deals_of_orders(conn, [int(r["id"]) for r in rows])
    _check_found(body, rows)
    infos = [OrderInfo(int(r["id"]), int(r["strategy_id"]), str(r["symbol"]), str(r["reason"]))
             for r in rows]  # fmt: skip
    override = bool(body.get("override"))
    refused = set(refused_orders(infos, target_strategy_id, override))
    per_order: dict[int, int] = {}
    for deal in deals:
        if deal.order_id is not None:
            per_order[int(deal.order_id)] = per_order.get(int(deal.order_id), 0) + 1
    items = [_item(r, per_order, target_strategy_id, body, refused) for r in rows]
    if body.get("preview", True):
        return _preview(items, refused, body)
    if refused:
        raise Conflict("orders already attributed to another strategy; pass override to move them",
                       code="order_already_attributed",
                       details={"order_ids": sorted(refused)})  # fmt: skip
    if not rows:
        return {"ok": True, "preview": False, "orders_updated": 0, "deals_updated": 0,
                "positions_rebuilt": 0, "items": []}  # fmt: skip
    payloads: dict[int, ReassignPayload] = {
        account_id: {
            "order_ids": sorted(int(r["id"]) for r in rows if int(r["account_id"]) == account_id),
            "target_strategy_id": target_strategy_id,
            "target_position_id": body.get("target_position_id"), "override": override,
            "actor": {"user_id": actor.user_id, "api_key_id": actor.api_key_id,
                      "client_address": actor.client_address},
        } for account_id in accounts
    }  # fmt: skip
    seconds = settings.api.request_timeout_seconds if settings else WAIT_SECONDS
    runs = await _run(store_, principal, payloads, seconds)
    return {
        "ok": True, "preview": False,
        "orders_updated": sum(int(r.get("orders_updated", 0)) for r in runs),
        "deals_updated": sum(int(r.get("deals_updated", 0)) for r in runs),
        "positions_rebuilt": sum(int(r.get("positions_rebuilt", 0)) for r in runs),
        "items": items, "runs": runs,
    }  # fmt: skip


async def _target_strategy(
    conn: Connection, principal: Principal, body: ReassignBody, accounts: list[int]
) -> int:
    """The target strategy (the target position's when only a position is given), checked:
    linked to every account concerned and visible to a strategy-restricted key."""
    target_position = None
    if body.get("target_position_id"):
        target_position = await get_position(conn, int(body["target_position_id"]))
        visible = principal.visible_account_ids()
        if target_position is None or (
            visible is not None and int(target_position["account_id"]) not in visible
        ):
            raise NotFound(f"position {body['target_position_id']} not found",
                           code="position_not_found")
        if accounts and accounts != [int(target_position["account_id"])]:
            raise ValidationFailed("the target position must be on the orders' account",
                                   code="invalid_position_id")  # fmt: skip
    target = body.get("target_strategy_id")
    if target is None and target_position is not None:
        target = int(target_position["strategy_id"])
    strategy_id = int(target or 0)
    if strategy_id <= 0:
        return 0
    for account_id in accounts:
        if not await store.strategy_linked(conn, account_id, strategy_id):
            raise ValidationFailed(
                f"strategy {strategy_id} is not linked to account {account_id}",
                code="invalid_strategy_id",
            )
        flags = principal.flags_for(account_id)
        if flags is not None and not flags.sees_strategy(strategy_id):
            raise OmsError("this key is not granted the target strategy",
                           code="strategy_permission_denied", status=403)  # fmt: skip
    return strategy_id


def _check_found(body: ReassignBody, rows: list[ColumnValues]) -> None:
    """Without filters every listed order must exist (and be visible)."""
    filtered = any(body.get(k) for k in ("start_date", "end_date", "order_statuses"))
    if filtered or body.get("reconciled") is not None:
        return
    found = {int(r["id"]) for r in rows}
    missing = [o for o in body["order_ids"] if int(o) not in found]
    if missing:
        raise NotFound(f"order {missing[0]} not found", code="order_not_found")


def _item(
    r: ColumnValues, per_order: dict[int, int], target: int, body: ReassignBody,
    refused: set[int],
) -> ReassignItem:
    return {
        "order_id": int(r["id"]), "account_id": int(r["account_id"]), "symbol": r["symbol"],
        "side": r["side"], "status": r["status"], "reason": r["reason"],
        "strategy_id": int(r["strategy_id"]), "position_id": int(r["position_id"]),
        "reconciled": bool(r["reconciled"]), "deals": per_order.get(int(r["id"]), 0),
        "target_strategy_id": target, "target_position_id": body.get("target_position_id"),
        "would_overwrite": int(r["id"]) in refused,
    }  # fmt: skip


def _preview(items: list[ReassignItem], refused: set[int], body: ReassignBody) -> Reassigned:
    page, size = int(body.get("page") or 1), int(body.get("page_size") or 100)
    movable = [i for i in items if not i["would_overwrite"]]
    return {
        "ok": True, "preview": True, "orders_updated": len(movable),
        "deals_updated": sum(i["deals"] for i in movable), "positions_rebuilt": 0,
        "refused_order_ids": sorted(refused), "total": len(items), "page": page,
        "page_size": size, "items": items[(page - 1) * size : page * size],
    }  # fmt: skip


async def _run(
    store_: Store, principal: Principal, payloads: dict[int, ReassignPayload], seconds: float
) -> list[RunOutcome]:
    """One queued `reassign` command per account; their results, or the first failure."""
    queued: dict[int, int] = {}
    now = utcnow()
    async with store_.transaction() as conn:
        for account_id, payload in payloads.items():
            digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
            queued[account_id] = await command_store.insert_command(conn, NewCommand(
                account_id=account_id, command_type=COMMAND_TYPE, request_id=None,
                client_order_id=None, content_hash=digest, payload=payload,
                api_key_id=principal.api_key_id, user_id=principal.user_id, created_at=now,
            ))  # fmt: skip
    await store_.notify_queued(set(payloads))
    runs = await wait_all(store_, queued, seconds)
    failed = [r for r in runs if r.get("ok") is False]
    if failed:
        first = failed[0]
        error = first.get("error") or {"code": "command_running", "message": "still running"}
        status = 504 if first.get("status") == "running" else 409
        raise OmsError(str(error.get("message")), code=str(error.get("code") or "conflict"),
                       status=status, details={"runs": runs})  # fmt: skip
    return runs
