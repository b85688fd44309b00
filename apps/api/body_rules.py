"""One rule for every request body, on every endpoint (ASGI middleware, before routing).

- At most `MAX_BODY_BYTES` (1 MB): a larger body is refused with 413 `payload_too_large`
  before any of it is parsed or echoed (a declared `content-length` is refused unread).
- Bodies are JSON. A body sent without a JSON media type — none, `text/plain`, or curl's `-d`
  default `application/x-www-form-urlencoded` — is read as JSON all the same, on every endpoint
  (the reference design's clients send such requests); any other media type (`multipart/...`,
  `application/xml`, ...) is 415 `unsupported_media_type`.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apps.api.errors import error_response

MAX_BODY_BYTES = 1_000_000
#: media types read as JSON (besides `application/json` and `application/*+json`)
LENIENT_TYPES = frozenset({"", "text/plain", "application/x-www-form-urlencoded"})


def media_type(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == b"content-type":
            return value.decode("latin-1").split(";", 1)[0].strip().lower()
    return ""


def is_json(kind: str) -> bool:
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyRulesMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
        length = declared_length(headers)
        if length is not None and length > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        body, complete = await self._read(receive)
        if not complete:
            await self._too_large(scope, receive, send)
            return
        kind = media_type(headers)
        if body and not is_json(kind):
            if kind not in LENIENT_TYPES:
                response = error_response(
                    415, "unsupported_media_type",
                    f"request bodies are JSON; media type {kind!r} is not accepted",
                )
                await response(scope, receive, send)
                return
            headers = [h for h in headers if h[0].lower() != b"content-type"]
            headers.append((b"content-type", b"application/json"))
            scope = {**scope, "headers": headers}
        await self.app(scope, replay(body, receive), send)

    async def _read(self, receive: Receive) -> tuple[bytes, bool]:
        """The whole body, or (partial, False) once it passes the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # client went away: let the app see it
                return b"".join(chunks), True
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return b"", False
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), True

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, "payload_too_large", f"request body larger than {self.max_bytes} bytes"
        )
        await response(scope, receive, send)


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the buffered body over once, then defers to the real one
    (disconnects)."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again
