"""Request actions of `WS /ws` (websocket.md → Actions): auth, ping, subscribe (snapshot, resume),
unsubscribe, position `command`, ccxt `call`, `subscribe_market` / `unsubscribe_market`
(`market.py`). Errors are replies; the connection stays open,
except for an invalid key (close 1008)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from pydantic import BaseModel, Field, ValidationError

from apps.api.deps import MAX_ID
from apps.api.outage import OUTAGES, RETRY_AFTER_SECONDS, is_store_outage
from apps.api.ws.connection import Connection, Subscription
from apps.api.ws.envelopes import dumps, error, push, response
from apps.api.ws.market import MarketHub, SubscribeMarketPayload, UnsubscribeMarketPayload
from apps.oms.clock import iso_z, utcnow
from apps.oms.config import Settings
from apps.oms.domain.access import Action as Permission
from apps.oms.errors import AuthenticationFailed, OmsError, RateLimited, ValidationFailed
from apps.oms.security.principal import Principal
from apps.oms.service import stream as stream_service
from apps.oms.service.auth import AuthGuard, authenticate_client
from apps.oms.service.auth_cache import PrincipalCache
from apps.oms.service.request_model import RequestModel
from apps.oms.service.submit import submit

Request = dict[str, Any]
Action = Callable[[Connection, Settings, Request], Awaitable[None]]
INVALID_KEY = 1008


WsId = Annotated[int, Field(ge=1, le=MAX_ID)]  # ids beyond 64 bits are validation errors

class SubscribePayload(RequestModel):
    account_ids: list[WsId] = Field(min_length=1, max_length=500)
    namespaces: list[str] | None = None
    with_snapshot: bool | None = None
    since_seq: int | None = Field(default=None, ge=0, le=MAX_ID)
    strategy_ids: list[Annotated[int, Field(ge=0, le=MAX_ID)]] | None = None


class UnsubscribePayload(RequestModel):
    account_ids: list[WsId] | None = None
    namespaces: list[str] | None = None


async def login(conn: Connection, settings: Settings, api_key: str | None, *,
                from_cache: bool = False) -> Principal | None:  # fmt: skip
    """Authenticate (again) with the connection's key; an invalid key closes with 1008.

    `from_cache` (the header login as a socket connects): the answer of the API's principal
    cache, as for HTTP requests (a change made through the API is seen at once, one made by
    hand in SQL within the cache's re-check), so that thousands of sockets reconnecting with
    one key read it from the store once, not once each. Such an answer is not a fresh read, so
    it does not mark the connection as re-authenticated: the periodic key re-check
    (recheck.py) still judges it. Every action re-reads the key from the store."""
    pepper = settings.security.api_key_pepper.get_secret_value()
    client = conn.ws.client
    state = conn.ws.app.state
    guard: AuthGuard = state.auth_guard
    cache: PrincipalCache | None = getattr(state, "principal_cache", None) if from_cache else None
    try:
        principal = await authenticate_client(
            conn.hub.store, pepper, api_key, client.host if client else "-", guard,
            via=None if cache is None else cache.authenticate,
        )
    except (AuthenticationFailed, RateLimited) as exc:
        conn.drop(INVALID_KEY, exc.message)
        return None
    conn.principal, conn.api_key = principal, api_key
    if cache is None:
        conn.authenticated_at = asyncio.get_running_loop().time()
    return principal


async def _current(conn: Connection, settings: Settings) -> Principal:
    """The principal with fresh grants (re-read per action so revoked rights never linger)."""
    if conn.api_key is None:
        raise AuthenticationFailed("authenticate first (action auth)", code="missing_api_key")
    principal = await login(conn, settings, conn.api_key)
    if principal is None:
        raise AuthenticationFailed("invalid API key", code="invalid_api_key")
    return principal


async def do_auth(conn: Connection, settings: Settings, req: Request) -> None:
    payload = req.get("payload") or {}
    key = payload.get("api_key") if isinstance(payload, dict) else None
    principal = await login(conn, settings, key if isinstance(key, str) else None)
    if principal is not None:
        body = {
            "user_id": principal.user_id,
            "api_key_id": principal.api_key_id,
            "role": principal.role.value,
        }
        conn.send(response(req, "authenticated", body))


async def do_ping(conn: Connection, _settings: Settings, req: Request) -> None:
    conn.send(response(req, "pong", {"server_time": iso_z(utcnow())}))


def _model(model: type[BaseModel], req: Request) -> Any:
    try:
        return model.model_validate(req.get("payload") or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationFailed(f"payload.{where}: {first['msg']}") from exc


async def do_subscribe(conn: Connection, settings: Settings, req: Request) -> None:
    p: SubscribePayload = _model(SubscribePayload, req)
    principal = await _current(conn, settings)
    asked = None if p.strategy_ids is None else frozenset(p.strategy_ids)
    scopes = stream_service.account_scopes(principal, p.account_ids, p.namespaces, asked)
    if p.since_seq is not None:
        await stream_service.resume_start(conn.hub.store, p.since_seq)
    conn.live = False  # from here until catch_up flips it back
    for sub in conn.subscriptions.values():
        sub.after_seq = max(sub.after_seq, conn.cursor)
    snap = None
    if p.since_seq is not None:
        start = p.since_seq
    elif p.with_snapshot is not False:
        snap = await stream_service.snapshot(conn.hub.store, scopes)
        start = snap.seq
    else:
        start = conn.hub.last_seq
    for account_id, scope in scopes.items():
        conn.subscriptions[account_id] = Subscription(scope, start, asked)
    namespaces = sorted(next(iter(scopes.values())).namespaces)
    body = {"account_ids": sorted(scopes), "namespaces": namespaces, "seq": start}
    await conn.send_waiting(dumps(response(req, "subscribed", body)))
    if snap is not None:
        await _send_snapshot(conn, snap)
    await conn.catch_up()


async def _send_snapshot(conn: Connection, snap: stream_service.Snapshot) -> None:
    for account_id, (order_items, position_items) in snap.items.items():
        for event, items in (
            ("snapshot_open_orders", order_items),
            ("snapshot_open_positions", position_items),
        ):
            body = {"account_id": account_id, "items": items}
            message = push("position", event, snap.seq, account_id, body, action="snapshot")
            await conn.send_waiting(dumps(message))
    done = {"seq": snap.seq, "exact": snap.exact}
    message = push("position", "snapshot_done", snap.seq, None, done, action="snapshot")
    await conn.send_waiting(dumps(message))


async def do_unsubscribe(conn: Connection, settings: Settings, req: Request) -> None:
    p: UnsubscribePayload = _model(UnsubscribePayload, req)
    await _current(conn, settings)
    targets = list(conn.subscriptions) if p.account_ids is None else p.account_ids
    for account_id in targets:
        sub = conn.subscriptions.get(account_id)
        if sub is None:
            continue
        left = sub.scope.namespaces - set(p.namespaces or sub.scope.namespaces)
        if left:
            sc = sub.scope
            sub.scope = type(sc)(sc.account_id, frozenset(left), sc.strategies, sc.account_level)
        else:
            del conn.subscriptions[account_id]
    conn.send(response(req, "unsubscribed", {"account_ids": sorted(conn.subscriptions)}))


async def do_command(conn: Connection, settings: Settings, req: Request) -> None:
    principal = await _current(conn, settings)
    body = req.get("payload")
    try:
        _status, content = await submit(conn.hub.store, settings, principal, body, wait=False)
        results: Any = content["results"]
    except OmsError as exc:
        results = exc.details.get("results")
        if results is None:
            raise
    payload = results[0] if not isinstance(body, list) else {"results": results}
    ok = all(item["ok"] for item in results)
    conn.send(response(req, "command_result", payload, ok=ok))


async def do_call(conn: Connection, settings: Settings, req: Request) -> None:
    from apps.oms.service import ccxt_gateway

    principal = await _current(conn, settings)
    payload = req.get("payload") or {}
    if not isinstance(payload, dict):
        raise ValidationFailed("payload must be an object {account_id, func, args, kwargs}")
    registry = conn.ws.app.state.ccxt_registry
    result = await ccxt_gateway.call_item(conn.hub.store, settings, registry, principal, payload)
    conn.send(response(req, "ccxt_result", {"result": result}))


async def do_subscribe_market(conn: Connection, settings: Settings, req: Request) -> None:
    p: SubscribeMarketPayload = _model(SubscribeMarketPayload, req)
    principal = await _current(conn, settings)
    principal.require(Permission.READ, p.account_id)
    market: MarketHub = conn.ws.app.state.market_hub
    conn.send(response(req, "subscribed_market", await market.subscribe(conn, p)))


async def do_unsubscribe_market(conn: Connection, settings: Settings, req: Request) -> None:
    p: UnsubscribeMarketPayload = _model(UnsubscribeMarketPayload, req)
    await _current(conn, settings)
    market: MarketHub = conn.ws.app.state.market_hub
    conn.send(response(req, "unsubscribed_market", {"removed": market.unsubscribe(conn, p)}))


ACTIONS: dict[tuple[str | None, str], Action] = {
    (None, "auth"): do_auth,
    (None, "ping"): do_ping,
    (None, "subscribe"): do_subscribe,
    (None, "unsubscribe"): do_unsubscribe,
    ("position", "command"): do_command,
    ("ccxt", "call"): do_call,
    ("ccxt", "subscribe_market"): do_subscribe_market,
    ("ccxt", "unsubscribe_market"): do_unsubscribe_market,
}
UNAUTHENTICATED = frozenset({"auth", "ping"})


async def dispatch(conn: Connection, settings: Settings, req: Request) -> None:
    """Run one request; any refusal becomes an error reply with the REST error code."""
    action = req.get("action")
    namespace = req.get("namespace")
    handler = ACTIONS.get((namespace, str(action))) or ACTIONS.get((None, str(action)))
    if "id" not in req:
        conn.send(error(req, "validation_error", "every request needs an id"))
        return
    if handler is None:
        conn.send(error(req, "validation_error", f"unknown action {namespace}/{action}"))
        return
    if conn.principal is None and action not in UNAUTHENTICATED:
        conn.send(error(req, "missing_api_key", "authenticate first (action auth)"))
        return
    try:
        await handler(conn, settings, req)
    except OmsError as exc:
        conn.send(error(req, exc.code, exc.message, exc.details))
    except Exception as exc:
        if not is_store_outage(exc):
            raise
        OUTAGES.report(exc, f"websocket {action}")
        details = {"retry_after_seconds": RETRY_AFTER_SECONDS}
        conn.send(error(req, "store_unavailable", "the store is unreachable; retry", details))
    finally:
        if not conn.live and conn.subscriptions and not conn.closed.is_set():
            await conn.catch_up()  # a subscribe that failed midway resumes the old stream
