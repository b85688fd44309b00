"""What the store hands across its boundary: frozen records, one per shape a store function
returns or takes (rows become records here, in the store, never above it).

Standard library only, so every layer above the store may name them. `dict[str, Any]` stays
only where the value is free-form, under a name that says so: an account's venue `config`
(`VenueConfig`), a command's `payload` and `result` (`CommandPayload`, `CommandResult`: JSON of
the wire), and `ColumnValues`, the column values of a table that has no record here yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# a row as SQLAlchemy's mappings or `direct.fetch` give it (keys: column labels)
Row = Mapping[Any, Any]
#: a row's column values as a store function reads or writes them (column name → value; the
#: table in `tables.py` is its schema), for the tables without a record of their own
ColumnValues = dict[str, Any]
#: a command's `result`: JSON, free-form per command kind
CommandResult = Mapping[str, object]
#: a command's `payload` as stored: the JSON its model (`service/command_models.py`) accepted,
#: read by the worker as JSON (free-form to the store)
CommandPayload = dict[str, Any]
#: an account's `config`: the venue's free-form options (JSON)
VenueConfig = dict[str, Any]


@dataclass(frozen=True, slots=True)
class AccountState:
    """An account as acceptance checks it: venue, mode, status and risk state."""

    account_id: int
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

    account_id: int
    exchange_id: str
    position_mode: str
    status: str
    is_testnet: bool
    is_live: bool
    config: VenueConfig


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
        account_id=int(row["id"]), exchange_id=str(row["exchange_id"]),
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


@dataclass(frozen=True, slots=True)
class NewCommand:
    """A command to queue (or, accepted and decided at once, already finished: `status`
    terminal). `payload` and `result` are the command's free-form JSON."""

    account_id: int
    command_type: str
    request_id: str | None
    client_order_id: str | None
    content_hash: str
    payload: Mapping[str, object]  # the command's payload (`CommandPayload` once stored)
    api_key_id: int | None
    user_id: int | None
    created_at: datetime
    status: str = "queued"
    result: CommandResult | None = None
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class CommandStatus:
    """Where a command is: what a caller waiting for it polls."""

    command_id: int
    status: str  # queued | running | completed | failed | canceled
    error_code: str | None
    error_message: str | None
    order_id: int | None
    result: dict[str, Any] | None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True, slots=True)
class CommandRecord(CommandStatus):
    """A command's row, named as `queue.Claimed` names a claimed one."""

    account_id: int
    command_type: str
    request_id: str | None
    client_order_id: str | None
    content_hash: str
    payload: Mapping[str, object]  # the command's payload (`CommandPayload` once stored)
    api_key_id: int | None
    user_id: int | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


TERMINAL = ("completed", "failed", "canceled")


def _json(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def command_status(row: Row) -> CommandStatus:
    return CommandStatus(
        int(row["id"]), str(row["status"]), row["error_code"], row["error_message"],
        None if row["order_id"] is None else int(row["order_id"]), _json(row["result"]),
    )  # fmt: skip


def command_record(row: Row) -> CommandRecord:
    return CommandRecord(
        command_id=int(row["id"]), status=str(row["status"]), error_code=row["error_code"],
        error_message=row["error_message"],
        order_id=None if row["order_id"] is None else int(row["order_id"]),
        result=_json(row["result"]), account_id=int(row["account_id"]),
        command_type=str(row["command_type"]), request_id=row["request_id"],
        client_order_id=row["client_order_id"], content_hash=str(row["content_hash"]),
        payload=_json(row["payload"]) or {}, api_key_id=row["api_key_id"],
        user_id=row["user_id"], attempts=int(row["attempts"]), created_at=row["created_at"],
        started_at=row["started_at"], finished_at=row["finished_at"],
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user; its password hash (None: no password) is what a login checks, never shown."""

    user_id: int
    name: str
    role: str
    status: str
    password_hash: str | None = field(repr=False)
    created_at: datetime
    updated_at: datetime

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """An API key or login token (never its hash) with its user's name and role."""

    api_key_id: int
    user_id: int
    user_name: str
    role: str
    kind: str  # api_key | login_token
    label: str | None
    key_prefix: str
    status: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime

    def usable(self, now: datetime) -> bool:
        """Active and not expired at `now`."""
        return self.status == "active" and (self.expires_at is None or self.expires_at > now)


def user_record(row: Row) -> UserRecord:
    return UserRecord(
        int(row["id"]), str(row["name"]), str(row["role"]), str(row["status"]),
        row["password_hash"], row["created_at"], row["updated_at"],
    )  # fmt: skip


def key_record(row: Row) -> KeyRecord:
    return KeyRecord(
        api_key_id=int(row["id"]), user_id=int(row["user_id"]), user_name=str(row["user_name"]),
        role=str(row["role"]), kind=str(row["kind"]), label=row["label"],
        key_prefix=str(row["key_prefix"]), status=str(row["status"]),
        expires_at=row["expires_at"], last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"], created_at=row["created_at"],
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class StrategyLink:
    """A strategy as linked to one account: its status and the link's two flags."""

    strategy_id: int
    name: str
    status: str
    allow_new_positions: bool
    shadow: bool


@dataclass(frozen=True, slots=True)
class StrategyAccount:
    """One account a strategy is linked to."""

    account_id: int
    allow_new_positions: bool


@dataclass(frozen=True, slots=True)
class StrategyRecord:
    """A strategy with the accounts it is linked to (in account id order)."""

    strategy_id: int
    name: str
    client_strategy_id: int | None
    status: str
    created_at: datetime
    accounts: tuple[StrategyAccount, ...]


def strategy_link(row: Row) -> StrategyLink:
    return StrategyLink(int(row["id"]), str(row["name"]), str(row["status"]),
                        bool(row["allow_new_positions"]), bool(row["shadow"]))  # fmt: skip
