"""OKX v5 request security, checked as OKX checks it: `OK-ACCESS-KEY`, `OK-ACCESS-PASSPHRASE`,
`OK-ACCESS-TIMESTAMP` (ISO 8601, ms, UTC) and `OK-ACCESS-SIGN` = base64 HMAC-SHA256 of
timestamp + METHOD + requestPath (with its `?query`) + body; a timestamp more than 30 s from the
server's is expired (50102). The private websocket's `login` op likewise, over
timestamp (seconds) + `GET` + `/users/self/verify`.

Pure: the caller passes the raw request parts, the key lookups and the server time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from apps.paper.wire.signing import WireError

#: how far a request's timestamp may be from the server's, either way (OKX: 30 s)
WINDOW_MS = 30_000
LOGIN_PATH = "/users/self/verify"

Lookup = Callable[[str], str | None]


class OkxError(WireError):
    """A refusal in OKX's envelope: `code` and `msg` as strings, `data` the per-item results
    (`sCode`/`sMsg` of each order) or empty."""

    def __init__(self, code: int | str, msg: str, status: int = 200,
                 items: list[dict[str, object]] | None = None) -> None:  # fmt: skip
        super().__init__(status, int(code), msg)
        self.items = items or []

    def body(self) -> dict[str, object]:
        return {"code": str(self.code), "msg": self.msg, "data": self.items}


def sign(secret: str, payload: str) -> str:
    """OKX's signature: base64 of the HMAC-SHA256 digest of `payload` keyed by the secret."""
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def iso_ms(text: str) -> int | None:
    """`2020-12-08T09:08:57.715Z` in epoch ms (None when it is not that form)."""
    if not text.endswith("Z") or "T" not in text:
        return None
    try:
        stamp = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(stamp.timestamp() * 1000)


def verify(method: str, path: str, query: str, body: str, headers: Mapping[str, str],
           secret_of: Lookup, passphrase_of: Lookup, now_ms: int) -> str:  # fmt: skip
    """The request's API key once its headers pass: 50103/50104/50106/50107 for a missing
    header, 50112 a malformed timestamp, 50111 an unknown key, 50102 an expired timestamp,
    50105 a wrong passphrase, 50113 a wrong signature (HTTP 401, as OKX answers them)."""
    key = headers.get("ok-access-key", "")
    passphrase = headers.get("ok-access-passphrase", "")
    stamp = headers.get("ok-access-timestamp", "")
    signature = headers.get("ok-access-sign", "")
    for value, code, name in ((key, 50103, "OK-ACCESS-KEY"), (passphrase, 50104,
                              "OK-ACCESS-PASSPHRASE"), (signature, 50106, "OK-ACCESS-SIGN"),
                              (stamp, 50107, "OK-ACCESS-TIMESTAMP")):  # fmt: skip
        if not value:
            raise OkxError(code, f'Request header "{name}" can not be empty.', 401)
    at = iso_ms(stamp)
    if at is None:
        raise OkxError(50112, 'Invalid OK-ACCESS-TIMESTAMP', 401)
    secret = secret_of(key)
    if secret is None:
        raise OkxError(50111, "Invalid OK-ACCESS-KEY", 401)
    if abs(now_ms - at) > WINDOW_MS:
        raise OkxError(50102, "Timestamp request expired", 401)
    if not hmac.compare_digest(passphrase_of(key) or "", passphrase):
        raise OkxError(50105, 'Request header "OK_ACCESS_PASSPHRASE" incorrect.', 401)
    request_path = path + (f"?{query}" if query else "")
    if not hmac.compare_digest(sign(secret, stamp + method.upper() + request_path + body),
                               signature):  # fmt: skip
        raise OkxError(50113, "Invalid Sign", 401)
    return key


def verify_login(args: object, secret_of: Lookup, passphrase_of: Lookup, now_ms: int) -> str:
    """`{"op": "login", "args": [{apiKey, passphrase, timestamp, sign}]}`: the timestamp in
    seconds within 30 s of the server's, the sign over timestamp + `GET/users/self/verify`;
    the key, else OKX's websocket code (60005 key, 60006 expired, 60024 passphrase, 60007 sign,
    60012 a malformed request)."""
    if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
        raise OkxError(60012, "Illegal request: login needs one argument")
    arg: dict[str, object] = args[0]
    key, passphrase, stamp, signature = (str(arg.get(k) or "") for k in
                                         ("apiKey", "passphrase", "timestamp", "sign"))  # fmt: skip
    secret = secret_of(key) if key else None
    if secret is None:
        raise OkxError(60005, "Invalid OK-ACCESS-KEY")
    try:
        at_ms = int(float(stamp) * 1000)
    except ValueError:
        raise OkxError(60004, "Invalid timestamp") from None
    if abs(now_ms - at_ms) > WINDOW_MS:
        raise OkxError(60006, "Timestamp request expired")
    if not hmac.compare_digest(passphrase_of(key) or "", passphrase):
        raise OkxError(60024, "Wrong passphrase")
    if not hmac.compare_digest(sign(secret, stamp + "GET" + LOGIN_PATH), signature):
        raise OkxError(60007, "Invalid sign")
    return key
