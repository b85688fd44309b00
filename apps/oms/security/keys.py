"""API keys: 32 random bytes shown once, stored as HMAC-SHA256 with a server-side pepper.

Keys are high-entropy, so a keyed hash is enough and costs microseconds per request (a slow
password hash would cost milliseconds); the hash column is unique and indexed for lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_PREFIX = "oms_"
MIN_KEY_LENGTH = 32


def generate_api_key() -> str:
    """A new plain key: `oms_` + 43 URL-safe characters (32 random bytes)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(plain: str, pepper: str) -> str:
    """Hex HMAC-SHA256 of the key under the pepper (what the store keeps)."""
    return hmac.new(pepper.encode(), plain.encode(), hashlib.sha256).hexdigest()


def display_prefix(plain: str) -> str:
    """The first characters of a key, safe to show to operators."""
    return plain[:10]


def is_acceptable_custom_key(plain: str) -> bool:
    """Caller-chosen keys (`--api-key`) must be long enough to resist guessing."""
    return len(plain) >= MIN_KEY_LENGTH and plain.isprintable() and " " not in plain
