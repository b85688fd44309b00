"""Bybit v5 request security, checked as Bybit checks it: `X-BAPI-API-KEY`, `X-BAPI-TIMESTAMP`,
`X-BAPI-RECV-WINDOW`, `X-BAPI-SIGN` = hex HMAC-SHA256 of timestamp + key + recvWindow + (the
query string of a GET, the JSON body of a POST); the private stream's `auth` op likewise.

Pure: the caller passes the raw request parts, a key lookup and the server time.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping, Sequence

from apps.paper.wire.signing import WireError, sign

DEFAULT_RECV_WINDOW = 5000
#: how far ahead of the server a request's timestamp may be (Bybit: 1 s)
AHEAD_MS = 1000


class BybitError(WireError):
    """A refusal in Bybit's envelope: `retCode`, `retMsg` (HTTP 200, as Bybit answers them)."""

    def __init__(self, code: int, msg: str, status: int = 200) -> None:
        super().__init__(status, code, msg)
        self.now_ms = 0

    def body(self) -> dict[str, object]:
        return {"retCode": self.code, "retMsg": self.msg, "result": {}, "retExtInfo": {},
                "time": self.now_ms}  # fmt: skip


def params_error(detail: str) -> BybitError:
    return BybitError(10001, f"params error: {detail}")


def verify(method: str, query: str, body: str, headers: Mapping[str, str],
           lookup: Callable[[str], str | None], now_ms: int) -> str:  # fmt: skip
    """The request's API key once its headers, signature and timestamp pass (10003 key,
    10004 signature, 10002 timestamp outside the receive window)."""
    key = headers.get("x-bapi-api-key", "")
    secret = lookup(key) if key else None
    if secret is None:
        raise BybitError(10003, "API key is invalid.")
    stamp, window = headers.get("x-bapi-timestamp", ""), headers.get("x-bapi-recv-window", "")
    if not stamp.isdigit() or (window and not window.isdigit()):
        raise params_error("X-BAPI-TIMESTAMP or X-BAPI-RECV-WINDOW is not a number")
    payload = body if method == "POST" else query
    origin = stamp + key + window + payload
    if not hmac.compare_digest(sign(secret, origin), headers.get("x-bapi-sign", "").lower()):
        raise BybitError(10004, f"error sign! origin_string[{origin}]")
    recv = int(window or DEFAULT_RECV_WINDOW)
    if not now_ms - recv <= int(stamp) < now_ms + AHEAD_MS:
        raise BybitError(10002, "invalid request, please check your server timestamp or "
                                f"recv_window param. req_timestamp[{stamp}],server_timestamp"
                                f"[{now_ms}],recv_window[{recv}]")  # fmt: skip
    return key


def verify_ws_auth(args: Sequence[object], lookup: Callable[[str], str | None],
                   now_ms: int) -> str:  # fmt: skip
    """`{"op": "auth", "args": [key, expires, signature]}`: HMAC of `GET/realtime` + expires,
    `expires` (ms) still ahead of the server; the key, else the reason Bybit gives."""
    if len(args) != 3:
        raise BybitError(10001, "Params Error")
    key, expires, signature = (str(a) for a in args)
    secret = lookup(key)
    if secret is None:
        raise BybitError(10003, "Invalid apikey")
    if not expires.isdigit() or int(expires) <= now_ms:
        raise BybitError(10002, "Params Error: expires is expired")
    if not hmac.compare_digest(sign(secret, "GET/realtime" + expires), signature.lower()):
        raise BybitError(10004, "Invalid sign")
    return key
