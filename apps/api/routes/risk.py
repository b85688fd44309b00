"""Risk actions (api.md → Risk): `GET /oms/risk/{id}/strategies`, `POST …/allow_new_positions`,
`POST …/strategies/allow_new_positions`, `POST …/status`, `POST …/shadow`,
`POST …/strategies/shadow`. Limits live in `routes/strategies.py`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Request
from pydantic import Field

from apps.api.body import parse_body, parse_json, validate
from apps.api.deps import PrincipalDep, SettingsDep, StoreDep, client_address
from apps.api.routes.signals import cipher_of
from apps.oms.domain.exposure import ExposureLimits
from apps.oms.errors import AuthenticationFailed, OmsError
from apps.oms.security.principal import Principal
from apps.oms.service import breakers, exposure, kill_switch, kill_webhook, risk_actions
from apps.oms.service.auth import AuthGuard
from apps.oms.service.command_models import PositiveDecimal
from apps.oms.service.request_model import MandatoryComment, RequestModel
from apps.oms.store.audit import Actor

router = APIRouter(tags=["risk"])
AccountId = Annotated[int, Path(ge=1, le=2**62)]
Comment = MandatoryComment


class AllowNewIn(RequestModel):
    allow_new_positions: bool
    comment: Comment


class StrategyAllowNewIn(AllowNewIn):
    strategy_id: Annotated[int, Field(ge=1, le=2**62, strict=True)]


class ShadowIn(RequestModel):
    shadow: bool
    comment: Comment


class StrategyShadowIn(ShadowIn):
    strategy_id: Annotated[int, Field(ge=1, le=2**62, strict=True)]


class StatusIn(RequestModel):
    status: Literal["active", "blocked"]
    comment: Comment


def actor(principal: Principal, request: Request) -> Actor:
    return Actor(principal.user_id, principal.api_key_id, client_address(request))


def _body(model: type[RequestModel]) -> dict[str, Any]:
    schema = {"application/json": {"schema": model.model_json_schema()}}
    return {"requestBody": {"required": True, "content": schema}}


@router.get("/oms/risk/{account_id}/strategies")
async def risk_strategies(
    account_id: AccountId, principal: PrincipalDep, store: StoreDep
) -> dict[str, Any]:
    return dict(await risk_actions.strategies_of(store, principal, account_id))


@router.post("/oms/risk/{account_id}/allow_new_positions", openapi_extra=_body(AllowNewIn))
async def allow_new_positions(
    account_id: AccountId, principal: PrincipalDep, store: StoreDep, request: Request
) -> dict[str, Any]:
    body = await parse_body(request, AllowNewIn)
    return dict(await risk_actions.set_account_allow_new(
        store, principal, actor(principal, request), account_id, body.allow_new_positions,
        body.comment,
    ))  # fmt: skip


@router.post(
    "/oms/risk/{account_id}/strategies/allow_new_positions",
    openapi_extra=_body(StrategyAllowNewIn),
)
async def strategy_allow_new_positions(
    account_id: AccountId, principal: PrincipalDep, store: StoreDep, request: Request
) -> dict[str, Any]:
    body = await parse_body(request, StrategyAllowNewIn)
    return dict(await risk_actions.set_strategy_allow_new(
        store, principal, actor(principal, request), account_id, body.strategy_id,
        body.allow_new_positions, body.comment,
    ))  # fmt: skip


@router.post("/oms/risk/{account_id}/status", openapi_extra=_body(StatusIn))
async def account_status(
    account_id: AccountId, principal: PrincipalDep, store: StoreDep, request: Request
) -> dict[str, Any]:
    body = await parse_body(request, StatusIn)
    return dict(await risk_actions.set_account_status(
        store, principal, actor(principal, request), account_id, body.status, body.comment
    ))


@router.post("/oms/risk/{account_id}/shadow", openapi_extra=_body(ShadowIn))
async def account_shadow(
    account_id: AccountId, principal: PrincipalDep, store: StoreDep, request: Request
) -> dict[str, Any]:
    body = await parse_body(request, ShadowIn)
    return dict(await risk_actions.set_account_shadow(
        store, principal, actor(principal, request), account_id, body.shadow, body.comment
    ))


@router.post("/oms/risk/{account_id}/strategies/shadow", openapi_extra=_body(StrategyShadowIn))
async def strategy_shadow(
    account_id: AccountId, principal: PrincipalDep, store: StoreDep, request: Request
) -> dict[str, Any]:
    body = await parse_body(request, StrategyShadowIn)
    return dict(await risk_actions.set_strategy_shadow(
        store, principal, actor(principal, request), account_id, body.strategy_id, body.shadow,
        body.comment,
    ))  # fmt: skip


class BreakerLiftIn(RequestModel):
    strategy_id: Annotated[int, Field(ge=0, le=2**62, strict=True)] = 0
    comment: Comment


@router.get("/oms/risk/{account_id}/breakers")
async def loss_breakers(
    account_id: AccountId, principal: PrincipalDep, store: StoreDep
) -> dict[str, Any]:
    """The account's loss breakers: day, baseline, peak equity, state and what tripped it."""
    return dict(await breakers.breakers_of(store, principal, account_id))


@router.post("/oms/risk/{account_id}/breakers/lift", openapi_extra=_body(BreakerLiftIn))
async def lift_breaker(
    account_id: AccountId, principal: PrincipalDep, store: StoreDep, request: Request
) -> dict[str, Any]:
    """Re-arm a tripped loss breaker of the account (0) or a strategy (the risk role only)."""
    body = await parse_body(request, BreakerLiftIn)
    return dict(await breakers.lift(
        store, principal, actor(principal, request), account_id, body.strategy_id, body.comment
    ))


class ExposureIn(RequestModel):
    max_gross_exposure: PositiveDecimal | None = None
    max_net_exposure: PositiveDecimal | None = None
    comment: Comment


UserId = Annotated[int, Path(ge=1, le=2**62)]


@router.get("/oms/risk/users/{user_id}/exposure")
async def user_exposure_limits(
    user_id: UserId, principal: PrincipalDep, store: StoreDep
) -> dict[str, Any]:
    """A user's gross and net exposure limits across the accounts their keys trade."""
    return dict(await exposure.get_limits(store, principal, user_id))


@router.put("/oms/risk/users/{user_id}/exposure", openapi_extra=_body(ExposureIn))
async def set_user_exposure_limits(
    user_id: UserId, principal: PrincipalDep, store: StoreDep, request: Request
) -> dict[str, Any]:
    """Replace a user's exposure limits (omitted = no limit); the risk role only."""
    body = await parse_body(request, ExposureIn)
    return dict(await exposure.put_limits(
        store, principal, actor(principal, request), user_id,
        ExposureLimits(body.max_gross_exposure, body.max_net_exposure), body.comment,
    ))  # fmt: skip


KillScope = Literal["key", "strategy", "account", "user", "all"]


class KillIn(RequestModel):
    scope: KillScope
    id: Annotated[int, Field(ge=1, le=2**62, strict=True)] | None = None
    flatten: bool = False
    comment: Comment


class LiftIn(RequestModel):
    scope: KillScope
    id: Annotated[int, Field(ge=1, le=2**62, strict=True)] | None = None
    comment: Comment


@router.post("/oms/risk/kill", openapi_extra=_body(KillIn))
async def kill(principal: PrincipalDep, store: StoreDep, request: Request) -> dict[str, Any]:
    """Halt a scope: refuse its new commands, cancel its working orders, flatten if asked."""
    body = await parse_body(request, KillIn)
    return dict(await kill_switch.engage(
        store, principal, actor(principal, request), scope=body.scope, scope_id=body.id,
        flatten=body.flatten, comment=body.comment,
    ))  # fmt: skip


@router.post("/oms/risk/kill/lift", openapi_extra=_body(LiftIn))
async def lift_kill(principal: PrincipalDep, store: StoreDep, request: Request) -> dict[str, Any]:
    """Lift the scope's active halts (the risk role only)."""
    body = await parse_body(request, LiftIn)
    return dict(await kill_switch.lift(
        store, principal, actor(principal, request), scope=body.scope, scope_id=body.id,
        comment=body.comment,
    ))  # fmt: skip


class WebhookSecretIn(RequestModel):
    secret: Annotated[str, Field(min_length=1, max_length=1000)] | None


@router.put("/oms/risk/kill/webhook-secret", openapi_extra=_body(WebhookSecretIn))
async def kill_webhook_secret(
    principal: PrincipalDep, store: StoreDep, settings: SettingsDep, request: Request
) -> dict[str, Any]:
    """Set (null: remove) the calling key's kill switch webhook secret (write-only)."""
    body = await parse_body(request, WebhookSecretIn)
    return dict(await kill_webhook.set_secret(
        store, principal, actor(principal, request), cipher_of(settings), body.secret,
        require_encrypted=settings.credentials_must_be_encrypted,
    ))  # fmt: skip


KEY_ID = Annotated[int, Path(ge=1, le=2**62)]
MAX_WEBHOOK_BYTES = 4096


@router.post("/oms/risk/kill/webhook/{api_key_id}",
             openapi_extra=_body(kill_webhook.WebhookCall))  # fmt: skip
async def kill_by_webhook(
    api_key_id: KEY_ID, request: Request, store: StoreDep, settings: SettingsDep,
    x_oms_signature: Annotated[str | None, Header(description=(
        "hex HMAC-SHA256 of the raw body under the key's kill webhook secret"))] = None,
) -> dict[str, Any]:  # fmt: skip
    """Engage the kill switch as the key whose webhook secret signed the body."""
    raw = await request.body()
    if len(raw) > MAX_WEBHOOK_BYTES:
        raise OmsError("webhook body too large", code="payload_too_large", status=413)
    try:
        return dict(await kill_webhook.receive(
            store, settings, cipher_of(settings), api_key_id, raw,
            validate(kill_webhook.WebhookCall, parse_json(raw)), x_oms_signature,
            client_address(request),
        ))  # fmt: skip
    except AuthenticationFailed as exc:
        guard: AuthGuard = request.app.state.auth_guard
        guard.failed(client_address(request), f"kill-webhook:{api_key_id}", exc.code)
        raise


@router.get("/oms/risk/kill")
async def halts(principal: PrincipalDep, store: StoreDep) -> dict[str, Any]:
    """Active halts (the risk role sees all; other keys those that cover them)."""
    return dict(await kill_switch.active_halts(store, principal))
