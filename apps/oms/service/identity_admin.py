"""Identity and administration use cases behind `/admin/*`, `/user/*`, `/auth/*` and the CLI.

Every mutation writes its audit row in the same transaction. Plain keys and tokens are returned
once; credentials are write-only (`has_credentials`, `credentials_updated_at`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal, NotRequired, TypedDict, cast

from pydantic import Field, field_validator

from apps.oms.clock import iso_z, utcnow
from apps.oms.domain.access import AccountFlags
from apps.oms.domain.changes import UNSET, given, or_unset
from apps.oms.errors import Conflict, NotFound, ValidationFailed
from apps.oms.exchange.ccxt.functions import FunctionClass, classify
from apps.oms.security.credentials import CredentialCipher, is_encrypted
from apps.oms.security.keys import display_prefix, generate_api_key, hash_api_key
from apps.oms.security.passwords import hash_password, password_problem
from apps.oms.service import admin
from apps.oms.service.request_model import RequestModel
from apps.oms.service.strategies import StrategyOut, strategy_out
from apps.oms.store import audit, identity
from apps.oms.store import strategies as strategy_store
from apps.oms.store.audit import Actor
from apps.oms.store.boundary import Connection
from apps.oms.store.records import KeyRecord, UserRecord

UserStatus = Literal["active", "disabled"]
Id = Field(ge=1, le=2**62)


class PermissionIn(RequestModel):
    """One key's flags on one account (the single permission layer of security.md)."""

    account_id: int = Id
    can_read: bool = True
    can_trade: bool = False
    can_close_position: bool = False
    can_risk_manage: bool = False
    can_block_new_positions: bool = False
    can_block_account: bool = False
    restrict_to_strategies: bool = False
    strategy_ids: list[int] = Field(default_factory=list, max_length=1000)
    allowed_functions: list[str] = Field(default_factory=list, max_length=100)

    @field_validator("strategy_ids")
    @classmethod
    def _positive(cls, ids: list[int]) -> list[int]:
        if any(i < 1 for i in ids):
            raise ValueError("strategy ids are positive integers")
        return ids

    @field_validator("allowed_functions")
    @classmethod
    def _restricted_only(cls, names: list[str]) -> list[str]:
        """Grants name restricted CCXT functions (snake_case); reads and trades need none,
        refused functions cannot be granted."""
        out = []
        for name in names:
            spec = classify(name)
            if spec.klass is not FunctionClass.RESTRICTED:
                raise ValueError(
                    f"{name!r} is a {spec.klass.value} function; allowed_functions grants only "
                    "restricted functions (withdraw, transfer, set_leverage, private_*...)"
                )
            out.append(spec.name)
        return sorted(set(out))

    def flags(self) -> AccountFlags:
        restricted = self.restrict_to_strategies or bool(self.strategy_ids)
        return AccountFlags(
            can_read=self.can_read,
            can_trade=self.can_trade,
            can_close_position=self.can_close_position,
            can_risk_manage=self.can_risk_manage,
            can_block_new_positions=self.can_block_new_positions,
            can_block_account=self.can_block_account,
            restrict_to_strategies=restricted,
            strategy_ids=frozenset(self.strategy_ids),
            allowed_functions=frozenset(self.allowed_functions),
        )


class PermissionOut(TypedDict):
    """A key's grant on one account (its flags are `identity.FLAG_COLUMNS`)."""

    account_id: int
    can_read: bool
    can_trade: bool
    can_close_position: bool
    can_risk_manage: bool
    can_block_new_positions: bool
    can_block_account: bool
    restrict_to_strategies: bool
    strategy_ids: list[int]
    allowed_functions: list[str]


class KeyPermissions(TypedDict):
    api_key_id: int
    items: list[PermissionOut]


class KeyOut(TypedDict):
    """An API key (or login token) on the wire; its secret only when just made or rotated."""

    id: int
    user_id: int
    user_name: str | None
    kind: str
    label: str | None
    prefix: str
    status: str
    usable: bool
    expires_at: str | None
    last_used_at: str | None
    revoked_at: str | None
    created_at: str | None
    api_key: NotRequired[str]


class UserOut(TypedDict):
    id: int
    name: str
    role: str
    status: str
    has_password: bool
    created_at: str | None


def permission_out(account_id: int, flags: AccountFlags) -> PermissionOut:
    # the flag columns by name, in their order (`identity.FLAG_COLUMNS`: PermissionOut's)
    return cast(PermissionOut, {"account_id": account_id} | {
        name: getattr(flags, name) for name in identity.FLAG_COLUMNS
    } | {"strategy_ids": sorted(flags.strategy_ids),
         "allowed_functions": sorted(flags.allowed_functions)})  # fmt: skip


def key_out(row: KeyRecord, now: datetime | None = None) -> KeyOut:
    return {
        "id": row.api_key_id,
        "user_id": row.user_id,
        "user_name": row.user_name,
        "kind": row.kind,
        "label": row.label,
        "prefix": row.key_prefix,
        "status": row.status,
        "usable": row.usable(now or utcnow()),
        "expires_at": iso_z(row.expires_at),
        "last_used_at": iso_z(row.last_used_at),
        "revoked_at": iso_z(row.revoked_at),
        "created_at": iso_z(row.created_at),
    }


def user_out(row: UserRecord) -> UserOut:
    return {
        "id": row.user_id,
        "name": row.name,
        "role": row.role,
        "status": row.status,
        "has_password": row.has_password,
        "created_at": iso_z(row.created_at),
    }


async def _hash_new_password(password: str) -> str:
    problem = password_problem(password)
    if problem is not None:
        raise ValidationFailed(problem, details={"field": "password"})
    return await asyncio.to_thread(hash_password, password)


async def require_user(conn: Connection, user_id: int) -> UserRecord:
    row = await identity.get_user(conn, user_id)
    if row is None:
        raise NotFound(f"user {user_id} not found", code="not_found")
    return row


async def require_key(conn: Connection, api_key_id: int) -> KeyRecord:
    row = await identity.get_api_key_info(conn, api_key_id)
    if row is None:
        raise NotFound(f"API key {api_key_id} not found", code="not_found")
    return row


# --- users ---------------------------------------------------------------------------------------


async def create_user(
    conn: Connection, actor: Actor, *, name: str, role: str, password: str | None = None
) -> UserOut:
    password_hash = None if password is None else await _hash_new_password(password)
    user_id = await admin.create_user(conn, actor, name=name, role=admin.parse_role(role))
    if password_hash is not None:
        await identity.update_user(conn, user_id, password_hash=password_hash)
    return user_out(await require_user(conn, user_id))


async def update_user(
    conn: Connection,
    actor: Actor,
    user_id: int,
    *,
    role: str | None = None,
    status: UserStatus | None = None,
    password: str | None = None,
    name: str | None = None,
) -> UserOut:
    before = await require_user(conn, user_id)
    new_role = None if role is None else admin.parse_role(role)
    new_name = None if name == before.name else name
    if new_name is not None:
        await _check_new_user_name(conn, new_name)
    if (new_role, status, new_name, password) == (None, None, None, None):
        raise ValidationFailed("nothing to change")
    await identity.update_user(
        conn, user_id, role=or_unset(new_role), status=or_unset(status), name=or_unset(new_name),
        password_hash=UNSET if password is None else await _hash_new_password(password),
    )  # fmt: skip
    shown = given(role=UNSET if new_role is None else new_role.value, status=or_unset(status),
                  name=or_unset(new_name))  # fmt: skip
    await audit.record(
        conn, actor, action="update_user", target_type="user", target_id=user_id,
        before={k: getattr(before, k) for k in shown},
        after=shown | ({"password": "changed"} if password is not None else {}),
    )  # fmt: skip
    return user_out(await require_user(conn, user_id))


async def _check_new_user_name(conn: Connection, name: str) -> None:
    if not admin.USER_NAME.match(name):
        raise ValidationFailed("user name must be 1-100 characters of letters, digits and _.@-")
    if await identity.find_user_by_name(conn, name) is not None:
        raise Conflict(f"user {name!r} already exists")


# --- keys ----------------------------------------------------------------------------------------


async def create_key(
    conn: Connection,
    actor: Actor,
    *,
    pepper: str,
    user_id: int,
    label: str | None,
    expires_at: datetime | None = None,
    permissions: list[PermissionIn] | None = None,
) -> KeyOut:
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationFailed("expires_at must be in the future")
    new = await admin.create_api_key(conn, actor, pepper=pepper, user_id=user_id, label=label)
    if expires_at is not None:
        await identity.update_api_key(conn, new.id, expires_at=expires_at)
    for item in permissions or []:
        await admin.set_permission(
            conn, actor, api_key_id=new.id, account_id=item.account_id, flags=item.flags()
        )
    out = key_out(await require_key(conn, new.id))
    out["api_key"] = new.plain
    return out


async def update_key(
    conn: Connection,
    actor: Actor,
    api_key_id: int,
    *,
    pepper: str,
    fields: Mapping[str, Any],
) -> KeyOut:
    """Change `label`, `status` (active/disabled), `expires_at` (null: never; a past time
    expires at once) and/or `rotate: true` (a new secret for the same key id and grants; the
    old one stops working at once). Only the fields present in `fields` change."""
    before = await require_key(conn, api_key_id)
    label = fields.get("label", UNSET)
    status = or_unset(fields.get("status"))
    expires_at = fields.get("expires_at", UNSET)
    key_hash = key_prefix = plain = None
    if fields.get("rotate"):
        if before.kind != "api_key":
            raise ValidationFailed("login tokens are not rotated; log in again")
        plain = generate_api_key()
        key_hash, key_prefix = hash_api_key(plain, pepper), display_prefix(plain)
    after = given(label=label, status=status,
                  expires_at=UNSET if expires_at is UNSET else iso_z(expires_at),
                  ) | ({"rotated": True} if plain else {})  # fmt: skip
    if not after:
        raise ValidationFailed("nothing to change: give label, status, expires_at or rotate")
    await identity.update_api_key(
        conn, api_key_id, label=label, status=status, expires_at=expires_at,
        revoked_at=utcnow() if status == "disabled" else UNSET,
        key_hash=or_unset(key_hash), key_prefix=or_unset(key_prefix),
    )  # fmt: skip
    await audit.record(
        conn, actor, action="update_api_key", target_type="api_key", target_id=api_key_id,
        before={k: iso_z(before.expires_at) if k == "expires_at" else getattr(before, k)
                for k in after if k != "rotated"},
        after=after,
    )  # fmt: skip
    out = key_out(await require_key(conn, api_key_id))
    if plain:
        out["api_key"] = plain
    return out


async def key_permissions(conn: Connection, api_key_id: int) -> KeyPermissions:
    await require_key(conn, api_key_id)
    grants = await identity.permissions_of_key(conn, api_key_id)
    return {"api_key_id": api_key_id,
            "items": [permission_out(a, f) for a, f in sorted(grants.items())]}  # fmt: skip


async def replace_permissions(
    conn: Connection, actor: Actor, api_key_id: int, items: list[PermissionIn]
) -> KeyPermissions:
    """The key's grants become exactly `items` (accounts not listed lose their grant)."""
    await require_key(conn, api_key_id)
    accounts = [i.account_id for i in items]
    if len(set(accounts)) != len(accounts):
        raise ValidationFailed("each account may appear once")
    current = await identity.permissions_of_key(conn, api_key_id)
    for account_id in sorted(set(current) - set(accounts)):
        await identity.delete_permission(conn, api_key_id, account_id)
        await audit.record(
            conn, actor, action="delete_permission", target_type="api_key",
            target_id=api_key_id, before=permission_out(account_id, current[account_id]),
        )  # fmt: skip
    for item in items:
        await admin.set_permission(
            conn, actor, api_key_id=api_key_id, account_id=item.account_id, flags=item.flags()
        )
    return await key_permissions(conn, api_key_id)


# --- accounts ------------------------------------------------------------------------------------


CREDENTIAL_FIELDS = ("api_key", "secret", "passphrase")


async def store_credentials(
    conn: Connection,
    actor: Actor,
    cipher: CredentialCipher,
    account_id: int,
    values: dict[str, str | None],
    *,
    require_encrypted: bool,
) -> None:
    """Credentials over the API are encrypted here with the master key; without one they are
    refused unless plaintext is allowed (the embedded demo store only)."""
    if not cipher.available and require_encrypted:
        raise ValidationFailed(
            "no encryption master key is configured: set ENCRYPTION_MASTER_KEY before storing "
            "credentials (plaintext is refused outside the embedded demo store)"
        )
    prepared = {
        name: value if value is None or is_encrypted(value) or not cipher.available
        else cipher.encrypt(value)
        for name, value in values.items()
    }  # fmt: skip
    await admin.upsert_credentials(
        conn, actor, cipher, account_id=account_id, values=prepared,
        encrypt_input=False, require_encrypted=require_encrypted,
    )  # fmt: skip


def login_expiry(hours: float) -> datetime:
    return utcnow() + timedelta(hours=hours)


# --- strategies ----------------------------------------------------------------------------------


async def admin_create_strategy(
    conn: Connection,
    actor: Actor,
    *,
    name: str,
    account_ids: list[int],
    client_strategy_id: int | None,
) -> int:
    for account_id in sorted(set(account_ids)):
        await admin.require_account(conn, account_id)
    strategy_id = await strategy_store.create_strategy(
        conn, name=name, client_strategy_id=client_strategy_id, account_ids=account_ids,
        user_id=actor.user_id, now=utcnow(),
    )  # fmt: skip
    await audit.record(
        conn, actor, action="create_strategy", target_type="strategy", target_id=strategy_id,
        after={"name": name, "account_ids": sorted(set(account_ids)),
               "client_strategy_id": client_strategy_id},
    )  # fmt: skip
    return strategy_id


async def admin_update_strategy(
    conn: Connection,
    actor: Actor,
    strategy_id: int,
    *,
    name: str | None,
    status: str | None,
    add_account_ids: list[int],
) -> StrategyOut | None:
    before = await strategy_store.get_strategy(conn, strategy_id)
    if before is None:
        raise NotFound(f"strategy {strategy_id} not found", code="invalid_strategy_id")
    values = {k: v for k, v in (("name", name), ("status", status)) if v is not None}
    if not values and not add_account_ids:
        raise ValidationFailed("nothing to change: give name, status or add_account_ids")
    if values:
        await strategy_store.update_strategy(conn, strategy_id, utcnow(), name=name,
                                             status=status)  # fmt: skip
    for account_id in sorted(set(add_account_ids)):
        await admin.require_account(conn, account_id)
    added = await strategy_store.link_accounts(conn, strategy_id, add_account_ids, utcnow())
    await audit.record(
        conn, actor, action="update_strategy", target_type="strategy", target_id=strategy_id,
        before={k: getattr(before, k) for k in values},
        after=values | {"added_account_ids": added},
    )  # fmt: skip
    rows = [r for r in await strategy_store.list_for_accounts(conn, None)
            if r.strategy_id == strategy_id]  # fmt: skip
    return strategy_out(rows[0]) if rows else None
