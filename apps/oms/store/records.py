"""What the store hands across its boundary: frozen records, one per shape a store function
returns or takes (rows become records here, in the store, never above it).

Standard library only, so every layer above the store may name them. `dict[str, Any]` stays
only where the value is free-form: an account's venue `config`, a command's `payload` and
`result` (JSON of the wire).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# a row as SQLAlchemy's mappings or `direct.fetch` give it (keys: column labels)
Row = Mapping[Any, Any]


@dataclass(frozen=True, slots=True)
class AccountState:
    """An account as acceptance checks it: venue, mode, status and risk state."""

    id: int
    exchange_id: str
    position_mode: str
    status: str
    allow_new_positions: bool
    out_of_sync_blocks: bool  # out of sync and set to refuse new positions until reconciled
    shadow: bool

    @property
    def blocked(self) -> bool:
        return self.status == "blocked"


@dataclass(frozen=True, slots=True)
class AccountRecord(AccountState):
    """An account as its readers see it: `AccountState`, its label and environment flags, its
    times and when its credentials were last stored (None: it has none)."""

    label: str
    is_testnet: bool
    is_live: bool
    out_of_sync: bool
    created_at: datetime
    updated_at: datetime
    credentials_updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """An account's own row without its joined state: its venue and the venue's configuration
    (`accounts.config`, free-form JSON; {} when not an object)."""

    id: int
    exchange_id: str
    position_mode: str
    status: str
    is_testnet: bool
    is_live: bool
    config: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredCredentials:
    """One account's credentials as stored (normally `enc:v1:` values)."""

    account_id: int
    api_key: str | None
    secret: str | None
    passphrase: str | None


def account_state(row: Row) -> AccountState:
    return AccountState(
        int(row["id"]), str(row["exchange_id"]), str(row["position_mode"]), str(row["status"]),
        bool(row["allow_new_positions"]), bool(row["out_of_sync_blocks"]), bool(row["shadow"]),
    )  # fmt: skip


def account_record(row: Row) -> AccountRecord:
    return AccountRecord(
        id=int(row["id"]), exchange_id=str(row["exchange_id"]),
        position_mode=str(row["position_mode"]), status=str(row["status"]),
        allow_new_positions=bool(row["allow_new_positions"]),
        out_of_sync_blocks=bool(row["out_of_sync_blocks"]), shadow=bool(row["shadow"]),
        label=str(row["label"]), is_testnet=bool(row["is_testnet"]),
        is_live=bool(row["is_live"]), out_of_sync=bool(row["out_of_sync"]),
        created_at=row["created_at"], updated_at=row["updated_at"],
        credentials_updated_at=row["credentials_updated_at"],
    )  # fmt: skip


def account_config(row: Row) -> AccountConfig:
    config = row["config"]
    return AccountConfig(
        int(row["id"]), str(row["exchange_id"]), str(row["position_mode"]), str(row["status"]),
        bool(row["is_testnet"]), bool(row["is_live"]), config if isinstance(config, dict) else {},
    )  # fmt: skip
