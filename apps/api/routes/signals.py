"""Signals from alerting tools (api.md → Signals, docs/signals.md): `POST /signals/{account_id}`
(API key, or an HMAC-SHA256 signature of the body), `GET /signals/{account_id}` (the account's
readers), and the admin's write-only signing secret `PUT /admin/accounts/{id}/signal-secret`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from pydantic import Field

from apps.api.body import parse_body, parse_json
from apps.api.deps import PrincipalDep, SettingsDep, StoreDep, client_address, get_principal
from apps.oms.config import Settings
from apps.oms.domain.access import Action
from apps.oms.errors import AuthenticationFailed, OmsError
from apps.oms.security.credentials import CredentialCipher
from apps.oms.security.principal import Principal
from apps.oms.service import signal_secrets, signals
from apps.oms.service.auth import AuthGuard
from apps.oms.service.request_model import RequestModel
from apps.oms.service.signal_models import Signal
from apps.oms.store.audit import Actor
from apps.oms.store.store import Store

router = APIRouter(tags=["signals"])
AccountId = Annotated[int, Path(ge=1, le=2**62)]
MAX_SIGNAL_BYTES = 16_384
SIGNAL_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": Signal.model_json_schema()}}}}  # fmt: skip


class SecretIn(RequestModel):
    secret: Annotated[str, Field(min_length=1, max_length=1000)] | None


def cipher_of(settings: Settings) -> CredentialCipher:
    sec = settings.security
    key = sec.encryption_master_key.get_secret_value() if sec.encryption_master_key else None
    return CredentialCipher(key, [k.get_secret_value() for k in sec.previous_master_keys])


async def _caller(
    request: Request, store: Store, settings: Settings, account_id: int, body: bytes,
    api_key: str | None, signature: str | None,
) -> tuple[Principal, signals.Auth]:  # fmt: skip
    """The API key if one is sent; else the signature; neither is 401 `missing_api_key`."""
    if api_key is not None or signature is None:
        return await get_principal(request, api_key), "api_key"
    try:
        signer = await signal_secrets.verify_signed(
            store, cipher_of(settings), account_id, body, signature
        )
    except AuthenticationFailed as exc:
        guard: AuthGuard = request.app.state.auth_guard
        guard.failed(client_address(request), f"signal:{account_id}", exc.code)
        raise
    return signer, "signature"


@router.post("/signals/{account_id}", openapi_extra=SIGNAL_BODY)
async def post_signal(
    account_id: AccountId, request: Request, store: StoreDep, settings: SettingsDep,
    x_api_key: Annotated[str | None, Header(description="API key (or sign the body)")] = None,
    x_oms_signature: Annotated[str | None, Header(
        description="hex HMAC-SHA256 of the raw body under the account's signing secret")] = None,
    signature: Annotated[str | None, Query(max_length=100, description=(
        "the same signature, for senders that cannot set headers"))] = None,
) -> dict[str, Any]:  # fmt: skip
    body = await request.body()
    if len(body) > MAX_SIGNAL_BYTES:
        raise OmsError("signal body too large", code="payload_too_large", status=413)
    principal, auth = await _caller(request, store, settings, account_id, body, x_api_key,
                                    x_oms_signature or signature)  # fmt: skip
    principal.require(Action.TRADE, account_id)
    return dict(await signals.receive(store, settings, principal, auth, account_id,
                                      parse_json(body)))


@router.get("/signals/{account_id}")
async def get_signals(
    account_id: AccountId, principal: PrincipalDep, store: StoreDep,
    status: Annotated[Literal["accepted", "shadowed", "refused"] | None, Query()] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:  # fmt: skip
    return dict(await signals.list_signals(store, principal, account_id, status=status,
                                           before_id=before_id, limit=limit))  # fmt: skip


@router.put("/admin/accounts/{account_id}/signal-secret", tags=["admin"], openapi_extra={
    "requestBody": {"required": True, "content": {
        "application/json": {"schema": SecretIn.model_json_schema()}}}})  # fmt: skip
async def put_signal_secret(
    account_id: AccountId, principal: PrincipalDep, store: StoreDep, settings: SettingsDep,
    request: Request,
) -> dict[str, Any]:  # fmt: skip
    principal.require(Action.ADMINISTER)
    body = await parse_body(request, SecretIn)
    actor = Actor(principal.user_id, principal.api_key_id, client_address(request))
    return dict(await signal_secrets.set_secret(
        store, actor, cipher_of(settings), account_id, body.secret,
        require_encrypted=settings.credentials_must_be_encrypted,
    ))  # fmt: skip
