"""HTTP to the gateway (stdlib `http.client`, one kept-alive connection): JSON in and out,
decimals kept exact (`Decimal`), a gateway error body raised as `GatewayError`.

    Exception
    ├── GatewayError   the gateway answered non-2xx: status, code, message, details
    └── Unreachable    no answer (refused, reset, timed out): `timed_out` tells which
"""

from __future__ import annotations

import http.client
import json
import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit


class GatewayError(Exception):
    """A non-2xx answer; `code`, `message` and `details` come from the error body."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details


class Unreachable(Exception):
    """The gateway did not answer."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    raise TypeError(f"not JSON: {type(value).__name__}")


def error_of(status: int, body: Any) -> GatewayError:
    """The `GatewayError` of an error body; for a failed command list, the first failed
    item's code, message and details."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return GatewayError(status, f"http_{status}", str(body)[:500], {})
    found = error.get("details")
    details: dict[str, Any] = found if isinstance(found, dict) else {}
    for item in details.get("results") or []:
        inner = item.get("error") if isinstance(item, dict) else None
        if isinstance(inner, dict) and inner.get("code"):
            more = inner.get("details")
            extra: dict[str, Any] = more if isinstance(more, dict) else {}
            merged = {**details, **extra, "item": item}
            return GatewayError(status, str(inner["code"]), str(inner.get("message") or ""),
                                merged)  # fmt: skip
    return GatewayError(status, str(error.get("code") or f"http_{status}"),
                        str(error.get("message") or ""), details)  # fmt: skip


class Gateway:
    """One gateway base URL and key; `ping_us` is the last round trip in microseconds."""

    def __init__(self, base_url: str, api_key: str, timeout_seconds: float) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the server must be the gateway's http(s) URL, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._parts = parts
        self._prefix = parts.path
        self.api_key = api_key
        self.timeout = timeout_seconds
        self.ping_us = 0
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            kind = (http.client.HTTPSConnection if self._parts.scheme == "https"
                    else http.client.HTTPConnection)  # fmt: skip
            self._conn = kind(self._parts.hostname or "", self._parts.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query)

    def post(self, path: str, body: Any, **query: Any) -> Any:
        return self.request("POST", path, query=query, body=body)

    def request(self, method: str, path: str, *, query: dict[str, Any] | None = None,
                body: Any = None) -> Any:  # fmt: skip
        """One call; a dropped kept-alive connection is reopened once (the gateway makes
        repeats of commands idempotent by their `request_id`)."""
        clean = {k: v for k, v in (query or {}).items() if v is not None}
        url = self._prefix + path + ("?" + urlencode(clean) if clean else "")
        payload = None if body is None else json.dumps(body, default=_plain).encode()
        headers = {"x-api-key": self.api_key, "accept": "application/json"}
        if payload is not None:
            headers["content-type"] = "application/json"
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                conn = self._connection()
                conn.request(method, url, body=payload, headers=headers)
                response = conn.getresponse()
                raw = response.read()
            except TimeoutError as exc:
                self.close()
                raise Unreachable(f"{self.base_url} did not answer in {self.timeout} s",
                                  timed_out=True) from exc  # fmt: skip
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if attempt == 1 and isinstance(exc, http.client.RemoteDisconnected | BrokenPipeError
                                                    | ConnectionResetError):  # fmt: skip
                    continue
                raise Unreachable(f"{self.base_url} is unreachable: {exc}") from exc
            self.ping_us = int((time.perf_counter() - started) * 1_000_000)
            return self._decode(response.status, raw)
        raise Unreachable(f"{self.base_url} is unreachable")  # pragma: no cover

    @staticmethod
    def _decode(status: int, raw: bytes) -> Any:
        try:
            body = json.loads(raw, parse_float=Decimal) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        if status >= 400:
            raise error_of(status, body)
        return body
