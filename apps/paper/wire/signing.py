"""Binance request security, checked as Binance checks it: `X-MBX-APIKEY`, HMAC-SHA256 `signature`
over the query string followed by the body (`totalParams`), `timestamp` within `recvWindow`.

Pure: the caller passes the raw query string, the raw body, the header, a key lookup and the
server time; the answer is the request's parameters or a `WireError` with Binance's code.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

#: Binance's default and largest `recvWindow` (ms), and how far ahead a timestamp may be
DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60000
AHEAD_MS = 1000


class WireError(Exception):
    """A refusal in the dialect's own terms: HTTP status, error code and message."""

    def __init__(self, status: int, code: int, msg: str,
                 data: dict[str, object] | None = None) -> None:  # fmt: skip
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg
        self.data = data

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "msg": self.msg}
        if self.data is not None:
            body["data"] = self.data
        return body


@dataclass(frozen=True, slots=True)
class Signed:
    """A request that passed the checks: whose key it is and its parameters (signature out)."""

    api_key: str
    params: dict[str, str]


def sign(secret: str, payload: str) -> str:
    """Binance's signature: lowercase hex HMAC-SHA256 of `payload` keyed by the secret."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def mandatory(name: str) -> WireError:
    return WireError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, "
                                 "or malformed.")  # fmt: skip


def params_of(query: str, body: str) -> dict[str, str]:
    """The parameters of a request, query string then form body (a later one wins)."""
    found = dict(parse_qsl(query, keep_blank_values=True))
    found.update(parse_qsl(body, keep_blank_values=True))
    return found


def _unsigned(raw: str) -> tuple[str, str | None]:
    """`raw` without its `signature=` parameter, and that parameter's value."""
    kept: list[str] = []
    signature = None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            signature = part[len("signature="):]
        else:
            kept.append(part)
    return "&".join(kept), signature


def api_key_of(headers: Mapping[str, str], lookup: Callable[[str], str | None]) -> tuple[str, str]:
    """The request's API key and its secret; -2014 without a key, -2015 for an unknown one."""
    key = headers.get("x-mbx-apikey", "")
    if not key:
        raise WireError(401, -2014, "API-key format invalid.")
    secret = lookup(key)
    if secret is None:
        raise WireError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    return key, secret


def check_time(params: Mapping[str, str], now_ms: int) -> None:
    """`timestamp` must lie in [now - recvWindow, now + 1000] (Binance -1021)."""
    try:
        timestamp = int(params["timestamp"])
    except (KeyError, ValueError):
        raise mandatory("timestamp") from None
    try:
        window = int(params.get("recvWindow", DEFAULT_RECV_WINDOW))
    except ValueError:
        raise WireError(400, -1100, "Illegal characters found in parameter 'recvWindow'; "
                                    "legal range is '^[0-9]{1,20}$'.") from None  # fmt: skip
    if window > MAX_RECV_WINDOW or window <= 0:
        raise WireError(400, -1131, "recvWindow must be less than 60000")
    if timestamp > now_ms + AHEAD_MS:
        raise WireError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's "
                                    "time.")  # fmt: skip
    if now_ms - timestamp > window:
        raise WireError(400, -1021, "Timestamp for this request is outside of the recvWindow.")


def verify(
    query: str,
    body: str,
    headers: Mapping[str, str],
    lookup: Callable[[str], str | None],
    now_ms: int,
) -> Signed:
    """A SIGNED endpoint's checks, in Binance's order: key, signature, timestamp."""
    key, secret = api_key_of(headers, lookup)
    query_part, in_query = _unsigned(query)
    body_part, in_body = _unsigned(body)
    signature = in_query if in_query is not None else in_body
    if not signature:
        raise mandatory("signature")
    if not hmac.compare_digest(sign(secret, query_part + body_part), signature.lower()):
        raise WireError(400, -1022, "Signature for this request is not valid.")
    params = params_of(query_part, body_part)
    check_time(params, now_ms)
    return Signed(key, params)


def verify_ws(params: Mapping[str, object], lookup: Callable[[str], str | None],
              now_ms: int) -> Signed:  # fmt: skip
    """A websocket API request's signature: over its parameters sorted by name, signature out
    (Binance's WebSocket API rule), the key in `apiKey`."""
    flat = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
    key = flat.get("apiKey", "")
    secret = lookup(key) if key else None
    if secret is None:
        raise WireError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    signature = flat.pop("signature", "")
    if not signature:
        raise mandatory("signature")
    payload = "&".join(f"{k}={flat[k]}" for k in sorted(flat))
    if not hmac.compare_digest(sign(secret, payload), signature.lower()):
        raise WireError(400, -1022, "Signature for this request is not valid.")
    check_time(flat, now_ms)
    return Signed(key, flat)
