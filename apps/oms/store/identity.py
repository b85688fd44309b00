"""Users, API keys and per-key account permissions (SQL for identities lives only here)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Dialect, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.clock import utcnow
from apps.oms.domain.access import AccountFlags, Role
from apps.oms.domain.changes import UNSET, Unset, given
from apps.oms.store import auth_version
from apps.oms.store.records import KeyRecord, UserRecord, key_record, user_record
from apps.oms.store.tables import api_key_permissions, api_key_strategy_permissions, api_keys, users

FLAG_COLUMNS = (
    "can_read",
    "can_trade",
    "can_close_position",
    "can_risk_manage",
    "can_block_new_positions",
    "can_block_account",
    "restrict_to_strategies",
)
LAST_USED_THROTTLE = timedelta(seconds=60)


@dataclass(frozen=True)
class KeyIdentity:
    """An API key with its user, as found by hash."""

    api_key_id: int
    user_id: int
    user_name: str
    role: Role
    user_status: str
    key_status: str
    kind: str
    label: str | None
    key_prefix: str
    expires_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime


async def insert_user(conn: AsyncConnection, *, name: str, role: Role) -> int:
    now = utcnow()
    result = await conn.execute(
        insert(users).values(
            name=name, role=role.value, status="active", created_at=now, updated_at=now
        )
    )
    user_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    auth_version.created(conn, user_id=user_id)
    return user_id


async def get_user(conn: AsyncConnection, user_id: int) -> UserRecord | None:
    row = (await conn.execute(select(users).where(users.c.id == user_id))).mappings().first()
    return user_record(row) if row else None


async def find_user_by_name(conn: AsyncConnection, name: str) -> UserRecord | None:
    row = (await conn.execute(select(users).where(users.c.name == name))).mappings().first()
    return user_record(row) if row else None


async def insert_api_key(
    conn: AsyncConnection,
    *,
    user_id: int,
    key_hash: str,
    key_prefix: str,
    label: str | None,
    kind: str = "api_key",
    expires_at: datetime | None = None,
) -> int:
    now = utcnow()
    result = await conn.execute(
        insert(api_keys).values(
            user_id=user_id,
            key_hash=key_hash,
            key_prefix=key_prefix,
            kind=kind,
            label=label,
            status="active",
            expires_at=expires_at,
            created_at=now,
            updated_at=now,
        )
    )
    api_key_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    auth_version.created(conn, api_key_id=api_key_id)
    return api_key_id


KEY_COLUMNS = (
    api_keys.c.id,
    api_keys.c.user_id,
    users.c.name,
    users.c.role,
    users.c.status.label("user_status"),
    api_keys.c.status,
    api_keys.c.kind,
    api_keys.c.label,
    api_keys.c.key_prefix,
    api_keys.c.expires_at,
    api_keys.c.last_used_at,
    api_keys.c.created_at,
)


def _identity(row: Any) -> KeyIdentity:
    return KeyIdentity(
        api_key_id=row.id,
        user_id=row.user_id,
        user_name=row.name,
        role=Role(row.role),
        user_status=row.user_status,
        key_status=row.status,
        kind=row.kind,
        label=row.label,
        key_prefix=row.key_prefix,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        created_at=row.created_at,
    )


async def find_key_by_hash(conn: AsyncConnection, key_hash: str) -> KeyIdentity | None:
    query = (
        select(*KEY_COLUMNS)
        .join(users, users.c.id == api_keys.c.user_id)
        .where(api_keys.c.key_hash == key_hash)
    )
    row = (await conn.execute(query)).first()
    return None if row is None else _identity(row)


def _key_grants_query() -> Any:
    """The key, its user and its account grants (one row per granted strategy)."""
    perm = api_key_permissions
    strat = api_key_strategy_permissions
    return (
        select(
            *KEY_COLUMNS,
            api_keys.c.key_hash,
            perm.c.account_id.label("grant_account_id"),
            *(perm.c[name] for name in FLAG_COLUMNS),
            perm.c.allowed_functions,
            strat.c.strategy_id,
        )
        .join(users, users.c.id == api_keys.c.user_id)
        .outerjoin(perm, perm.c.api_key_id == api_keys.c.id)
        .outerjoin(
            strat,
            and_(strat.c.api_key_id == perm.c.api_key_id, strat.c.account_id == perm.c.account_id),
        )
    )


def _fold_keys(rows: Iterable[Any]) -> dict[str, tuple[KeyIdentity, dict[int, AccountFlags]]]:
    by_hash: dict[str, list[Any]] = {}
    for row in rows:
        by_hash.setdefault(str(row.key_hash), []).append(row)
    return {
        key_hash: (
            _identity(group[0]),
            _grants(
                [r._mapping for r in group if r.grant_account_id is not None],
                account_key="grant_account_id",
            ),
        )
        for key_hash, group in by_hash.items()
    }


async def find_key_with_grants(
    conn: AsyncConnection, key_hash: str
) -> tuple[KeyIdentity, dict[int, AccountFlags]] | None:
    """The key, its user and all its account grants in ONE query (the per-request auth path)."""
    rows = (await conn.execute(_key_grants_query().where(api_keys.c.key_hash == key_hash))).all()
    return _fold_keys(rows).get(key_hash)


async def find_key_with_grants_by_id(
    conn: AsyncConnection, api_key_id: int
) -> tuple[KeyIdentity, dict[int, AccountFlags]] | None:
    """`find_key_with_grants` by the key's id (a signed call names its key, it does not send
    it: the kill switch webhook)."""
    rows = (await conn.execute(_key_grants_query().where(api_keys.c.id == api_key_id))).all()
    found = _fold_keys(rows)
    return next(iter(found.values()), None)


async def find_keys_with_grants(
    conn: AsyncConnection, key_hashes: Iterable[str]
) -> dict[str, tuple[KeyIdentity, dict[int, AccountFlags]]]:
    """`find_key_with_grants` for many keys in ONE query (the websocket re-check); keys that no
    longer exist are absent from the result."""
    wanted = sorted(set(key_hashes))
    if not wanted:
        return {}
    rows = (await conn.execute(_key_grants_query().where(api_keys.c.key_hash.in_(wanted)))).all()
    return _fold_keys(rows)


async def touch_key(conn: AsyncConnection, api_key_id: int, now: datetime) -> None:
    """Record use, at most once a minute per key (conditional, so concurrent requests skip)."""
    await conn.execute(
        update(api_keys)
        .where(
            api_keys.c.id == api_key_id,
            or_(
                api_keys.c.last_used_at.is_(None),
                api_keys.c.last_used_at < now - LAST_USED_THROTTLE,
            ),
        )
        .values(last_used_at=now)
    )


async def set_key_status(conn: AsyncConnection, api_key_id: int, status: str) -> None:
    auth_version.mark_changed(conn, api_key_id=api_key_id)
    await conn.execute(
        update(api_keys)
        .where(api_keys.c.id == api_key_id)
        .values(status=status, updated_at=utcnow())
    )


async def key_ids_of_user(conn: AsyncConnection, user_id: int) -> list[int]:
    rows = await conn.execute(
        select(api_keys.c.id).where(api_keys.c.user_id == user_id, api_keys.c.kind == "api_key")
    )
    return [int(r.id) for r in rows]


async def upsert_permission(
    conn: AsyncConnection, *, api_key_id: int, account_id: int, flags: AccountFlags
) -> None:
    """Set a key's flags on an account (one row per key and account) and its strategy list."""
    auth_version.mark_changed(conn, api_key_id=api_key_id)
    now = utcnow()
    values: dict[str, Any] = {name: getattr(flags, name) for name in FLAG_COLUMNS}
    values["allowed_functions"] = sorted(flags.allowed_functions)
    where = and_(
        api_key_permissions.c.api_key_id == api_key_id,
        api_key_permissions.c.account_id == account_id,
    )
    updated = await conn.execute(
        update(api_key_permissions).where(where).values(**values, updated_at=now)
    )
    if updated.rowcount == 0:
        await conn.execute(
            insert(api_key_permissions).values(
                api_key_id=api_key_id,
                account_id=account_id,
                created_at=now,
                updated_at=now,
                **values,
            )
        )
    await conn.execute(
        delete(api_key_strategy_permissions).where(
            api_key_strategy_permissions.c.api_key_id == api_key_id,
            api_key_strategy_permissions.c.account_id == account_id,
        )
    )
    if flags.strategy_ids:
        await conn.execute(
            insert(api_key_strategy_permissions),
            [
                {"api_key_id": api_key_id, "account_id": account_id, "strategy_id": sid}
                for sid in sorted(flags.strategy_ids)
            ],
        )


async def permissions_of_key(conn: AsyncConnection, api_key_id: int) -> dict[int, AccountFlags]:
    """All account grants of a key: account_id -> flags (with strategy ids), in one query."""
    query = (
        select(api_key_permissions, api_key_strategy_permissions.c.strategy_id)
        .outerjoin(
            api_key_strategy_permissions,
            and_(
                api_key_strategy_permissions.c.api_key_id == api_key_permissions.c.api_key_id,
                api_key_strategy_permissions.c.account_id == api_key_permissions.c.account_id,
            ),
        )
        .where(api_key_permissions.c.api_key_id == api_key_id)
    )
    return _grants((r for r in (await conn.execute(query)).mappings()), account_key="account_id")


def _grants(rows: Iterable[Any], *, account_key: str) -> dict[int, AccountFlags]:
    """Fold permission rows (one per granted strategy) into flags per account."""
    by_account: dict[int, Any] = {}
    strategies: dict[int, set[int]] = {}
    for row in rows:
        account_id = int(row[account_key])
        by_account[account_id] = row
        if row["strategy_id"] is not None:
            strategies.setdefault(account_id, set()).add(int(row["strategy_id"]))
    return {
        account_id: AccountFlags(
            **{name: bool(row[name]) for name in FLAG_COLUMNS},
            strategy_ids=frozenset(strategies.get(account_id, set())),
            allowed_functions=frozenset(row["allowed_functions"] or []),
        )
        for account_id, row in by_account.items()
    }


async def list_users(conn: AsyncConnection, *, limit: int = 5000) -> list[UserRecord]:
    """Users, oldest first."""
    rows = await conn.execute(select(users).order_by(users.c.id).limit(limit))
    return [user_record(r) for r in rows.mappings()]


async def update_user(
    conn: AsyncConnection,
    user_id: int,
    *,
    name: str | Unset = UNSET,
    role: Role | Unset = UNSET,
    status: str | Unset = UNSET,
    password_hash: str | Unset | None = UNSET,
) -> None:
    """Change the given columns of one user (`UNSET`: as it is; `password_hash=None`: no
    password)."""
    principal = given(name=name, role=role if isinstance(role, Unset) else role.value,
                      status=status)  # fmt: skip
    if principal:  # a password is not part of any key's principal
        auth_version.mark_changed(conn, user_id=user_id)
    values = principal | given(password_hash=password_hash)
    await conn.execute(
        update(users).where(users.c.id == user_id).values(**values, updated_at=utcnow())
    )


async def update_api_key(
    conn: AsyncConnection,
    api_key_id: int,
    *,
    label: str | Unset | None = UNSET,
    status: str | Unset = UNSET,
    expires_at: datetime | Unset | None = UNSET,
    revoked_at: datetime | Unset | None = UNSET,
    key_hash: str | Unset = UNSET,
    key_prefix: str | Unset = UNSET,
) -> None:
    """Change the given columns of one key (`UNSET`: as it is; None: null, e.g. `expires_at`
    never). `key_hash` and `key_prefix` change together: a rotated secret."""
    values = given(label=label, status=status, expires_at=expires_at, revoked_at=revoked_at,
                   key_hash=key_hash, key_prefix=key_prefix)  # fmt: skip
    auth_version.mark_changed(conn, api_key_id=api_key_id)
    await conn.execute(
        update(api_keys).where(api_keys.c.id == api_key_id).values(**values, updated_at=utcnow())
    )


KEY_LIST_COLUMNS = (
    api_keys.c.id,
    api_keys.c.user_id,
    users.c.name.label("user_name"),
    users.c.role,
    api_keys.c.kind,
    api_keys.c.label,
    api_keys.c.key_prefix,
    api_keys.c.status,
    api_keys.c.expires_at,
    api_keys.c.last_used_at,
    api_keys.c.revoked_at,
    api_keys.c.created_at,
)


async def list_api_keys(
    conn: AsyncConnection,
    *,
    user_id: int | None = None,
    kind: str | None = "api_key",
    limit: int = 5000,
) -> list[KeyRecord]:
    """Keys (never their hashes) with their user's name and role, oldest first."""
    query = select(*KEY_LIST_COLUMNS).join(users, users.c.id == api_keys.c.user_id)
    if user_id is not None:
        query = query.where(api_keys.c.user_id == user_id)
    if kind is not None:
        query = query.where(api_keys.c.kind == kind)
    rows = await conn.execute(query.order_by(api_keys.c.id).limit(limit))
    return [key_record(r) for r in rows.mappings()]


async def get_api_key_info(conn: AsyncConnection, api_key_id: int) -> KeyRecord | None:
    query = (
        select(*KEY_LIST_COLUMNS)
        .join(users, users.c.id == api_keys.c.user_id)
        .where(api_keys.c.id == api_key_id)
    )
    row = (await conn.execute(query)).mappings().first()
    return key_record(row) if row else None


async def delete_permission(conn: AsyncConnection, api_key_id: int, account_id: int) -> None:
    auth_version.mark_changed(conn, api_key_id=api_key_id)
    for table in (api_key_strategy_permissions, api_key_permissions):
        await conn.execute(
            delete(table).where(table.c.api_key_id == api_key_id, table.c.account_id == account_id)
        )


class RawKeyRows:
    """A key's rows with its grants as raw tuples (each row one JSON array), by a statement
    compiled once for the dialect and sent as text: what the principal cache compares with its
    cached rows on every request. One column per row instead of 23: the driver's parsing of
    the column descriptions alone was about a fifth of a lookup's CPU; equal arrays are equal
    rows, on either dialect."""

    def __init__(self, dialect: Dialect) -> None:
        rows = _key_grants_query().where(api_keys.c.key_hash == bindparam("key_hash")).subquery()
        compiled = select(func.json_array(*rows.c)).compile(dialect=dialect)
        self.sql = str(compiled)
        self.positional = compiled.positiontup is not None
        self.version_sql = str(auth_version.VERSION.compile(
            dialect=dialect, compile_kwargs={"literal_binds": True}))

    async def rows(self, conn: AsyncConnection, key_hash: str) -> tuple[tuple[Any, ...], ...]:
        params: Any = (key_hash,) if self.positional else {"key_hash": key_hash}
        result = await conn.exec_driver_sql(self.sql, params)
        return tuple(tuple(row) for row in result.all())

    async def version(self, conn: AsyncConnection) -> int | None:
        """The identity version (`auth_version.read_version`, sent as text)."""
        value = (await conn.exec_driver_sql(self.version_sql)).scalar()
        return None if value is None else int(value)

