"""`/admin/*` (role admin): accounts (credentials write-only), users, keys, key permissions
(with `allowed_functions` grants), strategies, OMS views and the audit log. The use cases live in
`service/identity_admin.py` (shared with the CLI); every mutation is audited in its transaction."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import Field

from apps.api.body import parse_body
from apps.api.deps import PrincipalDep, SettingsDep, StoreDep, client_address
from apps.oms.clock import iso_z, utcnow
from apps.oms.config import Settings
from apps.oms.domain.access import Action
from apps.oms.errors import NotFound, ValidationFailed
from apps.oms.security.credentials import CredentialCipher
from apps.oms.security.principal import Principal
from apps.oms.service import admin, identity_admin, views
from apps.oms.service.accounts import visible_accounts
from apps.oms.service.identity_admin import PermissionIn
from apps.oms.service.request_model import IsoDatetime, RequestModel
from apps.oms.service.strategies import strategy_out
from apps.oms.store import accounts as account_store
from apps.oms.store import audit, identity
from apps.oms.store import reads as reads_store
from apps.oms.store import strategies as strategy_store
from apps.oms.store.audit import Actor

router = APIRouter(prefix="/admin", tags=["admin"])
ObjectId = Annotated[int, Path(ge=1, le=2**62)]
Name = Annotated[str, Field(min_length=1, max_length=100)]
Label = Annotated[str, Field(min_length=1, max_length=200)]
RoleName = Literal["admin", "trader", "portfolio_manager", "robot", "risk", "readonly"]
Password = Annotated[str, Field(min_length=1, max_length=256)]
Secret = Annotated[str, Field(min_length=1, max_length=4000)]


def _admin(principal: Principal, request: Request) -> Actor:
    principal.require(Action.ADMINISTER)
    return Actor(principal.user_id, principal.api_key_id, client_address(request))


def _body(model: type[RequestModel]) -> dict[str, Any]:
    schema = {"application/json": {"schema": model.model_json_schema()}}
    return {"requestBody": {"required": True, "content": schema}}


def _pepper(settings: Settings) -> str:
    return settings.security.api_key_pepper.get_secret_value()


def _cipher(settings: Settings) -> CredentialCipher:
    sec = settings.security
    key = sec.encryption_master_key.get_secret_value() if sec.encryption_master_key else None
    return CredentialCipher(key, [k.get_secret_value() for k in sec.previous_master_keys])


# --- accounts -------------------------------------------------------------------------------


class CredentialsIn(RequestModel):
    api_key: Secret | None = None
    secret: Secret | None = None
    passphrase: Secret | None = None


class AccountCreate(RequestModel):
    exchange_id: Annotated[str, Field(min_length=1, max_length=64)] = "paper"
    label: Label
    position_mode: Literal["hedge", "netting", "strategy_netting"] = "hedge"
    testnet: bool = False
    live: bool = False
    credentials: CredentialsIn | None = None


class AccountPatch(RequestModel):
    label: Label | None = None
    testnet: bool | None = None
    credentials: CredentialsIn | None = None


async def _account_out(store: Any, principal: Principal, account_id: int) -> dict[str, Any]:
    [row] = await visible_accounts(store, principal, [account_id])
    return dict(row) | {"permissions": None}


@router.post("/accounts", status_code=201, openapi_extra=_body(AccountCreate))
async def create_account(principal: PrincipalDep, store: StoreDep, settings: SettingsDep,
                         request: Request) -> dict[str, Any]:  # fmt: skip
    actor = _admin(principal, request)
    body = await parse_body(request, AccountCreate)
    async with store.transaction() as conn:
        account_id = await admin.add_account(
            conn, actor, user_id=None, exchange_id=body.exchange_id, label=body.label,
            position_mode=body.position_mode, testnet=body.testnet, live=body.live,
        )  # fmt: skip
        if body.credentials is not None:
            await identity_admin.store_credentials(
                conn, actor, _cipher(settings), account_id, body.credentials.model_dump(),
                require_encrypted=settings.credentials_must_be_encrypted,
            )  # fmt: skip
    return await _account_out(store, principal, account_id)


@router.get("/accounts")
async def list_accounts(principal: PrincipalDep, store: StoreDep) -> dict[str, Any]:
    principal.require(Action.ADMINISTER)
    rows = await visible_accounts(store, principal)
    return {"items": [dict(r) | {"permissions": None} for r in rows]}


@router.patch("/accounts/{account_id}", openapi_extra=_body(AccountPatch))
async def patch_account(account_id: ObjectId, principal: PrincipalDep, store: StoreDep,
                        settings: SettingsDep, request: Request) -> dict[str, Any]:  # fmt: skip
    actor = _admin(principal, request)
    body = await parse_body(request, AccountPatch)
    if not body.model_fields_set:
        raise ValidationFailed("nothing to change: give label, testnet or credentials")
    async with store.transaction() as conn:
        before = await account_store.get_account(conn, account_id)
        if before is None:
            raise NotFound(f"account {account_id} not found", code="account_not_found")
        if body.label is not None and body.label != before.label:
            await account_store.update_account(conn, account_id, label=body.label)
            await audit.record(conn, actor, action="update_account", target_type="account",
                               target_id=account_id, before={"label": before.label},
                               after={"label": body.label})  # fmt: skip
        if body.testnet is not None:
            await admin.set_account_testnet(conn, actor, account_id=account_id,
                                            enabled=body.testnet)  # fmt: skip
        if body.credentials is not None:
            await identity_admin.store_credentials(
                conn, actor, _cipher(settings), account_id, body.credentials.model_dump(),
                require_encrypted=settings.credentials_must_be_encrypted,
            )  # fmt: skip
    return await _account_out(store, principal, account_id)


# --- users and keys -----------------------------------------------------------------------------


class UserCreate(RequestModel):
    name: Name
    role: RoleName
    password: Password | None = None


class UserPatch(RequestModel):
    name: Name | None = None
    role: RoleName | None = None
    status: Literal["active", "disabled"] | None = None
    password: Password | None = None


class KeyCreate(RequestModel):
    user_id: Annotated[int, Field(ge=1, le=2**62)]
    label: Label | None = None
    expires_at: IsoDatetime | None = None
    permissions: list[PermissionIn] = Field(default_factory=list, max_length=1000)


class UserWithKeyCreate(UserCreate):
    label: Label | None = None
    expires_at: IsoDatetime | None = None
    permissions: list[PermissionIn] = Field(default_factory=list, max_length=1000)


class KeyPatch(RequestModel):
    label: Label | None = None
    status: Literal["active", "disabled"] | None = None
    expires_at: IsoDatetime | None = None
    rotate: bool = False


class PermissionsPut(RequestModel):
    permissions: list[PermissionIn] = Field(max_length=1000)


@router.post("/users", status_code=201, openapi_extra=_body(UserCreate))
async def create_user(principal: PrincipalDep, store: StoreDep, request: Request) -> dict[str, Any]:
    actor = _admin(principal, request)
    body = await parse_body(request, UserCreate)
    async with store.transaction() as conn:
        return dict(await identity_admin.create_user(conn, actor, name=body.name, role=body.role,
                                                     password=body.password))  # fmt: skip


@router.get("/users")
async def list_users(principal: PrincipalDep, store: StoreDep) -> dict[str, Any]:
    principal.require(Action.ADMINISTER)
    async with store.read() as conn:
        rows = await identity.list_users(conn)
    return {"items": [identity_admin.user_out(r) for r in rows]}


@router.patch("/users/{user_id}", openapi_extra=_body(UserPatch))
async def patch_user(user_id: ObjectId, principal: PrincipalDep, store: StoreDep,
                     request: Request) -> dict[str, Any]:  # fmt: skip
    actor = _admin(principal, request)
    body = await parse_body(request, UserPatch)
    async with store.transaction() as conn:
        return dict(await identity_admin.update_user(conn, actor, user_id, **body.model_dump(
            exclude_unset=True)))  # fmt: skip


@router.post("/users-with-api-key", status_code=201, openapi_extra=_body(UserWithKeyCreate))
async def create_user_with_key(principal: PrincipalDep, store: StoreDep, settings: SettingsDep,
                               request: Request) -> dict[str, Any]:  # fmt: skip
    actor = _admin(principal, request)
    body = await parse_body(request, UserWithKeyCreate)
    async with store.transaction() as conn:
        user = await identity_admin.create_user(conn, actor, name=body.name, role=body.role,
                                                password=body.password)  # fmt: skip
        key = await identity_admin.create_key(
            conn, actor, pepper=_pepper(settings), user_id=user["id"], label=body.label,
            expires_at=body.expires_at, permissions=body.permissions,
        )  # fmt: skip
    return {"ok": True, "user": user, "api_key": key}


@router.get("/users-api-keys")
async def list_users_with_keys(
    principal: PrincipalDep,
    store: StoreDep,
    include_tokens: Annotated[bool, Query(description="also login tokens")] = False,
) -> dict[str, Any]:
    principal.require(Action.ADMINISTER)
    async with store.read() as conn:
        users = await identity.list_users(conn)
        keys = await identity.list_api_keys(conn, kind=None if include_tokens else "api_key")
    now = utcnow()
    by_user: dict[int, list[dict[str, Any]]] = {}
    for key in keys:
        by_user.setdefault(key.user_id, []).append(dict(identity_admin.key_out(key, now)))
    return {"items": [identity_admin.user_out(u) | {"api_keys": by_user.get(u.user_id, [])}
                      for u in users]}  # fmt: skip


@router.post("/api-keys", status_code=201, openapi_extra=_body(KeyCreate))
async def create_key(principal: PrincipalDep, store: StoreDep, settings: SettingsDep,
                     request: Request) -> dict[str, Any]:  # fmt: skip
    actor = _admin(principal, request)
    body = await parse_body(request, KeyCreate)
    async with store.transaction() as conn:
        return dict(await identity_admin.create_key(
            conn, actor, pepper=_pepper(settings), user_id=body.user_id, label=body.label,
            expires_at=body.expires_at, permissions=body.permissions,
        ))  # fmt: skip


@router.patch("/api-keys/{api_key_id}", openapi_extra=_body(KeyPatch))
async def patch_key(api_key_id: ObjectId, principal: PrincipalDep, store: StoreDep,
                    settings: SettingsDep, request: Request) -> dict[str, Any]:  # fmt: skip
    actor = _admin(principal, request)
    body = await parse_body(request, KeyPatch)
    async with store.transaction() as conn:
        return dict(await identity_admin.update_key(
            conn, actor, api_key_id, pepper=_pepper(settings),
            fields=body.model_dump(exclude_unset=True),
        ))  # fmt: skip


@router.get("/api-keys/{api_key_id}/permissions")
async def get_key_permissions(api_key_id: ObjectId, principal: PrincipalDep,
                              store: StoreDep) -> dict[str, Any]:  # fmt: skip
    principal.require(Action.ADMINISTER)
    async with store.read() as conn:
        return dict(await identity_admin.key_permissions(conn, api_key_id))


@router.put("/api-keys/{api_key_id}/permissions", openapi_extra=_body(PermissionsPut))
async def put_key_permissions(api_key_id: ObjectId, principal: PrincipalDep, store: StoreDep,
                              request: Request) -> dict[str, Any]:  # fmt: skip
    actor = _admin(principal, request)
    body = await parse_body(request, PermissionsPut)
    async with store.transaction() as conn:
        return dict(await identity_admin.replace_permissions(conn, actor, api_key_id,
                                                             body.permissions))  # fmt: skip


# --- strategies -------------------------------------------------------------------------------


ClientStrategyId = Annotated[int, Field(ge=1, le=2**62)]


class StrategyCreate(RequestModel):
    name: Label
    account_ids: list[Annotated[int, Field(ge=1, le=2**62)]] = Field(min_length=1, max_length=100)
    client_strategy_id: ClientStrategyId | None = None


class StrategyPatch(RequestModel):
    name: Label | None = None
    status: Literal["active", "disabled"] | None = None
    add_account_ids: list[Annotated[int, Field(ge=1, le=2**62)]] = Field(
        default_factory=list, max_length=100
    )


@router.post("/strategies", status_code=201, openapi_extra=_body(StrategyCreate))
async def create_strategy(principal: PrincipalDep, store: StoreDep,
                          request: Request) -> dict[str, Any]:  # fmt: skip
    actor = _admin(principal, request)
    body = await parse_body(request, StrategyCreate)
    async with store.transaction() as conn:
        strategy_id = await identity_admin.admin_create_strategy(
            conn, actor, name=body.name, account_ids=body.account_ids,
            client_strategy_id=body.client_strategy_id,
        )  # fmt: skip
    return {"ok": True, "strategy_id": strategy_id}


@router.get("/strategies")
async def list_strategies(principal: PrincipalDep, store: StoreDep) -> dict[str, Any]:
    principal.require(Action.ADMINISTER)
    async with store.read() as conn:
        rows = await strategy_store.list_for_accounts(conn, None)
    return {"items": [strategy_out(r) for r in rows]}


@router.patch("/strategies/{strategy_id}", openapi_extra=_body(StrategyPatch))
async def patch_strategy(strategy_id: ObjectId, principal: PrincipalDep, store: StoreDep,
                         request: Request) -> dict[str, Any]:  # fmt: skip
    actor = _admin(principal, request)
    body = await parse_body(request, StrategyPatch)
    async with store.transaction() as conn:
        out = await identity_admin.admin_update_strategy(
            conn, actor, strategy_id, name=body.name, status=body.status,
            add_account_ids=body.add_account_ids,
        )  # fmt: skip
    return {} if out is None else dict(out)


# --- OMS views and audit --------------------------------------------------------------------


VIEWS: dict[str, Any] = {
    "orders": views.order_view,
    "deals": views.deal_view,
    "positions": views.position_view,
    "commands": views.command_view,
}


@router.get("/oms/{view}")
async def oms_view(
    view: Literal["orders", "deals", "positions", "commands"],
    principal: PrincipalDep,
    store: StoreDep,
    account_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Newest rows of one OMS table across every account (read-only: books are corrected by
    commands and reassign, never by row edits)."""
    principal.require(Action.ADMINISTER)
    shape = VIEWS[view]
    async with store.read() as conn:
        rows = await reads_store.newest_rows(conn, view, account_id, limit)
    return {"view": view, "items": [shape(r) for r in rows]}


@router.get("/audit")
async def list_audit(
    principal: PrincipalDep,
    store: StoreDep,
    action: Annotated[str | None, Query(max_length=64)] = None,
    target_type: Annotated[str | None, Query(max_length=32)] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    actor_user_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    actor_api_key_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    start_date: date | None = None,
    end_date: date | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 100,
    limit: Annotated[int | None, Query(ge=1, le=1000, description="compat: page_size")] = None,
) -> dict[str, Any]:
    principal.require(Action.ADMINISTER)
    if (start_date is None) != (end_date is None):
        raise ValidationFailed("give both start_date and end_date, or neither")
    if start_date and end_date and end_date < start_date:
        raise ValidationFailed("end_date is before start_date")
    size = limit or page_size
    since = datetime(start_date.year, start_date.month, start_date.day, tzinfo=UTC) if start_date else None
    until = (datetime(end_date.year, end_date.month, end_date.day, tzinfo=UTC) + timedelta(days=1)
             if end_date else None)  # fmt: skip
    async with store.read() as conn:
        rows, total = await audit.search_entries(
            conn, limit=size, offset=(page - 1) * size, since=since, until=until,
            action=action, target_type=target_type, target_id=target_id,
            actor_user_id=actor_user_id, actor_api_key_id=actor_api_key_id,
        )  # fmt: skip
    items = [r | {"created_at": iso_z(r["created_at"])} for r in rows]
    return {"items": items, "total": total, "page": page, "page_size": size}
