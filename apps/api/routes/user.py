"""`/user/*`: the caller's own profile, password, API keys and their permissions.

A user creates keys for itself with at most the rights of the key it calls with (an admin: any
rights, but admins never trade whatever their keys say)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import Field

from apps.api.body import parse_body
from apps.api.deps import PrincipalDep, SettingsDep, StoreDep, client_address
from apps.api.schemas import ApiKeyInfo, Profile
from apps.oms.security.principal import Principal
from apps.oms.service import identity_admin, sessions
from apps.oms.service.identity_admin import PermissionIn
from apps.oms.service.request_model import IsoDatetime, RequestModel
from apps.oms.store import identity
from apps.oms.store.audit import Actor

router = APIRouter(tags=["user"])
KeyId = Annotated[int, Path(ge=1, le=2**62)]
Label = Annotated[str, Field(min_length=1, max_length=200)]


class ProfilePatch(RequestModel):
    name: Annotated[str, Field(min_length=1, max_length=100)]


class PasswordIn(RequestModel):
    current_password: Annotated[str, Field(max_length=256)] | None = None
    new_password: Annotated[str, Field(min_length=1, max_length=256)]


class OwnKeyCreate(RequestModel):
    label: Label | None = None
    expires_at: IsoDatetime | None = None
    permissions: list[PermissionIn] = Field(default_factory=list, max_length=1000)


class OwnKeyPatch(RequestModel):
    label: Label | None = None
    status: Literal["active", "disabled"] | None = None
    expires_at: IsoDatetime | None = None
    rotate: bool = False


def _body(model: type[RequestModel]) -> dict[str, Any]:
    schema = {"application/json": {"schema": model.model_json_schema()}}
    return {"requestBody": {"required": True, "content": schema}}


def _actor(principal: Principal, request: Request) -> Actor:
    return Actor(principal.user_id, principal.api_key_id, client_address(request))


def _profile(principal: Principal, name: str | None = None) -> Profile:
    return Profile(
        user_id=principal.user_id,
        name=name or principal.user_name,
        role=principal.role.value,
        api_key=ApiKeyInfo(
            id=principal.api_key_id,
            label=principal.key_label,
            prefix=principal.key_prefix,
            kind=principal.key_kind,
        ),
    )


@router.get("/user/profile", response_model=Profile)
async def profile(principal: PrincipalDep) -> Profile:
    return _profile(principal)


@router.patch("/user/profile", response_model=Profile, openapi_extra=_body(ProfilePatch))
async def patch_profile(principal: PrincipalDep, store: StoreDep, request: Request) -> Profile:
    body = await parse_body(request, ProfilePatch)
    async with store.transaction() as conn:
        user = await identity_admin.update_user(
            conn, _actor(principal, request), principal.user_id, name=body.name
        )
    return _profile(principal, user["name"])


@router.post("/user/password", openapi_extra=_body(PasswordIn))
async def change_password(principal: PrincipalDep, store: StoreDep,
                          request: Request) -> dict[str, Any]:  # fmt: skip
    body = await parse_body(request, PasswordIn)
    return dict(await sessions.change_password(
        store, principal, _actor(principal, request), body.current_password, body.new_password
    ))


@router.get("/user/api-keys")
async def own_keys(principal: PrincipalDep, store: StoreDep) -> dict[str, Any]:
    async with store.read() as conn:
        rows = await identity.list_api_keys(conn, user_id=principal.user_id, kind=None)
    return {"items": [identity_admin.key_out(r) for r in rows]}


@router.post("/user/api-keys", status_code=201, openapi_extra=_body(OwnKeyCreate))
async def create_own_key(principal: PrincipalDep, store: StoreDep, settings: SettingsDep,
                         request: Request) -> dict[str, Any]:  # fmt: skip
    body = await parse_body(request, OwnKeyCreate)
    sessions.check_delegation(principal, body.permissions)
    async with store.transaction() as conn:
        return dict(await identity_admin.create_key(
            conn, _actor(principal, request),
            pepper=settings.security.api_key_pepper.get_secret_value(),
            user_id=principal.user_id, label=body.label, expires_at=body.expires_at,
            permissions=body.permissions,
        ))  # fmt: skip


@router.patch("/user/api-keys/{api_key_id}", openapi_extra=_body(OwnKeyPatch))
async def patch_own_key(api_key_id: KeyId, principal: PrincipalDep, store: StoreDep,
                        settings: SettingsDep, request: Request) -> dict[str, Any]:  # fmt: skip
    body = await parse_body(request, OwnKeyPatch)
    async with store.transaction() as conn:
        await sessions.own_key(conn, principal, api_key_id)
        return dict(await identity_admin.update_key(
            conn, _actor(principal, request), api_key_id,
            pepper=settings.security.api_key_pepper.get_secret_value(),
            fields=body.model_dump(exclude_unset=True),
        ))  # fmt: skip


@router.get("/user/api-keys/permissions")
async def own_permissions(principal: PrincipalDep) -> dict[str, Any]:
    """The calling key's grants (what it may do, per account)."""
    return {
        "api_key_id": principal.api_key_id,
        "role": principal.role.value,
        "items": [identity_admin.permission_out(a, f) for a, f in sorted(principal.grants.items())],
    }


@router.get("/user/api-keys/{api_key_id}/permissions")
async def own_key_permissions(api_key_id: KeyId, principal: PrincipalDep,
                              store: StoreDep) -> dict[str, Any]:  # fmt: skip
    async with store.read() as conn:
        await sessions.own_key(conn, principal, api_key_id)
        return dict(await identity_admin.key_permissions(conn, api_key_id))
