"""One exception handler set: every non-2xx body is `{"error": {code, message, details, trace_id}}`."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.websockets import WebSocketState

from apps.api.outage import OUTAGES, RETRY_AFTER_SECONDS, STORE_ERRORS, is_store_outage
from apps.oms.errors import OmsError
from apps.oms.observability import trace_id_var
from apps.oms.store.boundary import DBAPIError

log = logging.getLogger("apps.api")

MAX_MESSAGE_CHARS = 500
HTTP_CODES = {
    400: "bad_request",
    401: "invalid_api_key",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}
FASTAPI_BODY_ERROR = "There was an error parsing the body"


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    trace_id = trace_id_var.get()
    if len(message) > MAX_MESSAGE_CHARS:  # never echo a large input back
        message = message[:MAX_MESSAGE_CHARS] + f"... ({len(message)} characters)"
    body = {
        "error": {"code": code, "message": message, "details": details or {}, "trace_id": trace_id}
    }
    return JSONResponse(
        status_code=status, content=jsonable_encoder(body), headers={"x-trace-id": trace_id}
    )


async def _oms_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OmsError)  # noqa: S101 - registered for OmsError only
    if exc.status >= 500:
        log.error("request failed: %s: %s", exc.code, exc.message)
    response = error_response(exc.status, exc.code, exc.message, exc.details)
    retry_after = exc.details.get("retry_after_seconds")
    if isinstance(retry_after, int):
        response.headers["Retry-After"] = str(retry_after)
    return response


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    return error_response(422, "validation_error", f"{where}: {first['msg']}", {"errors": errors})


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    if exc.status_code == 400 and str(exc.detail) == FASTAPI_BODY_ERROR:
        # FastAPI could not parse a model body (e.g. nested too deep for the JSON parser)
        return error_response(422, "validation_error", "malformed or too deeply nested JSON")
    code = HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail))


def store_unavailable_response() -> JSONResponse:
    response = error_response(
        503, "store_unavailable", "the store is unreachable; retry shortly",
        {"retry_after_seconds": RETRY_AFTER_SECONDS},
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


OUTAGE_CLOSE = (1013, "the store is unreachable; retry shortly")  # RFC 6455: try again later
INTERNAL_CLOSE = (1011, "internal error; see the server log")


async def _store_error(request: Request, exc: Exception) -> JSONResponse | None:
    if not is_store_outage(exc):
        return await _unhandled(request, exc)
    OUTAGES.report(exc, f"{getattr(request, 'method', 'WS')} {request.url.path}")
    if await _closed_websocket(request, *OUTAGE_CLOSE):
        return None
    return store_unavailable_response()


async def _unhandled(request: Request, exc: Exception) -> JSONResponse | None:
    if is_store_outage(exc):  # wrapped or raised past the specific handlers
        OUTAGES.report(exc, "request")
        if await _closed_websocket(request, *OUTAGE_CLOSE):
            return None
        return store_unavailable_response()
    log.exception("unhandled error: %s", type(exc).__name__)
    if await _closed_websocket(request, *INTERNAL_CLOSE):
        return None
    return error_response(
        500, "internal_error", "internal error; see the server log for this trace id"
    )


async def _closed_websocket(conn: Request | WebSocket, code: int, reason: str) -> bool:
    """True when `conn` is an accepted websocket, now closed with `code` and `reason`: it
    cannot take an HTTP response (the server refuses one after the accept). Before the accept
    the HTTP response is the handshake's refusal, as for any request."""
    if not isinstance(conn, WebSocket) or conn.application_state != WebSocketState.CONNECTED:
        return False
    with contextlib.suppress(Exception):  # the peer may be gone already
        await conn.close(code, reason)
    return True


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(OmsError, _oms_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # these two answer None for an accepted websocket, which Starlette's handler call takes
    # (it sends a response only when there is one) though its annotation does not say so
    store_handler: Any = _store_error
    last_handler: Any = _unhandled
    for store_error in (*STORE_ERRORS, DBAPIError):
        app.add_exception_handler(store_error, store_handler)
    app.add_exception_handler(Exception, last_handler)
