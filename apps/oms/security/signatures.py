"""HMAC-SHA256 signatures of webhook bodies (signals from senders that cannot set an API key).

The signature is the lower- or upper-case hex HMAC-SHA256 of the exact request body bytes under
the account's signing secret, optionally prefixed `sha256=` (GitHub style). Compared in
constant time."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The hex signature a sender puts in `x-oms-signature` (or `?signature=`)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, given: str) -> bool:
    """Whether `given` is the signature of `body` under `secret` (constant-time comparison)."""
    text = given.strip()
    if text.lower().startswith(PREFIX):
        text = text[len(PREFIX) :]
    if len(text) != 64:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), text.lower().encode())
