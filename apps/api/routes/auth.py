"""`POST /auth/login-password` (no key needed) and `POST /auth/logout` (revokes the token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import Field

from apps.api.body import parse_body
from apps.api.deps import PrincipalDep, SettingsDep, StoreDep, client_address
from apps.oms.service import sessions
from apps.oms.service.auth import AuthGuard
from apps.oms.service.request_model import RequestModel
from apps.oms.store.audit import Actor

router = APIRouter(tags=["auth"])


class LoginIn(RequestModel):
    user_name: Annotated[str, Field(min_length=1, max_length=100)]
    password: Annotated[str, Field(min_length=1, max_length=256)]
    api_key_id: Annotated[int, Field(ge=1, le=2**62)] | None = None


@router.post(
    "/auth/login-password",
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": LoginIn.model_json_schema()}}}},
)  # fmt: skip
async def login_password(request: Request, store: StoreDep, settings: SettingsDep) -> Any:
    """A short-lived token usable as `x-api-key` (valid `security.login_token_hours`)."""
    body = await parse_body(request, LoginIn)
    guard: AuthGuard = request.app.state.auth_guard
    return await sessions.login(
        store, settings.security.api_key_pepper.get_secret_value(), guard,
        client_address(request), user_name=body.user_name, password=body.password,
        api_key_id=body.api_key_id, token_hours=settings.security.login_token_hours,
    )  # fmt: skip


@router.post("/auth/logout")
async def logout(principal: PrincipalDep, store: StoreDep, request: Request) -> dict[str, Any]:
    actor = Actor(principal.user_id, principal.api_key_id, client_address(request))
    return dict(await sessions.logout(store, principal, actor))
