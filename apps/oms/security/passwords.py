"""Password hashing with scrypt (memory-hard; `hashlib.scrypt`, no extra dependency).

Stored as `scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>` so parameters can be raised later while
old hashes stay verifiable. Costs ~16 MB and tens of milliseconds per check: callers run it in a
thread (`asyncio.to_thread`) and throttle failures.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

LOG2_N, R, P = 14, 8, 1
SALT_BYTES, HASH_BYTES = 16, 32
MIN_LENGTH, MAX_LENGTH = 10, 256


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _derive(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=1 << log2_n, r=r, p=p,
                          maxmem=256 * 1024 * 1024, dklen=HASH_BYTES)  # fmt: skip


def password_problem(password: str) -> str | None:
    """Why a new password is unacceptable (None: acceptable)."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return f"a password needs {MIN_LENGTH} to {MAX_LENGTH} characters"
    if len(set(password)) < 4:
        return "a password needs at least 4 different characters"
    return None


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _derive(password, salt, LOG2_N, R, P)
    return f"scrypt${LOG2_N}${R}${P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str | None) -> bool:
    """Constant-time check; False for a missing or malformed stored hash."""
    if not stored:
        _derive(password, b"0" * SALT_BYTES, LOG2_N, R, P)  # same cost: no user-exists oracle
        return False
    try:
        scheme, log2_n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _derive(password, base64.b64decode(salt), int(log2_n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
