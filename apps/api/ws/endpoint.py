"""The `WS /ws` route: accept, authenticate (header or `auth` action), greet, then run the
receive loop and the send loop until either ends or the connection is dropped."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from apps import __version__
from apps.api.body import parse_json
from apps.api.outage import OUTAGES, is_store_outage
from apps.api.ws.actions import INVALID_KEY, dispatch, login
from apps.api.ws.connection import Connection
from apps.api.ws.envelopes import error, greeting
from apps.api.ws.hub import StreamHub
from apps.oms import metrics
from apps.oms.clock import iso_z, utcnow
from apps.oms.config import Settings
from apps.oms.errors import ValidationFailed

router = APIRouter()
log = logging.getLogger("apps.api.ws")
AUTH_TIMEOUT_SECONDS = 30.0
MAX_MESSAGE_BYTES = 1_000_000
CLOSE_GRACE_SECONDS = 10.0
TRY_AGAIN_LATER = 1013  # RFC 6455 registry: "Try Again Later"
INTERNAL_ERROR = 1011


@router.websocket("/ws")
async def websocket_stream(ws: WebSocket) -> None:
    await serve(ws, ws.app.state.stream_hub, ws.app.state.settings)


async def serve(ws: WebSocket, hub: StreamHub, settings: Settings) -> None:
    await ws.accept()
    cfg = settings.websocket
    conn = Connection(ws, hub, cfg.queue_size, cfg.send_timeout_seconds)
    header_key = ws.headers.get("x-api-key")
    if header_key is not None:
        try:
            principal = await login(conn, settings, header_key, from_cache=True)
        except Exception as exc:  # the socket is accepted: a close with a reason, never a drop
            if is_store_outage(exc):  # the client retries, as an HTTP 503 says
                OUTAGES.report(exc, "websocket login")
                await ws.close(TRY_AGAIN_LATER, "the store is unreachable; retry shortly")
            else:
                log.exception("websocket login failed: %s", type(exc).__name__)
                await ws.close(INTERNAL_ERROR, "internal error; see the server log")
            return
        if principal is None:
            await ws.close(INVALID_KEY, "invalid API key")
            return
    conn.send(greeting(iso_z(utcnow()) or "", __version__))
    hub.add(conn)
    metrics.WEBSOCKET_CLIENTS.inc()
    tasks = [
        asyncio.create_task(conn.send_loop()),
        asyncio.create_task(_receive_loop(conn, settings)),
        asyncio.create_task(conn.closed.wait()),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.remove(conn)
        metrics.WEBSOCKET_CLIENTS.dec()
        ws.app.state.market_hub.release(conn)  # market upstreams nobody else uses stop here
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if conn.close_code is not None:
            await _close(ws, conn.close_code, conn.close_reason)


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    """Send the close frame, giving up after a grace: it waits behind what was already queued,
    and a peer that does not read never lets it out (the socket is then closed without it)."""
    try:
        await asyncio.wait_for(ws.close(code, reason), CLOSE_GRACE_SECONDS)
    except TimeoutError:
        log.warning("websocket close frame (%s, %s) not written within %.0f s: the peer does "
                    "not read; closing the socket without it", code, reason,
                    CLOSE_GRACE_SECONDS)  # fmt: skip
    except Exception:  # the peer went away first: nothing left to tell it
        log.debug("websocket close frame not sent: the peer went away", exc_info=True)


def _parse(text: str) -> Any:
    try:
        return parse_json(text)  # the HTTP parser: exact numbers, bounded nesting depth
    except ValidationFailed as exc:
        raise ValueError(exc.message) from exc


async def _receive_loop(conn: Connection, settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    auth_deadline = loop.time() + AUTH_TIMEOUT_SECONDS
    while not conn.closed.is_set():
        timeout = None if conn.principal else max(0.0, auth_deadline - loop.time())
        try:
            text = await asyncio.wait_for(conn.ws.receive_text(), timeout)
        except TimeoutError:
            conn.drop(INVALID_KEY, "not authenticated in time")
            return
        except (WebSocketDisconnect, RuntimeError, KeyError):
            return  # client went away (or sent a binary frame)
        try:
            request = _parse(text) if len(text) <= MAX_MESSAGE_BYTES else None
        except ValueError as exc:
            conn.send(error({}, "validation_error", str(exc)))  # says "malformed JSON: …"
            continue
        if not isinstance(request, dict):
            conn.send(error({}, "validation_error", "a request is a JSON object under 1 MB"))
            continue
        try:
            await dispatch(conn, settings, request)
        except Exception:
            log.exception("websocket action failed")
            conn.send(error(request, "internal_error", "internal error; see the server log"))
