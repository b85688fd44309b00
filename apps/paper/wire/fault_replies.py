"""How each dialect answers a refused request (`fault_plan.Refusal`): status, headers and body
as the real venue sends them, so CCXT's own classes raise what they raise against it.

Pure: one function per venue family; a new dialect adds its own to `REPLIES` and inherits
every injected fault (until it does, its refusals are plain HTTP: `plain_http`).

HTTP status, then the venue's code (Binance `code`, Bybit `retCode`, OKX `code`) and message:

| refusal | Binance spot / USDⓈ-M | Bybit v5 | OKX v5 |
|---|---|---|---|
| rate_limit | 429 -1003, `Retry-After` | 200 10006 "Too many visits!" | 429 50011 "Too Many Requests" |
| (banned) | 418 -1003 "IP banned until …", `Retry-After` | 403 "access too frequent" | 429 50061 (no IP ban) |
| server_error | 500 -1001 DISCONNECTED | 200 10016 "Internal server error." | 500 50026 "System error, …" |
| unavailable | 503 "Service Unavailable." | 503 "Service Unavailable" | 503 "Service Unavailable" |
| maintenance | 503 1 "System is under maintenance." | 503 10016 "Service is restarting" | 503 50001 "Service …" |
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from apps.paper.wire.fault_plan import MAINTENANCE, RATE_LIMIT, SERVER_ERROR, Refusal

JSON, TEXT = "application/json", "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: str
    media_type: str = JSON
    headers: Mapping[str, str] = field(default_factory=dict)


Render = Callable[[Refusal, int], Reply]


def binance(refusal: Refusal, now_ms: int) -> Reply:
    """Binance: 429 then, for a caller who keeps on, 418 (both -1003, with `Retry-After` in
    seconds); -1001 for an internal error; a bare 503 when the service is unavailable."""
    retry = {"Retry-After": str(refusal.retry_after_s)}
    if refusal.kind == RATE_LIMIT and refusal.banned:
        until = now_ms + refusal.retry_after_s * 1000
        return _json(418, {"code": -1003, "msg": f"Way too much request weight used; IP banned "
                           f"until {until}. Please use WebSocket Streams for live updates to "
                           "avoid bans."}, retry)  # fmt: skip
    if refusal.kind == RATE_LIMIT:
        return _json(429, {"code": -1003, "msg": "Too much request weight used; current limit "
                           "is 6000 request weight per 1 MINUTE. Please use WebSocket Streams "
                           "for live updates to avoid polling the API."}, retry)  # fmt: skip
    if refusal.kind == SERVER_ERROR:
        return _json(500, {"code": -1001, "msg": "Internal error; unable to process your "
                           "request. Please try again."})  # fmt: skip
    if refusal.kind == MAINTENANCE:
        return _json(503, {"code": 1, "msg": "System is under maintenance."}, retry)
    return Reply(503, "Service Unavailable.", TEXT, retry)


def bybit(refusal: Refusal, now_ms: int) -> Reply:
    """Bybit v5: the per-UID limit is retCode 10006 in an HTTP 200 (with the limit headers
    saying when it resets); the IP limit an HTTP 403 "access too frequent"; 10016 for an
    internal error or a restarting service."""
    reset = str(now_ms + refusal.retry_after_s * 1000)
    if refusal.kind == RATE_LIMIT and refusal.banned:
        return Reply(403, "access too frequent", TEXT)
    if refusal.kind == RATE_LIMIT:
        return _json(200, _bybit_body(10006, "Too many visits!", now_ms),
                     {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "0",
                      "X-Bapi-Limit-Reset-Timestamp": reset})  # fmt: skip
    if refusal.kind == SERVER_ERROR:
        return _json(200, _bybit_body(10016, "Internal server error.", now_ms))
    if refusal.kind == MAINTENANCE:
        return _json(503, _bybit_body(10016, "Service is restarting", now_ms))
    return Reply(503, "Service Unavailable", TEXT)


def okx(refusal: Refusal, now_ms: int) -> Reply:
    """OKX v5: its envelope's `code` and `msg` (as strings, `data` empty) with the HTTP status
    its error table gives: 50011 with 429 past an endpoint's limit, 50061 with 429 past the
    sub-account's order limit (what a caller who keeps on meets: OKX bans no IP), 50026 with
    500, 50001 with 503 while the service is being upgraded; an unavailable service's front
    answers a bare 503. OKX sends no `Retry-After`."""
    if refusal.kind == RATE_LIMIT and refusal.banned:
        return _json(429, _okx_body(50061, "You've reached the maximum order rate limit for "
                                           "this account."))  # fmt: skip
    if refusal.kind == RATE_LIMIT:
        return _json(429, _okx_body(50011, "Too Many Requests"))
    if refusal.kind == SERVER_ERROR:
        return _json(500, _okx_body(50026, "System error, please try again later."))
    if refusal.kind == MAINTENANCE:
        return _json(503, _okx_body(50001, "Service temporarily unavailable, please try again "
                                           "later."))  # fmt: skip
    return Reply(503, "Service Unavailable", TEXT)


def plain_http(refusal: Refusal, now_ms: int) -> Reply:
    """Plain HTTP, for a dialect without its own rendering yet: 429 with `Retry-After`, 500,
    503 (CCXT's base class maps these to RateLimitExceeded, ExchangeNotAvailable)."""
    if refusal.kind == RATE_LIMIT:
        return Reply(429, "Too Many Requests", TEXT, {"Retry-After": str(refusal.retry_after_s)})
    if refusal.kind == SERVER_ERROR:
        return Reply(500, "Internal Server Error", TEXT)
    return Reply(503, "Service Unavailable", TEXT)


REPLIES: Mapping[str, Render] = {"binance": binance, "binanceusdm": binance, "bybit": bybit,
                                 "okx": okx}  # fmt: skip


def render_for(dialect: str) -> Render:
    """The dialect's rendering of refusals, else plain HTTP."""
    return REPLIES.get(dialect, plain_http)


def _bybit_body(code: int, msg: str, now_ms: int) -> dict[str, object]:
    return {"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}, "time": now_ms}


def _okx_body(code: int, msg: str) -> dict[str, object]:
    return {"code": str(code), "msg": msg, "data": []}


def _json(status: int, body: Mapping[str, object],
          headers: Mapping[str, str] | None = None) -> Reply:  # fmt: skip
    return Reply(status, json.dumps(body), JSON, dict(headers or {}))
