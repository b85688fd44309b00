"""Accounts, their encrypted credentials and risk state (SQL for accounts lives only here)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.clock import utcnow
from apps.oms.store import direct
from apps.oms.store.records import (
    AccountConfig,
    AccountRecord,
    StoredCredentials,
    account_config,
    account_record,
)
from apps.oms.store.tables import (
    account_credentials,
    account_leases,
    account_risk_state,
    accounts,
    positions,
)

ACCOUNT_COLUMNS = (
    accounts.c.id,
    accounts.c.exchange_id,
    accounts.c.label,
    accounts.c.position_mode,
    accounts.c.is_testnet,
    accounts.c.is_live,
    accounts.c.status,
    accounts.c.created_at,
    accounts.c.updated_at,
    account_risk_state.c.allow_new_positions,
    account_risk_state.c.out_of_sync,
    account_risk_state.c.out_of_sync_blocks,
    account_risk_state.c.shadow,
    account_credentials.c.updated_at.label("credentials_updated_at"),
)


async def insert_account(
    conn: AsyncConnection,
    *,
    exchange_id: str,
    label: str,
    position_mode: str,
    is_testnet: bool,
    is_live: bool,
    config: dict[str, Any] | None = None,
) -> int:
    """Create an account with its risk-state and lease rows (one transaction by the caller)."""
    now = utcnow()
    result = await conn.execute(
        insert(accounts).values(
            exchange_id=exchange_id,
            label=label,
            position_mode=position_mode,
            is_testnet=is_testnet,
            is_live=is_live,
            status="active",
            config=config or {},
            created_at=now,
            updated_at=now,
        )
    )
    account_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    await conn.execute(
        insert(account_risk_state).values(
            account_id=account_id, allow_new_positions=True, updated_at=now
        )
    )
    await conn.execute(insert(account_leases).values(account_id=account_id, lease_epoch=0))
    return account_id


def _account_query() -> Any:
    return (
        select(*ACCOUNT_COLUMNS)
        .select_from(accounts)
        .join(account_risk_state, account_risk_state.c.account_id == accounts.c.id)
        .outerjoin(account_credentials, account_credentials.c.account_id == accounts.c.id)
    )


# read by every acceptance: built once, bound by name (see the note in `store/queue.py`)
ACCOUNT = _account_query().where(accounts.c.id == bindparam("b_account"))


async def get_account(conn: AsyncConnection, account_id: int) -> AccountRecord | None:
    row = await direct.fetch_one(conn, ACCOUNT, {"b_account": account_id})
    return None if row is None else account_record(row)


async def list_accounts(
    conn: AsyncConnection, account_ids: Iterable[int] | None
) -> list[AccountRecord]:
    """Accounts by id (all of them when `account_ids` is None), ordered by id."""
    query = _account_query().order_by(accounts.c.id)
    if account_ids is not None:
        ids = sorted(set(account_ids))
        if not ids:
            return []
        query = query.where(accounts.c.id.in_(ids))
    return [account_record(r) for r in (await conn.execute(query)).mappings()]


async def set_testnet(conn: AsyncConnection, account_id: int, enabled: bool) -> None:
    await conn.execute(
        update(accounts)
        .where(accounts.c.id == account_id)
        .values(
            is_testnet=enabled,
            is_live=False if enabled else accounts.c.is_live,
            updated_at=utcnow(),
        )
    )


async def upsert_credentials(
    conn: AsyncConnection,
    account_id: int,
    *,
    api_key: str | None,
    secret: str | None,
    passphrase: str | None,
) -> None:
    """Store already-prepared (normally `enc:v1:`) credential values."""
    values = {
        "api_key": api_key,
        "secret": secret,
        "passphrase": passphrase,
        "updated_at": utcnow(),
    }
    result = await conn.execute(
        update(account_credentials)
        .where(account_credentials.c.account_id == account_id)
        .values(**values)
    )
    if result.rowcount == 0:
        await conn.execute(insert(account_credentials).values(account_id=account_id, **values))


async def get_credentials(conn: AsyncConnection, account_id: int) -> dict[str, str | None] | None:
    row = (
        await conn.execute(
            select(
                account_credentials.c.api_key,
                account_credentials.c.secret,
                account_credentials.c.passphrase,
            ).where(account_credentials.c.account_id == account_id)
        )
    ).first()
    if row is None:
        return None
    return {"api_key": row.api_key, "secret": row.secret, "passphrase": row.passphrase}


async def all_credentials(conn: AsyncConnection) -> list[StoredCredentials]:
    c = account_credentials.c
    rows = await conn.execute(select(c.account_id, c.api_key, c.secret, c.passphrase))
    return [StoredCredentials(int(r.account_id), r.api_key, r.secret, r.passphrase) for r in rows]


async def update_account(
    conn: AsyncConnection,
    account_id: int,
    *,
    label: str | None = None,
    config: dict[str, Any] | None = None,
) -> None:
    """Change the account's label and/or venue configuration (None: unchanged)."""
    values: dict[str, object] = {"updated_at": utcnow()}
    if label is not None:
        values["label"] = label
    if config is not None:
        values["config"] = config
    await conn.execute(update(accounts).where(accounts.c.id == account_id).values(values))


CONFIG_COLUMNS = (accounts.c.id, accounts.c.exchange_id, accounts.c.position_mode,
                  accounts.c.status, accounts.c.is_testnet, accounts.c.is_live, accounts.c.config)


async def get_venue_config(conn: AsyncConnection, account_id: int) -> AccountConfig | None:
    """The account's own row and venue configuration (None if it does not exist)."""
    query = select(*CONFIG_COLUMNS).where(accounts.c.id == account_id)
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else account_config(row)


async def all_ids(conn: AsyncConnection) -> list[int]:
    """Every account's id (an admin's default scope of the reads)."""
    return [int(row[0]) for row in await conn.execute(select(accounts.c.id))]


async def accounts_with_open_positions(
    conn: AsyncConnection, exchange_id: str, symbols: list[str]
) -> list[int]:
    """Accounts of the venue holding an open position in one of `symbols`, in id order."""
    p = positions.c
    rows = await conn.execute(
        select(p.account_id).join(accounts, accounts.c.id == p.account_id)
        .where(accounts.c.exchange_id == exchange_id, p.is_open.is_(True), p.symbol.in_(symbols))
        .group_by(p.account_id).order_by(p.account_id)
    )  # fmt: skip
    return [int(r[0]) for r in rows]


async def account_row(conn: AsyncConnection, account_id: int) -> AccountConfig:
    """The account's own row (no joined state); `NoResultFound` if there is none."""
    query = select(*CONFIG_COLUMNS).where(accounts.c.id == account_id)
    return account_config((await conn.execute(query)).mappings().one())
