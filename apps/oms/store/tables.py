"""Every table of the store, as SQLAlchemy Core metadata (the single schema definition).

Money columns use `Money` (DECIMAL(36,18) / exact TEXT on SQLite), times use `UtcDateTime`
(DATETIME(6), UTC). Migrations in `migrations/versions` create exactly these tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from apps.oms.store.types import Money, UtcDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

# BIGINT on MySQL; INTEGER on SQLite so that it is the ROWID alias and auto-increments.
Id = BigInteger().with_variant(Integer(), "sqlite")


def _pk() -> Column[int]:
    return Column("id", Id, primary_key=True, autoincrement=True)


def _fk(name: str, target: str, *, nullable: bool = False) -> Column[int]:
    return Column(name, Id, ForeignKey(target), nullable=nullable)


def _flag(name: str, default: bool = False) -> Column[bool]:
    return Column(
        name, Boolean, nullable=False, default=default, server_default=text(str(int(default)))
    )


def _created() -> Column[datetime]:
    return Column("created_at", UtcDateTime, nullable=False)


def _updated() -> Column[datetime]:
    return Column("updated_at", UtcDateTime, nullable=False)


# --- identities --------------------------------------------------------------------------------

users = Table(
    "users",
    metadata,
    _pk(),
    Column("name", String(100), nullable=False, unique=True),
    Column("role", String(32), nullable=False),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("password_hash", String(255)),
    _created(),
    _updated(),
)

api_keys = Table(
    "api_keys",
    metadata,
    _pk(),
    _fk("user_id", "users.id"),
    Column("key_hash", String(64), nullable=False, unique=True),  # HMAC-SHA256 hex with pepper
    Column("key_prefix", String(12), nullable=False),  # first characters, for operators
    Column("kind", String(16), nullable=False, server_default="api_key"),  # api_key | login_token
    Column("label", String(200)),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("expires_at", UtcDateTime),
    Column("last_used_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
    _created(),
    _updated(),
    Index(None, "user_id"),
)

# --- accounts, credentials, permissions ----------------------------------------------------------

accounts = Table(
    "accounts",
    metadata,
    _pk(),
    Column("exchange_id", String(64), nullable=False),  # paper | ccxt.<id> | ccxtpro.<id>
    Column("label", String(200), nullable=False),
    Column("position_mode", String(24), nullable=False),  # hedge | netting | strategy_netting
    _flag("is_testnet"),
    _flag("is_live"),
    Column("status", String(16), nullable=False, server_default="active"),  # active | blocked
    Column("config", JSON),  # per-account venue/paper/reconcile settings
    _created(),
    _updated(),
)

account_credentials = Table(
    "account_credentials",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("api_key", Text),  # enc:v1:<fernet token> (plaintext only where allowed in dev)
    Column("secret", Text),
    Column("passphrase", Text),
    _updated(),
)

account_risk_state = Table(
    "account_risk_state",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    _flag("allow_new_positions", True),
    _flag("out_of_sync"),
    _flag("out_of_sync_blocks"),  # out of sync and configured to refuse new positions meanwhile
    _flag("shadow"),  # shadow mode: orders validated and recorded, never sent (docs/signals.md)
    Column("comment", Text),
    Column("daily_realized_pnl", Money, nullable=False, server_default="0"),
    Column("daily_pnl_date", String(10)),
    _updated(),
)

risk_limits = Table(
    "risk_limits",
    metadata,
    _pk(),
    _fk("account_id", "accounts.id"),
    Column("strategy_id", Id, nullable=False, server_default="0"),  # 0 = account level
    Column("max_open_positions", Integer),
    Column("max_open_positions_per_symbol", Integer),
    Column("max_order_qty", Money),
    Column("max_order_notional", Money),
    Column("min_order_notional", Money),
    Column("max_position_notional", Money),
    Column("max_open_orders_per_symbol", Integer),
    Column("daily_loss_limit", Money),
    Column("symbol_allowlist", JSON),
    Column("max_commands_per_minute", Integer),
    _updated(),
    # pre-trade controls (migration 0014, docs/identity-and-risk.md → Pre-trade controls)
    Column("api_key_id", Id, nullable=False, server_default="0"),  # >0 = one key's own scope
    Column("price_collar_bps", Integer),
    Column("price_collar_symbols", JSON),  # {symbol: bps}, over price_collar_bps
    Column("duplicate_window_ms", Integer),
    Column("max_open_orders", Integer),
    # loss breakers (migration 0015, domain/breakers.py)
    Column("loss_breaker", Money),
    Column("drawdown_breaker", Money),
    Column("breaker_action", String(16)),  # reduce_only | halted (NULL: reduce_only)
    UniqueConstraint("account_id", "strategy_id", "api_key_id"),
)

# a user's credit limit across the accounts their keys may trade (migration 0016,
# domain/exposure.py): gross and per-symbol net exposure; checked at acceptance
user_risk_limits = Table(
    "user_risk_limits",
    metadata,
    Column("user_id", Id, ForeignKey("users.id"), primary_key=True, autoincrement=False),
    Column("max_gross_exposure", Money),
    Column("max_net_exposure", Money),
    Column("comment", Text),
    _updated(),
)

# the kill switch's signed webhook (migration 0017, service/kill_webhook.py): one signing secret
# per API key (`enc:v1:<Fernet>` like credentials); a signed call acts as that key, and
# `last_sent_at` (the newest accepted call's timestamp) refuses replays
kill_webhook_secrets = Table(
    "kill_webhook_secrets",
    metadata,
    Column("api_key_id", Id, ForeignKey("api_keys.id"), primary_key=True, autoincrement=False),
    Column("secret", Text, nullable=False),
    Column("last_sent_at", UtcDateTime),
    _updated(),
)

# loss breakers' state (docs/identity-and-risk.md → Loss breakers), one row per watched scope
# (`strategy_id` 0 = the account): the day's baseline and peak equity, and the trip that holds
# until the risk role lifts it (`state` armed | reduce_only | halted). `version` grows with
# every write: the worker and a lift write only over the row they read
loss_breakers = Table(
    "loss_breakers",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True, autoincrement=False),
    Column("strategy_id", Id, primary_key=True, autoincrement=False),
    Column("day", String(10), nullable=False),  # the UTC day, YYYY-MM-DD
    Column("baseline", Money),  # NULL after a lift: re-armed from the next equity
    Column("peak", Money),
    Column("state", String(16), nullable=False),
    Column("rule", String(32)),
    Column("limit_value", Money),
    Column("value", Money),
    Column("tripped_at", UtcDateTime),
    Column("version", Integer, nullable=False),
    _updated(),
)

# kill switch halts (docs/identity-and-risk.md → Kill switch): active while `lifted_at` is NULL;
# the scope's new commands are refused at acceptance (`domain/kill.py`)
risk_halts = Table(
    "risk_halts",
    metadata,
    _pk(),
    Column("scope", String(16), nullable=False),  # key | strategy | account | user | all
    Column("scope_id", Id, nullable=False),  # 0 for all
    _flag("flatten"),
    Column("reason", Text, nullable=False),
    Column("engaged_by_user_id", Id),
    Column("engaged_by_api_key_id", Id),
    Column("engaged_at", UtcDateTime, nullable=False),
    Column("lifted_at", UtcDateTime),
    Column("lifted_by_user_id", Id),
    Column("lifted_by_api_key_id", Id),
    Column("lift_reason", Text),
    Index(None, "lifted_at", "scope", "scope_id"),
)

# commands accepted per UTC minute, per account (api_key_id 0) and per key on the account: the
# counter `max_commands_per_minute` is enforced against, in the store so that it holds across API
# processes and restarts (service/command_rate.py); rows of past minutes are deleted as a scope
# starts a new minute
command_rates = Table(
    "command_rates",
    metadata,
    Column("account_id", Id, primary_key=True, autoincrement=False),
    Column("api_key_id", Id, primary_key=True, autoincrement=False),
    Column("window_start", UtcDateTime, primary_key=True),
    Column("n", Integer, nullable=False),
)

api_key_permissions = Table(
    "api_key_permissions",
    metadata,
    _pk(),
    _fk("api_key_id", "api_keys.id"),
    _fk("account_id", "accounts.id"),
    _flag("can_read", True),
    _flag("can_trade"),
    _flag("can_close_position"),
    _flag("can_risk_manage"),
    _flag("can_block_new_positions"),
    _flag("can_block_account"),
    _flag("restrict_to_strategies"),
    Column("allowed_functions", JSON),  # explicit grants of restricted /ccxt functions
    _created(),
    _updated(),
    UniqueConstraint("api_key_id", "account_id"),
    Index(None, "account_id"),
)

api_key_strategy_permissions = Table(
    "api_key_strategy_permissions",
    metadata,
    Column("api_key_id", Id, ForeignKey("api_keys.id"), primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("strategy_id", Id, primary_key=True),
)

strategies = Table(
    "strategies",
    metadata,
    _pk(),
    Column("name", String(200), nullable=False),
    Column("client_strategy_id", Id),  # optional numeric label of the client, not unique
    Column("status", String(16), nullable=False, server_default="active"),
    _fk("created_by_user_id", "users.id", nullable=True),
    _created(),
    _updated(),
    Index(None, "client_strategy_id"),
)

strategy_accounts = Table(
    "strategy_accounts",
    metadata,
    Column("strategy_id", Id, ForeignKey("strategies.id"), primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    _flag("allow_new_positions", True),
    _flag("shadow"),
    Column("comment", Text),
    _updated(),
    Index(None, "account_id"),
)

# a strategy's budget on an account in one currency (docs/identity-and-risk.md → Strategy
# allocations); no row = no allocation (the strategy is not funds-checked)
strategy_allocations = Table(
    "strategy_allocations",
    metadata,
    Column("strategy_id", Id, ForeignKey("strategies.id"), primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("currency", String(16), nullable=False),
    Column("amount", Money, nullable=False),
    Column("comment", Text),
    Column("updated_by_user_id", Id),
    _updated(),
    Index(None, "account_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    _pk(),
    Column("actor_user_id", Id),
    Column("actor_api_key_id", Id),
    Column("action", String(64), nullable=False),
    Column("target_type", String(32), nullable=False),
    Column("target_id", String(64)),
    Column("before", JSON),
    Column("after", JSON),
    Column("comment", Text),
    Column("client_address", String(64)),
    _created(),
    Index(None, "created_at"),
    Index(None, "target_type", "target_id"),
)

# --- command queue, books, outbox (filled in by the pipeline) -----------------------------------

commands = Table(
    "commands",
    metadata,
    _pk(),
    _fk("account_id", "accounts.id"),
    Column("command_type", String(32), nullable=False),
    Column("request_id", String(128)),
    Column("client_order_id", String(64)),
    Column("content_hash", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column(
        "status", String(16), nullable=False
    ),  # queued | running | completed | failed | canceled
    Column("error_code", String(64)),
    Column("error_message", Text),
    Column("result", JSON),
    Column("order_id", Id),
    Column("api_key_id", Id),
    Column("user_id", Id),
    Column("lease_epoch", BigInteger),
    Column("attempts", Integer, nullable=False, server_default="0"),
    _created(),
    Column("started_at", UtcDateTime),
    Column("finished_at", UtcDateTime),
    _updated(),
    UniqueConstraint("account_id", "request_id"),
    Index(None, "account_id", "status", "id"),
    Index(None, "status", "account_id"),
)

orders = Table(
    "orders",
    metadata,
    _pk(),
    _fk("account_id", "accounts.id"),
    Column("command_id", Id),
    Column("client_order_id", String(64), nullable=False, unique=True),
    Column("exchange_order_id", String(128)),
    Column("symbol", String(64), nullable=False),
    Column("side", String(8), nullable=False),
    Column("order_type", String(32), nullable=False),
    Column("qty", Money, nullable=False),
    Column("price", Money),
    Column("trigger_price", Money),
    Column("stop_price", Money),
    Column("take_profit_price", Money),
    Column("trailing_amount", Money),
    Column("trailing_percent", Money),
    Column("trailing_trigger_price", Money),  # a trailing stop's activation price
    Column("trigger_price_type", String(8)),  # last | mark (None: last)
    Column("expire_at", UtcDateTime),  # time_in_force GTD
    Column("fire_at", UtcDateTime),  # a bracket's time-limit exit: when the clock fires it
    # who executes its conditional part: venue | gateway (a held order: `held_orders`)
    Column("emulation", String(8), nullable=False, server_default="venue"),
    Column("parent_order_id", Id),  # a held order's child names its parent
    Column("group_id", Id),  # the contingent group it belongs to (`order_groups`)
    # its group's kind and its role in it (`order_group_members`), written with the member link
    # and never changed: every order read and event carries them without a join
    Column("group_kind", String(16)),
    Column("group_role", String(16)),
    Column("time_in_force", String(8)),
    _flag("post_only"),
    _flag("reduce_only"),
    Column("status", String(24), nullable=False),
    _flag("is_open", True),  # status in PENDING_SUBMIT/SUBMITTED/PARTIALLY_FILLED (indexed reads)
    Column("filled_qty", Money, nullable=False, server_default="0"),
    Column("avg_fill_price", Money),
    Column("fee", Money, nullable=False, server_default="0"),
    Column("fee_currency", String(16)),
    Column("strategy_id", Id, nullable=False, server_default="0"),
    Column("position_id", Id, nullable=False, server_default="0"),
    Column("previous_position_id", Id),
    Column("reason", String(32), nullable=False, server_default="api"),
    Column("comment", Text),
    Column("stop_loss", Money),
    Column("stop_gain", Money),
    _flag("outcome_unknown"),
    _flag("reconciled", True),
    Column("params", JSON),
    Column("edit_replace_state", String(32), nullable=False, server_default="none"),
    Column("edit_replace_at", UtcDateTime),
    Column("edit_replace_orphan_order_id", Id),
    Column("edit_replace_origin_order_id", Id),
    Column("error_code", String(64)),
    Column("error_message", Text),
    _created(),
    _updated(),
    Column("submitted_at", UtcDateTime),
    Column("closed_at", UtcDateTime),
    Index(None, "account_id", "is_open", "id"),
    Index(None, "account_id", "created_at"),
    Index(None, "account_id", "exchange_order_id"),
    Index(None, "account_id", "strategy_id", "created_at"),
)

held_orders = Table(
    # an order the gateway holds (its parent row in `orders`) and its armed state: the moving
    # trigger of a trailing stop is written each time it moves, so the next owner of the
    # account continues where the last one stopped
    "held_orders",
    metadata,
    _pk(),
    _fk("account_id", "accounts.id"),
    _fk("order_id", "orders.id"),
    Column("kind", String(16), nullable=False),
    Column("side", String(8), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("trigger_price", Money),
    Column("trailing_amount", Money),
    Column("trailing_percent", Money),
    Column("activation_price", Money),
    _flag("activated", True),
    Column("price_type", String(8), nullable=False, server_default="last"),
    Column("expire_at", UtcDateTime),
    Column("fire_at", UtcDateTime),  # a time limit's (kind `time`): fired by the clock
    Column("child_order_id", Id),
    Column("group_id", Id),  # contingent groups (OCO, OTO, bracket) link their members here
    Column("fired_at", UtcDateTime),
    Column("fired_price", Money),
    _created(),
    _updated(),
    UniqueConstraint("order_id"),
    Index(None, "account_id", "state"),
)

order_venue_orders = Table(
    "order_venue_orders",
    metadata,
    _pk(),
    _fk("order_id", "orders.id"),
    _fk("account_id", "accounts.id"),
    Column("exchange_order_id", String(128)),
    Column("client_order_id", String(64), nullable=False, unique=True),
    _created(),
    Index(None, "order_id"),
    Index(None, "account_id", "exchange_order_id"),
)

positions = Table(
    "positions",
    metadata,
    _pk(),
    _fk("account_id", "accounts.id"),
    Column("symbol", String(64), nullable=False),
    Column("strategy_id", Id, nullable=False, server_default="0"),
    Column("side", String(8), nullable=False),
    Column("qty", Money, nullable=False),
    Column("avg_price", Money, nullable=False),
    Column("realized_pnl", Money, nullable=False, server_default="0"),
    Column("fee", Money, nullable=False, server_default="0"),
    Column("contract_size", Money, nullable=False, server_default="1"),
    Column("pending_close_qty", Money, nullable=False, server_default="0"),
    Column("stop_loss", Money),
    Column("stop_gain", Money),
    Column("state", String(16), nullable=False),  # open | close_requested | closed | merged
    _flag("is_open", True),  # state in (open, close_requested)
    Column("reason", String(32), nullable=False, server_default="api"),
    Column("comment", Text),
    Column("opened_at", UtcDateTime, nullable=False),
    _updated(),
    Column("closed_at", UtcDateTime),
    Index(None, "account_id", "is_open", "symbol"),
    Index(None, "account_id", "opened_at"),
    Index(None, "account_id", "strategy_id", "opened_at"),
)

order_groups = Table(
    # a contingent group the gateway holds (OCO, bracket): its state follows its members and
    # is decided by `domain/order_groups.decide` under the account's lease
    "order_groups",
    metadata,
    _pk(),
    _fk("account_id", "accounts.id"),
    Column("kind", String(16), nullable=False),  # oco | bracket
    Column("state", String(16), nullable=False),
    Column("symbol", String(64), nullable=False),
    Column("strategy_id", Id, nullable=False, server_default="0"),
    Column("parent_order_id", Id, nullable=False),  # the order it was accepted with
    Column("spec", JSON, nullable=False),  # the members it creates (OCO legs, exits)
    _flag("cancel_requested"),  # a cancel named one of its members: it ends whole
    _flag("alerted"),  # its overfill alert was raised (once)
    _created(),
    _updated(),
    Index(None, "account_id", "state"),
)
order_group_members = Table(
    # a member of a group, one per role (`leg0`.., `entry`, `stop_loss`, `take_profit`): the
    # unique role makes a second creation of a member write nothing
    "order_group_members",
    metadata,
    _pk(),
    _fk("group_id", "order_groups.id"),
    _fk("order_id", "orders.id"),
    Column("role", String(16), nullable=False),
    _created(),
    UniqueConstraint("group_id", "role"),
    UniqueConstraint("order_id"),
)
deals = Table(
    "deals",
    metadata,
    _pk(),
    _fk("account_id", "accounts.id"),
    Column("order_id", Id),
    Column("position_id", Id, nullable=False),
    Column("previous_position_id", Id),
    Column("symbol", String(64), nullable=False),
    Column("side", String(8), nullable=False),
    Column("qty", Money, nullable=False),
    Column("price", Money, nullable=False),
    Column("fee", Money, nullable=False, server_default="0"),
    Column("fee_currency", String(16)),
    Column("pnl", Money, nullable=False, server_default="0"),
    Column("entry", String(8), nullable=False),  # in | out | out_by
    Column("leg", Integer, nullable=False, server_default="0"),
    Column("contract_size", Money, nullable=False, server_default="1"),
    Column("strategy_id", Id, nullable=False, server_default="0"),
    Column("reason", String(32), nullable=False, server_default="api"),
    Column("comment", Text),
    _flag("reconciled", True),
    Column("exchange_trade_id", String(128)),
    Column("taker_or_maker", String(8)),  # taker | maker of a venue fill; NULL when unknown
    Column("executed_at", UtcDateTime, nullable=False),
    _created(),
    UniqueConstraint("account_id", "exchange_trade_id", "leg"),
    Index(None, "account_id", "executed_at"),
    Index(None, "position_id"),
    Index(None, "order_id"),
)

outbox = Table(
    "outbox",
    metadata,
    _pk(),
    Column("seq", BigInteger, unique=True),  # dense stream position, assigned after commit
    _fk("account_id", "accounts.id", nullable=True),
    Column("namespace", String(16), nullable=False),
    Column("event", String(64), nullable=False),
    Column("strategy_id", Id),
    Column("payload", JSON, nullable=False),
    _created(),
)

sequencer_state = Table(
    "sequencer_state",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("last_seq", BigInteger, nullable=False, server_default="0"),
    Column("last_id", BigInteger, nullable=False, server_default="0"),
    _updated(),
)

# one row (id 1), its version bumped by the last statement of every transaction that changed an
# existing key, user or grant: each API process's principal cache trusts its entries only while it
# has read this version within its lease (apps/oms/service/auth_cache.py)
auth_state = Table(
    "auth_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False, server_default="0"),
)

venue_payloads = Table(
    "venue_payloads",
    metadata,
    _pk(),
    _fk("account_id", "accounts.id"),
    Column("kind", String(16), nullable=False),  # order | trade | call | position
    Column("content_hash", String(64), nullable=False),
    Column("exchange_id", String(64), nullable=False),
    Column("exchange_object_id", String(128)),
    Column("payload", JSON, nullable=False),
    _created(),
    UniqueConstraint("account_id", "content_hash"),
    Index(None, "account_id", "kind", "created_at"),
)

account_leases = Table(
    "account_leases",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("owner", String(128)),
    Column("lease_epoch", BigInteger, nullable=False, server_default="0"),
    Column("expires_at", UtcDateTime),
    Column("heartbeat_at", UtcDateTime),
)

workers = Table(
    "workers",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("hostname", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # running | stopping | stopped
    Column("started_at", UtcDateTime, nullable=False),
    Column("heartbeat_at", UtcDateTime, nullable=False),
    Column("wake_addr", String(64)),  # host:port of its UDP wake-up listener, if any
    # what ends with the process (store/liveness.py): a GET_LOCK name on MySQL/MariaDB, a lock
    # file's path on SQLite; NULL: liveness from heartbeats only
    Column("liveness", String(255)),
    # the live workers (running, recent heartbeat), read by every liveness probe (5/s per
    # worker) and lease round: a row per worker process ever started stays, so not a scan
    Index(None, "status", "heartbeat_at"),
)

reconcile_cursors = Table(
    "reconcile_cursors",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("scope", String(16), primary_key=True),  # short | hourly | long | period
    Column("cursor_ms", BigInteger),
    Column("last_run_at", UtcDateTime),
    Column("last_stats", JSON),
    Column("status", String(16), nullable=False, server_default="never"),
)

market_quotes = Table(
    "market_quotes",
    metadata,
    Column("venue", String(64), primary_key=True),  # paper | ccxt.<id>
    Column("symbol", String(64), primary_key=True),
    Column("bid", Money),
    Column("ask", Money),
    Column("last", Money),
    Column("quoted_at", UtcDateTime, nullable=False),
)

# the request budget of one exchange limit (docs/operations.md → Request budget): units handed
# out to processes in the current window (`apps/oms/domain/request_budget.py`)
request_budgets = Table(
    "request_budgets",
    metadata,
    Column("budget_key", String(191), primary_key=True),  # exchange|host|ip:<label>|account:<id>
    Column("window_no", BigInteger, nullable=False),  # epoch ms // window_ms
    Column("reserved", Money, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# who spends a budget: per process (`host:pid`), the units it reserved in its latest window
request_budget_holders = Table(
    "request_budget_holders",
    metadata,
    Column("budget_key", String(191), primary_key=True),
    Column("holder", String(191), primary_key=True),
    Column("window_no", BigInteger, nullable=False),
    Column("reserved", Money, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
