"""The kill switch's signed webhook (issue 53): an alerting system, a monitor or a phone's
shortcut engages the kill switch without holding an API key, by signing the call with a secret
the key's owner set for it. The call then acts as that key: the kill switch's own rules decide
what it may halt (the risk role, `can_risk_manage` + `can_block_account` on every account of
the scope), and it is audited as that key with the client address `webhook`.

    PUT  /oms/risk/kill/webhook-secret      {"secret": "…"}  (the calling key's own; null removes)
    POST /oms/risk/kill/webhook/{api_key_id}
         x-oms-signature: <hex HMAC-SHA256 of the raw body under the key's secret>
         {"scope": "account", "id": 1, "flatten": false, "comment": "…",
          "timestamp": "2026-11-27T09:00:00Z"}

Replays are refused: the timestamp must be within `signals.timestamp_window_seconds` of now
and newer than every call accepted before under that secret (409 `webhook_replayed`).
A wrong signature, an unknown key or a key without a secret is 401 `invalid_signature`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal, TypedDict

from pydantic import Field

from apps.oms.clock import iso_z, utcnow
from apps.oms.config import Settings
from apps.oms.domain.signals import freshness
from apps.oms.errors import AuthenticationFailed, Conflict, ValidationFailed
from apps.oms.security import signatures
from apps.oms.security.credentials import CredentialCipher
from apps.oms.security.principal import Principal
from apps.oms.service import kill_switch
from apps.oms.service.auth import principal_of_key
from apps.oms.service.request_model import MandatoryComment, RequestModel
from apps.oms.service.signal_models import Timestamp
from apps.oms.store import audit
from apps.oms.store import kill_webhooks as webhook_store
from apps.oms.store.audit import Actor
from apps.oms.store.store import Store

MIN_SECRET_CHARS = 32


class WebhookCall(RequestModel):
    scope: Literal["key", "strategy", "account", "user", "all"]
    id: Annotated[int, Field(ge=1, le=2**62, strict=True)] | None = None
    flatten: bool = False
    comment: MandatoryComment
    timestamp: Timestamp  # ISO 8601 with a zone, or epoch seconds / milliseconds


class SecretSet(TypedDict):
    ok: bool
    api_key_id: int
    has_kill_webhook_secret: bool
    updated_at: str | None


async def set_secret(
    store: Store, principal: Principal, actor: Actor, cipher: CredentialCipher,
    secret: str | None, *, require_encrypted: bool,
) -> SecretSet:  # fmt: skip
    """Set (or with None remove) the calling key's webhook secret; audited, never returned."""
    if secret is not None and (len(secret) < MIN_SECRET_CHARS or not secret.isascii()
                               or not secret.isprintable()):  # fmt: skip
        raise ValidationFailed(
            f"a signing secret needs at least {MIN_SECRET_CHARS} printable ASCII characters",
            details={"field": "secret"})  # fmt: skip
    if secret is not None and not cipher.available and require_encrypted:
        raise ValidationFailed("signing secrets are stored encrypted and no encryption master "
                               "key is set (ENCRYPTION_MASTER_KEY)")  # fmt: skip
    now = utcnow()
    async with store.transaction() as conn:
        if secret is None:
            had = await webhook_store.get_secret(conn, principal.api_key_id) is not None
            await webhook_store.put_secret(conn, principal.api_key_id, "", now)
        else:
            stored = cipher.encrypt(secret) if cipher.available else secret
            had = await webhook_store.put_secret(conn, principal.api_key_id, stored, now)
        await audit.record(conn, actor, action="set_kill_webhook_secret", target_type="api_key",
                           target_id=principal.api_key_id,
                           before={"has_kill_webhook_secret": had},
                           after={"has_kill_webhook_secret": secret is not None})  # fmt: skip
    return {"ok": True, "api_key_id": principal.api_key_id,
            "has_kill_webhook_secret": secret is not None,
            "updated_at": iso_z(now) if secret is not None else None}  # fmt: skip


async def receive(
    store: Store, settings: Settings, cipher: CredentialCipher, api_key_id: int, raw: bytes,
    call: WebhookCall, signature: str | None, client: str | None,
) -> kill_switch.Engaged:  # fmt: skip
    """Verify the call (`raw`: the body as received, `call`: as validated at the edge, a
    malformed one 422 before its signature is looked at), refuse a replay, and engage the kill
    switch as the signing key."""
    async with store.read() as conn:
        stored = await webhook_store.get_secret(conn, api_key_id)
    if not stored or signature is None or not signatures.verify(cipher.decrypt(stored), raw,
                                                                signature):  # fmt: skip
        raise AuthenticationFailed("the signature does not match the body under the key's "
                                   "kill webhook secret", code="invalid_signature")  # fmt: skip
    principal = await principal_of_key(store, api_key_id)
    window = settings.signals.timestamp_window_seconds
    sent_at = call.timestamp
    if freshness(sent_at, utcnow(), timedelta(seconds=window)) is not None:
        raise ValidationFailed(f"timestamp {iso_z(sent_at)} is more than {window:g} s from the "
                               "server's clock", details={"field": "timestamp"})  # fmt: skip
    async with store.transaction() as conn:
        if not await webhook_store.advance(conn, api_key_id, sent_at):
            raise Conflict("a call with this or a newer timestamp was already received",
                           code="webhook_replayed")  # fmt: skip
    actor = Actor(principal.user_id, principal.api_key_id, f"webhook {client or ''}".strip())
    return await kill_switch.engage(store, principal, actor, scope=call.scope, scope_id=call.id,
                                    flatten=call.flatten, comment=call.comment)  # fmt: skip
