"""`/ccxt` trade functions as worker commands: create-order calls become OMS `send_order`
commands (reason `ccxt`, strategy 0); every other trade or granted restricted call is a queued
`ccxt_call` command. Both wait for the worker's result up to `request_timeout_seconds`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any, cast

from apps.oms.clock import utcnow
from apps.oms.config import Settings
from apps.oms.domain.order_features import FIELD_PARAMS
from apps.oms.errors import NotFound, OmsError
from apps.oms.exchange.ccxt.error_mapping import status_of
from apps.oms.exchange.ccxt.functions import FunctionClass, FunctionSpec
from apps.oms.ports import Params
from apps.oms.security.principal import Principal
from apps.oms.service.submit import EXECUTION_STATUS, submit
from apps.oms.store import accounts as account_store
from apps.oms.store import audit
from apps.oms.store import commands as command_store
from apps.oms.store.ccxt_records import order_payload
from apps.oms.store.records import CommandPayload, NewCommand
from apps.oms.store.store import Store

COMMAND_TYPE = "ccxt_call"
CANCELS = frozenset({"cancel_order", "cancel_orders", "cancel_all_orders"})
# worker error codes of a rejected placement → the CCXT class that would have been raised
CCXT_CLASS = {"insufficient_funds": "InsufficientFunds", "venue_rejected": "InvalidOrder",
              "unsupported_market": "BadSymbol", "exchange_unavailable": "ExchangeNotAvailable",
              "venue_unavailable": "ExchangeNotAvailable"}


async def place_order(
    store: Store, settings: Settings, principal: Principal, account_id: int,
    order: Mapping[str, Any],
) -> Any:
    """A create-order call as an OMS order; returns the venue's CCXT order structure."""
    params = dict(order["params"] or {})
    payload: CommandPayload = {
        "symbol": order["symbol"], "side": order["side"], "order_type": order["type"],
        "qty": order["amount"], "price": order["price"],
        "reason": "ccxt", "strategy_id": 0,
    }
    for key, field in FIELD_PARAMS.items():  # CCXT's spelling of a command field: the field
        value = params.pop(key, None)
        if value is not None:
            payload[field] = value
    payload["params"] = params
    body = {"account_id": account_id, "command": "send_order", "payload": payload}
    try:
        _status, content = await submit(store, settings, principal, body, wait=True)
    except OmsError as exc:
        item = (exc.details.get("results") or [{}])[0]
        code = (item.get("error") or {}).get("code", exc.code)
        # the refusal's own details (a risk rule, its limit and value; a rate's retry time)
        kept = (item.get("error") or {}).get("details") or {}
        exc.details = {"ccxt_error": CCXT_CLASS.get(code), **kept,
                       **{k: v for k, v in item.items() if k != "error"}}
        raise
    item = content["results"][0]
    if item["status"] != "completed":  # an accepted command has its id
        raise _still_running(cast(int, item["command_id"]), item["order_id"])
    async with store.read() as conn:
        structure = await order_payload(conn, int(cast(int, item["order_id"])))
    return structure if structure is not None else {"order_id": item["order_id"]}


def _still_running(command_id: int, order_id: int | None) -> OmsError:
    return OmsError(
        "the venue call did not finish within the request timeout; it continues in the worker",
        code="exchange_unavailable", status=504,
        details={"command_id": command_id, "order_id": order_id, "ccxt_error": None},
    )


async def queue_call(
    store: Store,
    settings: Settings,
    principal: Principal,
    account_id: int,
    spec: FunctionSpec,
    args: list[Any],
    kwargs: Params,
) -> Any:
    """Insert a `ccxt_call` command (audited when restricted) and wait for its result."""
    payload = {"func": spec.name, "args": args, "kwargs": kwargs}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    async with store.transaction() as conn:
        account = await account_store.get_account(conn, account_id)
        if account is None:
            raise NotFound(f"account {account_id} not found", code="account_not_found")
        if account.blocked and spec.name not in CANCELS:
            raise OmsError("account is blocked", code="risk_blocked", status=409,
                           details={"rule": "account_blocked"})
        now = utcnow()
        command_id = await command_store.insert_command(conn, NewCommand(
            account_id=account_id, command_type=COMMAND_TYPE, request_id=None,
            client_order_id=None, content_hash=digest, payload=payload,
            api_key_id=principal.api_key_id, user_id=principal.user_id, created_at=now,
        ))
        if spec.klass is FunctionClass.RESTRICTED:
            actor = audit.Actor(user_id=principal.user_id, api_key_id=principal.api_key_id)
            await audit.record(conn, actor, action=f"ccxt.{spec.name}", target_type="account",
                               target_id=account_id, after={"command_id": command_id})
    await store.notify_queued({account_id})
    return await wait_result(store, command_id, settings.api.request_timeout_seconds)


async def wait_result(store: Store, command_id: int, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    delay = 0.002
    while True:
        async with store.read() as conn:
            row = await command_store.get_command(conn, command_id)
        assert row is not None  # noqa: S101 - inserted above
        result = row.result or {}
        if row.status == "completed":
            return result.get("result")
        if row.status in ("failed", "canceled"):
            code = row.error_code or "exchange_error"
            status = status_of(result.get("ccxt_error")) or EXECUTION_STATUS.get(code, 502)
            raise OmsError(row.error_message or code, code=code, status=status,
                           details={"ccxt_error": result.get("ccxt_error"),
                                    "command_id": command_id})
        if time.monotonic() >= deadline:
            raise _still_running(command_id, None)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
