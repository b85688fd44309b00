"""`/ccxt` use cases: authorise and classify a CCXT call, check the capability, then run a read
in this process (one reused exchange instance per account) or hand a trade to the worker.

Trades: the plain create-order family becomes an OMS `send_order` (reason `ccxt`, strategy 0),
so the order is booked like any other and passes the same gates (permissions, account block,
`allow_new_positions`, risk); the reply is the venue's CCXT order structure. Every other trade
or granted restricted function is a queued `ccxt_call` command run by the worker
(`apps/oms/service/execution/ccxt_call.py`). The HTTP call waits up to `request_timeout_seconds`.
"""

from __future__ import annotations

import asyncio
from typing import Any, NotRequired, TypedDict

from apps.oms.clock import utcnow
from apps.oms.config import Settings
from apps.oms.domain.access import Action
from apps.oms.errors import ErrorBody, OmsError, ValidationFailed
from apps.oms.exchange.ccxt.budget import reads_of
from apps.oms.exchange.ccxt.error_mapping import to_oms_error
from apps.oms.exchange.ccxt.functions import ORDER_CREATORS, FunctionClass, order_arguments
from apps.oms.exchange.ccxt.instances import ExchangeRegistry
from apps.oms.exchange.ccxt.wire import call_arguments, jsonable
from apps.oms.ports import Params
from apps.oms.security.principal import Principal
from apps.oms.service import ccxt_commands, strategy_funds, venue_quotes
from apps.oms.service.ccxt_access import (
    STRATEGY_BOOK_READS,
    authorize_call,
    check_capability,
    restricted_key,
)
from apps.oms.store.store import Store


class Capabilities(TypedDict):
    """`GET /ccxt/{account_id}/has`."""

    account_id: int
    venue: str | None
    has: dict[str, bool | str | None]  # CCXT's `has`: true, false, null or "emulated"
    timeframes: dict[str, str]


class CallError(ErrorBody):
    status: int


class CallItem(TypedDict):
    """One call of `POST /ccxt/commands`: its JSON-ready CCXT `result` or its `error`."""

    index: int
    ok: bool
    result: NotRequired[Any]  # the CCXT function's result: free-form
    error: NotRequired[CallError]


class CallResults(TypedDict):
    results: list[CallItem]

async def call(
    store: Store,
    settings: Settings,
    registry: ExchangeRegistry,
    principal: Principal,
    account_id: int,
    func: str,
    args: list[Any] | None = None,
    kwargs: Params | None = None,
) -> Any:
    """Run one CCXT function for `principal`; returns the JSON-ready CCXT result."""
    spec = authorize_call(principal, account_id, func)
    if spec.name in STRATEGY_BOOK_READS and restricted_key(principal, account_id):
        args, kwargs = list(args or []), dict(kwargs or {})
        if spec.name == "fetch_balance":
            params = strategy_funds.call_params(args, kwargs)
            return await strategy_funds.restricted_balance(store, principal, account_id, params)
        return await strategy_funds.restricted_funding_history(
            store, principal, account_id, args, kwargs
        )
    exchange = await registry.get(account_id)
    check_capability(exchange, spec)
    args, kwargs = call_arguments(list(args or [])), call_arguments(dict(kwargs or {}))
    if spec.klass is FunctionClass.READ:
        timeout = settings.worker.venue_timeout_seconds
        try:
            # the key's read waits for request budget half its timeout at most, else it is
            # refused with RateLimitExceeded and a Retry-After (apps/oms/exchange/ccxt/budget.py)
            with reads_of(principal.api_key_id, timeout / 2):
                result = await asyncio.wait_for(getattr(exchange, spec.name)(*args, **kwargs),
                                                timeout)  # fmt: skip
        except Exception as exc:
            raise to_oms_error(exc) from exc
        answer = jsonable(result)
        await venue_quotes.record(store, registry.exchange_id(account_id), spec.name, answer,
                                  utcnow())  # fmt: skip
        return answer
    if spec.name in ORDER_CREATORS:
        try:
            order = order_arguments(spec.name, args, kwargs)
        except TypeError as exc:
            raise ValidationFailed(str(exc)) from exc
        return await ccxt_commands.place_order(store, settings, principal, account_id, order)
    return await ccxt_commands.queue_call(
        store, settings, principal, account_id, spec, args, kwargs
    )


async def capabilities(
    registry: ExchangeRegistry, principal: Principal, account_id: int
) -> Capabilities:
    """The account's venue capabilities (its CCXT `has`, JSON-ready: true/false/null/
    "emulated") and the candle periods its `fetch_ohlcv` serves (CCXT's `timeframes`); needs
    `can_read` (404 for invisible accounts). No venue call."""
    principal.require(Action.READ, account_id)
    exchange = await registry.get(account_id)
    has = getattr(exchange, "has", None) or {}
    timeframes = getattr(exchange, "timeframes", None) or {}
    return {
        "account_id": account_id,
        "venue": getattr(exchange, "id", None),
        "has": {str(k): v for k, v in has.items() if v is None or isinstance(v, bool | str)},
        "timeframes": {str(k): str(v) for k, v in timeframes.items()},
    }


def _item_fields(item: Any) -> tuple[int, str, list[Any], Params]:
    if not isinstance(item, dict):
        raise ValidationFailed("each call is an object {account_id, func, args, kwargs}")
    unknown = set(item) - {"account_id", "func", "args", "kwargs"}
    account_id, func = item.get("account_id"), item.get("func")
    args, kwargs = item.get("args") or [], item.get("kwargs") or {}
    if unknown:
        raise ValidationFailed(f"unknown fields: {', '.join(sorted(unknown))}")
    if isinstance(account_id, bool) or not isinstance(account_id, int) or account_id <= 0:
        raise ValidationFailed("account_id must be a positive integer")
    if not isinstance(func, str) or not isinstance(args, list) or not isinstance(kwargs, dict):
        raise ValidationFailed("func must be a string, args a list and kwargs an object")
    return account_id, func, args, kwargs


async def call_item(
    store: Store,
    settings: Settings,
    registry: ExchangeRegistry,
    principal: Principal,
    item: Any,
) -> Any:
    """One `{account_id, func, args, kwargs}` item (batch endpoint, websocket `ccxt/call`)."""
    account_id, func, args, kwargs = _item_fields(item)
    return await call(store, settings, registry, principal, account_id, func, args, kwargs)


async def call_batch(
    store: Store,
    settings: Settings,
    registry: ExchangeRegistry,
    principal: Principal,
    body: Any,
) -> tuple[int, CallResults]:
    """`POST /ccxt/commands`: items run in order; each gets `result` or `error`. 200 when all
    succeeded, else 207."""
    items = body if isinstance(body, list) else [body]
    if not items or len(items) > 100:
        raise ValidationFailed("send one call or a list of 1..100")
    results: list[CallItem] = []
    for index, item in enumerate(items):
        try:
            result = await call_item(store, settings, registry, principal, item)
        except OmsError as exc:
            error: CallError = {"code": exc.code, "message": exc.message,
                                "details": exc.details, "status": exc.status}  # fmt: skip
            results.append({"index": index, "ok": False, "error": error})
        else:
            results.append({"index": index, "ok": True, "result": result})
    status = 200 if all(r["ok"] for r in results) else 207
    return status, {"results": results}
