"""Per-account signing secrets of the signal intake: set by an admin (API or CLI), write-only,
stored like exchange credentials (`enc:v1:<Fernet>` under the master key; plaintext only where
the credential policy allows it, i.e. the embedded demo store), checked with HMAC-SHA256."""

from __future__ import annotations

from typing import TypedDict

from apps.oms.clock import iso_z, utcnow
from apps.oms.domain.access import AccountFlags, Role
from apps.oms.errors import AuthenticationFailed, ValidationFailed
from apps.oms.security import signatures
from apps.oms.security.credentials import CredentialCipher
from apps.oms.security.principal import Principal
from apps.oms.service.admin import require_account
from apps.oms.store import audit
from apps.oms.store import signals as signal_store
from apps.oms.store.audit import Actor
from apps.oms.store.store import Store

MIN_SECRET_CHARS = 32
SIGNER_FLAGS = AccountFlags(can_read=True, can_trade=True, can_close_position=True)


def signer(account_id: int) -> Principal:
    """Who a correctly signed signal acts as: a robot that may trade and close on this account
    only (user and key id 0, as the CLI operator; the signal row says `auth = signature`)."""
    return Principal(0, "signature", Role.ROBOT, 0, "signature", "signature", "signature",
                     {account_id: SIGNER_FLAGS})  # fmt: skip


def _check_secret(secret: str) -> None:
    if len(secret) < MIN_SECRET_CHARS or not secret.isascii() or not secret.isprintable():
        raise ValidationFailed(
            f"a signing secret needs at least {MIN_SECRET_CHARS} printable ASCII characters",
            details={"field": "secret"},
        )


class SecretSet(TypedDict):
    ok: bool
    account_id: int
    has_signal_secret: bool
    signal_secret_updated_at: str | None


async def set_secret(
    store: Store,
    actor: Actor,
    cipher: CredentialCipher,
    account_id: int,
    secret: str | None,
    *,
    require_encrypted: bool,
) -> SecretSet:
    """Set (or with None remove) the account's signing secret; audited, never returned."""
    stored = None
    if secret is not None:
        _check_secret(secret)
        if not cipher.available and require_encrypted:
            raise ValidationFailed(
                "signing secrets are stored encrypted and no encryption master key is set "
                "(ENCRYPTION_MASTER_KEY; make one with `ccxt-oms generate-master-key`)"
            )
        stored = cipher.encrypt(secret) if cipher.available else secret
    now = utcnow()
    async with store.transaction() as conn:
        await require_account(conn, account_id)
        existed = await signal_store.put_secret(conn, account_id, stored, now)
        await audit.record(conn, actor, action="set_signal_secret", target_type="account",
                           target_id=account_id, before={"has_signal_secret": existed},
                           after={"has_signal_secret": secret is not None})  # fmt: skip
    return {"ok": True, "account_id": account_id, "has_signal_secret": secret is not None,
            "signal_secret_updated_at": iso_z(now) if secret is not None else None}  # fmt: skip


async def verify_signed(
    store: Store, cipher: CredentialCipher, account_id: int, body: bytes, signature: str
) -> Principal:
    """The signer of `account_id` when `signature` is the HMAC of `body` under the account's
    secret; otherwise 401 `invalid_signature` (the same for an unknown account or one without
    a secret, so the answer tells nothing about either)."""
    async with store.read() as conn:
        stored = await signal_store.get_secret(conn, account_id)
    if stored is None or not signatures.verify(cipher.decrypt(stored), body, signature):
        raise AuthenticationFailed(
            "the signature does not match the body under the account's signing secret",
            code="invalid_signature",
        )
    return signer(account_id)
