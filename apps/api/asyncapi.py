"""The websocket protocol (`WS /ws`) as data: an AsyncAPI 2.6 document (`GET /asyncapi.json`)
and the page `GET /docs/websocket` built from the same tables (linked from `/docs`)."""

from __future__ import annotations

import html
from typing import Any

from apps import __version__
from apps.api.read_schemas import DealOut, ErrorInfo, OrderOut, PositionOut
from apps.oms.domain import events
from apps.oms.domain.events import ChangedOrderView, CommandView, DealView, OrderView, PositionView

# (namespace, action, request payload, reply event, what it does)
ACTIONS: tuple[tuple[str, str, str, str, str], ...] = (
    ("system", "auth", "{api_key}", "authenticated {user_id, api_key_id, role}",
     "authenticate after connecting (browsers); an invalid key closes with 1008"),
    ("system", "ping", "{}", "pong", "keep-alive; answered before auth too"),
    ("any", "subscribe",
     "{account_ids, namespaces?: [position, ccxt, risk], with_snapshot?: true, since_seq?, strategy_ids?}",
     "subscribed {account_ids, namespaces, seq}",
     "then snapshot_open_orders / snapshot_open_positions per account and snapshot_done {seq, exact};"
     " with since_seq, every event after it is replayed first (resync_required if no longer kept)"),
    ("any", "unsubscribe", "{account_ids?, namespaces?}", "unsubscribed", "stop streaming"),
    ("position", "command", "a command envelope or a list (as POST /oms/commands)",
     "command_result (the items of POST /oms/commands)", "queue commands over the socket"),
    ("ccxt", "call", "{account_id, func, args, kwargs}", "ccxt_result {result}",
     "a CCXT unified call through the /ccxt gateway"),
    ("ccxt", "subscribe_market",
     "{account_id, symbol, channels?: [ticker, orderbook, trades, ohlcv], timeframe?, depth?, limit?}",
     "subscribed_market {…, upstreams}", "then <channel>_updated pushes (no seq: state, not history)"),
    ("ccxt", "unsubscribe_market", "{account_id?, symbol?, channels?}",
     "unsubscribed_market {removed}", "end market subscriptions"),
)  # fmt: skip

# the outbox's events (`domain/events.py`), grouped by namespace and payload type; the views
# are the REST reads' objects (component schemas)
VIEW_SCHEMAS: dict[type, str] = {OrderView: "OrderOut", ChangedOrderView: "OrderOut",
                                 DealView: "DealOut", PositionView: "PositionOut"}  # fmt: skip


def payload_text(payload: type) -> str:
    """A payload type as the page shows it: a view by its object, else its keys (`?`: only
    sometimes present)."""
    optional: frozenset[str] = getattr(payload, "__optional_keys__", frozenset())
    keys = [f"{key}?" if key in optional else key for key in payload.__annotations__]
    if payload in (OrderView, DealView, PositionView, CommandView):
        return payload.__name__.removesuffix("View")
    if payload is ChangedOrderView:
        return "Order + {venue_orders?}"
    if issubclass(payload, dict) and set(OrderView.__annotations__) <= set(keys):
        extra = [k for k in keys if k not in OrderView.__annotations__]
        return "Order + {" + ", ".join(extra) + "}"
    return "{" + ", ".join(keys) + "}"


def _outbox_rows() -> tuple[tuple[str, tuple[str, ...], str], ...]:
    groups: dict[tuple[str, type], list[str]] = {}
    for event in events.EVENTS:
        groups.setdefault((event.namespace, event.payload), []).append(event.name.value)
    return tuple((ns, tuple(names), payload_text(payload))
                 for (ns, payload), names in groups.items())  # fmt: skip


# (namespace, events, payload): the outbox's, then pushes of the socket itself
EVENTS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    *_outbox_rows(),
    ("system", ("subscription_revoked",), "{account_id, code: account_not_found, message}"),
    ("ccxt", ("ticker_updated", "orderbook_updated", "trades_updated", "ohlcv_updated"),
     "{account_id, symbol, channel, data, ts_ms}"),
)  # fmt: skip
#: the payload schema of each outbox event that carries a REST object
EVENT_SCHEMAS = {e.name.value: VIEW_SCHEMAS[e.payload] for e in events.EVENTS
                 if e.payload in VIEW_SCHEMAS}  # fmt: skip

ENVELOPES = {
    "request": '{"id": <any, required>, "namespace", "action", "payload": {}}',
    "response": '{"id": <echo>, "ok": bool, "type": "ws_response", "namespace", "action", '
    '"event", "payload"}',
    "error": 'a response with ok false and payload {"code", "message", "details"} (REST error '
    "codes); the connection stays",
    "push": '{"id": null, "ok": true, "type": "ws_event", "namespace", "action": "event" | '
    '"snapshot", "event", "seq", "account_id", "payload"}',
    "greeting": '{"id": "server-hello", "ok": true, "type": "ws_event", "event": "connected", '
    '"payload": {"server_time", "version"}}',
}  # fmt: skip


def _object_schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in (OrderOut, DealOut, PositionOut, ErrorInfo):
        schemas[model.__name__] = model.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
    return schemas


def _push(name: str, namespace: str, payload_ref: str | None) -> dict[str, Any]:
    payload: dict[str, Any] = {"type": "object"}
    if payload_ref:  # the event's payload is that object, as its REST read shows it
        payload = {"$ref": f"#/components/schemas/{payload_ref}"}
    return {
        "name": name,
        "title": f"{namespace}: {name}",
        "payload": {
            "type": "object",
            "required": ["type", "event", "payload"],
            "properties": {
                "id": {"type": "null"},
                "ok": {"const": True},
                "type": {"const": "ws_event"},
                "namespace": {"const": namespace},
                "action": {"enum": ["event", "snapshot"]},
                "event": {"const": name},
                "seq": {"type": ["integer", "null"]},
                "account_id": {"type": ["integer", "null"]},
                "payload": payload,
            },
        },
    }


def _request(namespace: str, action: str, payload: str, summary: str) -> dict[str, Any]:
    return {
        "name": action,
        "title": f"{namespace}/{action}",
        "summary": summary,
        "description": f"payload: `{payload}`",
        "payload": {
            "type": "object",
            "required": ["id", "action"],
            "properties": {
                "id": {"description": "any value, echoed in the reply"},
                "namespace": {"const": namespace},
                "action": {"const": action},
                "payload": {"type": "object"},
            },
        },
    }


def document() -> dict[str, Any]:
    """The AsyncAPI 2.6 description of `WS /ws`."""
    pushes = [
        _push(event, ns, EVENT_SCHEMAS.get(event)) for ns, names, _ in EVENTS for event in names
    ]
    requests = [_request(ns, action, payload, what) for ns, action, payload, _, what in ACTIONS]
    return {
        "asyncapi": "2.6.0",
        "info": {
            "title": "ccxt-oms websocket",
            "version": __version__,
            "description": "The outbox read forward: snapshot + gap-free events, commands and "
            "CCXT calls over one socket. Human-readable page: /docs/websocket. Envelopes: "
            + "; ".join(f"{k}: {v}" for k, v in ENVELOPES.items()),
        },
        "defaultContentType": "application/json",
        "channels": {
            "/ws": {
                "description": "Authenticate with header x-api-key or the auth action.",
                "publish": {"summary": "client requests", "message": {"oneOf": requests}},
                "subscribe": {"summary": "replies and pushes", "message": {"oneOf": pushes}},
            }
        },
        "components": {"schemas": _object_schemas()},
    }


def page() -> str:
    """`/docs/websocket`: the same tables as HTML (no external assets)."""
    esc = html.escape
    actions = "".join(
        f"<tr><td>{esc(ns)}</td><td><code>{esc(a)}</code></td><td><code>{esc(p)}</code></td>"
        f"<td><code>{esc(r)}</code></td><td>{esc(w)}</td></tr>"
        for ns, a, p, r, w in ACTIONS
    )
    events = "".join(
        f"<tr><td>{esc(ns)}</td><td>{', '.join(f'<code>{esc(e)}</code>' for e in evs)}</td>"
        f"<td><code>{esc(p)}</code></td></tr>"
        for ns, evs, p in EVENTS
    )
    envelopes = "".join(
        f"<tr><td>{esc(k)}</td><td><code>{esc(v)}</code></td></tr>" for k, v in ENVELOPES.items()
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>ccxt-oms websocket</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:75em}}td,th{{border:1px solid #ccc;
padding:4px;vertical-align:top}}table{{border-collapse:collapse;margin-bottom:2em}}</style>
</head><body><h1>Websocket <code>WS /ws</code></h1>
<p>Authenticate with header <code>x-api-key</code> or the <code>auth</code> action; an invalid
key closes with 1008. Events come from the outbox: nothing uncommitted is announced, nothing
committed is skipped; <code>seq</code> is dense per stream, resume with <code>since_seq</code>.
Machine-readable: <a href="/asyncapi.json">/asyncapi.json</a> (AsyncAPI 2.6).
REST: <a href="/docs">/docs</a>.</p>
<h2>Envelopes</h2><table>{envelopes}</table>
<h2>Actions</h2><table><tr><th>namespace</th><th>action</th><th>payload</th><th>reply</th>
<th>what</th></tr>{actions}</table>
<h2>Events</h2><p>Each payload carries the full current object as the REST reads show it
(schemas in <a href="/docs">/docs</a>: OrderOut, DealOut, PositionOut).</p>
<table><tr><th>namespace</th><th>events</th><th>payload</th></tr>{events}</table>
</body></html>"""
