"""Account reads for a caller: the accounts its key may see, with its flags and risk state."""

from __future__ import annotations

from typing import TypedDict, cast

from apps.oms.clock import iso_z
from apps.oms.domain.access import AccountFlags, Action
from apps.oms.errors import NotFound
from apps.oms.exchange.profiles import profile
from apps.oms.security.principal import Principal
from apps.oms.store import accounts as account_store
from apps.oms.store.identity import FLAG_COLUMNS
from apps.oms.store.records import AccountRecord
from apps.oms.store.store import Store


def environment_of(row: AccountRecord) -> str:
    venue = profile(row.exchange_id)
    if venue.environment is not None:
        return venue.environment
    return "live" if row.is_live and not row.is_testnet else "testnet"


class GrantFlags(TypedDict):
    """A key's flags on an account (`FLAG_COLUMNS`, in order) and its strategies."""

    can_read: bool
    can_trade: bool
    can_close_position: bool
    can_risk_manage: bool
    can_block_new_positions: bool
    can_block_account: bool
    restrict_to_strategies: bool
    strategy_ids: list[int]


class AccountView(TypedDict):
    """An account as its readers see it (`GET /oms/accounts` items)."""

    id: int
    exchange_id: str
    label: str
    position_mode: str
    environment: str
    is_testnet: bool
    status: str
    allow_new_positions: bool
    out_of_sync: bool
    out_of_sync_blocks: bool
    shadow: bool
    has_credentials: bool
    credentials_updated_at: str | None
    permissions: GrantFlags | None
    created_at: str | None


def grant_flags(flags: AccountFlags | None) -> GrantFlags | None:
    if flags is None:
        return None
    return cast(GrantFlags, {name: getattr(flags, name) for name in FLAG_COLUMNS} | {
        "strategy_ids": sorted(flags.strategy_ids)
    })  # GrantFlags' keys are FLAG_COLUMNS and strategy_ids


async def visible_accounts(
    store: Store, principal: Principal, account_ids: list[int] | None = None
) -> list[AccountView]:
    """Accounts the key may read; naming an invisible or unknown account is a 404."""
    scope = principal.visible_account_ids()
    if account_ids is not None:
        for account_id in account_ids:
            principal.require(Action.READ, account_id)
        scope = set(account_ids)
    async with store.read() as conn:
        rows = await account_store.list_accounts(conn, scope)
    missing = sorted(set(account_ids or []) - {row.account_id for row in rows})
    if missing:
        raise NotFound(f"account {missing[0]} not found", code="account_not_found")
    return [
        {
            "id": row.account_id,
            "exchange_id": row.exchange_id,
            "label": row.label,
            "position_mode": row.position_mode,
            "environment": environment_of(row),
            "is_testnet": row.is_testnet,
            "status": row.status,
            "allow_new_positions": row.allow_new_positions,
            "out_of_sync": row.out_of_sync,
            # out of sync and set to refuse new positions until reconciled (reconciliation.md)
            "out_of_sync_blocks": row.out_of_sync_blocks,
            "shadow": row.shadow,
            "has_credentials": row.credentials_updated_at is not None,
            "credentials_updated_at": iso_z(row.credentials_updated_at),
            "permissions": grant_flags(principal.flags_for(row.account_id)),
            "created_at": iso_z(row.created_at),
        }
        for row in rows
    ]
