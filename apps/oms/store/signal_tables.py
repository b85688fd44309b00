"""Tables of the signal intake (SQLAlchemy Core, on the shared `metadata`): every signal with its
outcome, and each account's signing secret (`enc:v1:` like exchange credentials).
Migration `0008_signals` creates exactly these (and the `shadow` flags in `tables.py`)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, Index, String, Table, Text, UniqueConstraint

from apps.oms.store.tables import Id, metadata
from apps.oms.store.types import UtcDateTime

signals = Table(
    "signals",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("signal_id", String(100)),  # the sender's idempotency key (unique per account)
    Column("auth", String(16), nullable=False),  # api_key | signature
    Column("api_key_id", Id),
    Column("strategy_id", Id, nullable=False, server_default="0"),
    Column("symbol", String(64), nullable=False),
    Column("sent_at", UtcDateTime),  # the signal's own timestamp
    Column("body", JSON, nullable=False),  # the parsed signal (decimals as strings)
    Column("status", String(16), nullable=False),  # accepted | shadowed | refused
    Column("command_id", Id),
    Column("error_code", String(64)),
    Column("error_message", Text),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("account_id", "signal_id"),
    Index(None, "account_id", "id"),
)

account_signal_secrets = Table(
    "account_signal_secrets",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("secret", Text, nullable=False),  # enc:v1:<Fernet token> (plaintext only in the demo)
    Column("updated_at", UtcDateTime, nullable=False),
)
