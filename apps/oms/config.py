"""Settings: one pydantic-settings model loaded from a JSON file and the environment.

Priority (highest first): flat documented aliases (`OMS_DATABASE_URL`, `ENCRYPTION_MASTER_KEY`, ...),
nested env (`OMS_<SECTION>__<KEY>`), the JSON file at `CONFIG_JSON_PATH`, defaults.
"""

from __future__ import annotations

import json
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from apps.oms.errors import ConfigError

DEV_PEPPER = "dev-insecure-api-key-pepper"
DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///./data/oms.sqlite3"

# flat env name -> (section, key); these names are part of the contract (architecture.md)
FLAT_ALIASES: dict[str, tuple[str | None, str]] = {
    "OMS_DATABASE_URL": ("database", "url"),
    "OMS_API_HOST": ("api", "host"),
    "OMS_API_PORT": ("api", "port"),
    "OMS_ENV": (None, "env"),
    "OMS_WORKER_CONCURRENCY": ("worker", "concurrency"),
    "ENCRYPTION_MASTER_KEY": ("security", "encryption_master_key"),
    "OMS_PAPER_PRICE_SOURCE": ("paper", "price_source"),
    "OMS_LOG_LEVEL": ("logging", "level"),
    "OMS_LOG_FORMAT": ("logging", "format"),
}


class DatabaseSettings(BaseModel):
    url: str = DEFAULT_SQLITE_URL
    pool_size: int = Field(default=10, ge=1, le=200)


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    cors_origins: list[str] = Field(default_factory=list)
    request_timeout_seconds: float = Field(default=10, gt=0, le=300)
    public_metrics: bool = True
    # open orders/positions served from the in-memory read model (apps/oms/service/read_model.py)
    read_model: bool = True
    # UDP listener the workers tell when outbox rows got their seq (stream wake-ups,
    # apps/oms/wakeup.py); "" turns it off (the outbox tailer then polls every few ms)
    stream_wake_host: str = "127.0.0.1"


class WorkerSettings(BaseModel):
    concurrency: int = Field(default=16, ge=1, le=1024)
    # a lease is only a backstop: liveness comes from heartbeats. A worker whose heartbeat is
    # older than heartbeat_seconds x missed_heartbeats is dead, and any live worker takes its
    # accounts at once (the lease epoch moves on, so a merely paused worker cannot record)
    lease_seconds: float = Field(default=30, gt=0)
    heartbeat_seconds: float = Field(default=0.5, gt=0)
    missed_heartbeats: int = Field(default=7, ge=2, le=100)
    # each worker holds a lock that ends with its process (GET_LOCK on MySQL/MariaDB, flock on
    # SQLite); peers probe those of workers alive by heartbeat this often and take a freed
    # one's accounts at once (docs/worker.md -> Liveness probe). 0: off (heartbeats only)
    liveness_probe_seconds: float = Field(default=0.2, ge=0, le=60)
    venue_timeout_seconds: float = Field(default=10, gt=0)
    unknown_outcome_window_seconds: float = Field(default=60, gt=0)
    poll_min_ms: float = Field(default=2, gt=0)
    poll_max_ms: float = Field(default=200, gt=0)
    # an account task that goes quiet parks its lease instead of giving it back: the lease
    # stays this worker's (renewed with the others) and a wake-up restarts the task without a
    # lease round; given back after this long parked (docs/worker.md -> Parked leases). 0: off
    park_seconds: float = Field(default=120, ge=0)
    park_max: int = Field(default=10_000, ge=0)  # leases one worker keeps parked at most
    # UDP wake-ups from API processes (apps/oms/wakeup.py); "" turns them off (polling only)
    wake_host: str = "127.0.0.1"
    # sends of one account taken as one batch: written ahead, placed and recorded together
    # (docs/worker.md -> Sends); 0: one at a time
    batch_size: int = Field(default=50, ge=0, le=1000)
    # the batches' write-ahead and record transactions of a worker's accounts that are ready
    # together are one transaction (apps/oms/service/execution/group.py); false: each its own
    group_commit: bool = True
    # this worker process's own Prometheus endpoint (apps/worker/metrics_endpoint.py); 0 = off.
    # `ccxt-oms up` runs its worker inside the API process, whose /metrics already has it
    metrics_port: int = Field(default=0, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"

    @property
    def dead_after_seconds(self) -> float:
        """A worker whose last heartbeat is older than this is dead (its accounts are taken)."""
        return self.heartbeat_seconds * self.missed_heartbeats


class SecuritySettings(BaseModel):
    encryption_master_key: SecretStr | None = None
    previous_master_keys: list[SecretStr] = Field(default_factory=list)
    api_key_pepper: SecretStr = SecretStr(DEV_PEPPER)
    require_encrypted_credentials: bool | None = None  # None: true outside dev
    allow_live_trading: bool = False
    login_token_hours: float = Field(default=12, gt=0)
    # failed authentications tolerated per client address (and per key prefix / user name)
    # within the window before further attempts answer 429 (apps/oms/service/auth.py)
    auth_failure_limit: int = Field(default=20, ge=1)
    auth_failure_window_seconds: float = Field(default=60, gt=0)


class PaperMarketSettings(BaseModel):
    """A market pair the paper venue lists besides its built-in BTC, ETH and SOL: `base`/USDT
    spot and `base`/USDT:USDT perpetual, with these steps and start price (decimal strings)."""

    model_config = ConfigDict(extra="forbid")

    base: str = Field(pattern=r"^[A-Z][A-Z0-9]{1,15}$")
    amount_step: str = "0.001"
    price_step: str = "0.01"
    min_amount: str = "0.001"
    start_price: str = "100"

    @field_validator("amount_step", "price_step", "min_amount", "start_price")
    @classmethod
    def _positive_decimal(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", value) or Decimal(value) <= 0:
            raise ValueError(f"{value!r} is not a positive decimal")
        return value


class PaperSettings(BaseModel):
    """The shared paper market (docs/paper-venue.md): its price source (driven by one worker at
    a time), its default quote and the derivative rules of paper accounts."""

    # manual | random_walk | replay:<csv path> | live:<ccxt id>; PUT /paper/price-source
    # switches it at run time (the stored choice wins over this until reset)
    price_source: str = "random_walk"
    seed: int = 42
    starting_balance_usdt: str = "100000"
    tick_seconds: float = Field(default=1.0, gt=0, le=3600)  # random walk: one step per tick
    walk_step_bps: str = "5"  # random walk: uniform move within +- this per step
    replay_speed: str = "60"  # replay: CSV time runs this many times faster than the clock
    replay_at_end: Literal["loop", "stop"] = "loop"
    live_poll_seconds: float = Field(default=2.0, gt=0, le=3600)
    # the quote's full bid/ask spread when a source gives none: every market, then per symbol
    default_spread_bps: str = "2"
    market_spread_bps: dict[str, str] = Field(default_factory=dict)
    # the synthetic depth market orders walk: levels, their distance, quote currency per level
    # ("0": unlimited, every market order fills at the best price)
    depth_levels: int = Field(default=10, ge=1, le=1000)
    level_step_bps: str = "5"
    level_notional_usdt: str = "100000"
    # derivatives: maintenance margin (and liquidation price) reported on paper positions
    maintenance_margin_rate: str = "0.005"
    # funding of paper perpetuals (docs/paper-market.md -> Funding): at every multiple of the
    # interval since the epoch (00:00, 08:00, 16:00 UTC by default) each open swap position
    # pays qty x contract size x price x rate (longs pay a positive rate, shorts receive it);
    # 0 turns funding off. The rate is per interval: every market, then per symbol.
    funding_interval_seconds: int = Field(default=28800, ge=0, le=7 * 86400)
    funding_rate: str = "0.0001"
    market_funding_rate: dict[str, str] = Field(default_factory=dict)
    # more markets to list (docs/paper-market.md -> Markets), e.g. a desk's own symbols, or many
    # independent prices for a test: a process lists them from its start
    extra_markets: list[PaperMarketSettings] = Field(default_factory=list, max_length=200)


class WebsocketSettings(BaseModel):
    queue_size: int = Field(default=1000, ge=1)
    send_timeout_seconds: float = Field(default=5, gt=0)
    # how often connected sockets' keys are re-checked (revoked/disabled/expired key or user:
    # closed with 1008; a lost account grant: that account's subscriptions end)
    recheck_seconds: float = Field(default=5, gt=0)
    # permessage-deflate compresses every message once per connection: with many subscribers
    # it dominates fan-out CPU (P5 p99 3.3 s with it, 1.6 s without), so it is off by default
    per_message_deflate: bool = False


class OutboxSettings(BaseModel):
    retention_days: float = Field(default=7, gt=0)


class BusSettings(BaseModel):
    """The events bus: NATS JetStream (docs/events-bus.md). Off unless `url` is set; `make run`
    and a single host need none (UDP wake-ups and outbox tailing are the default)."""

    url: str = ""  # e.g. nats://127.0.0.1:4222 (several: comma-separated)
    # workers publish every sequenced event (one publisher at a time, by a lease on the bus)
    publish: bool = True
    # API processes stream websocket events from the bus instead of tailing the outbox
    consume: bool = False
    # API <-> worker wake-ups as core NATS messages instead of UDP datagrams
    wakeups: bool = True
    stream: str = Field(default="OMS_EVENTS", pattern=r"^[A-Za-z0-9_-]+$")
    subject_prefix: str = Field(default="oms.events", pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
    wake_prefix: str = Field(default="oms.wake", pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
    # how long the stream keeps events (JetStream max_age); the outbox keeps its own
    max_age_days: float = Field(default=7, gt=0)
    replicas: int = Field(default=1, ge=1, le=5)
    # the publisher lease (a key in a JetStream key-value bucket): a holder that stops renewing it
    # (hung, cut off from the bus) loses it after
    lease_seconds: float = Field(default=5, gt=0, le=300)
    # a standby publisher asks the lease holder this often whether it is still on the bus, and
    # takes the lease at once when it is not (a killed process); 0: only the lease's expiry
    probe_seconds: float = Field(default=0.2, ge=0, le=60)
    # an API consumer that sees the store ahead of the bus for this long reads the store
    fallback_seconds: float = Field(default=1, gt=0, le=60)

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    @property
    def servers(self) -> list[str]:
        return [u.strip() for u in self.url.split(",") if u.strip()]


class ReconcileSettings(BaseModel):
    """Reconciliation windows and schedule (docs/reconciliation.md)."""

    short_window_minutes: int = Field(default=10, gt=0)
    short_every_seconds: int = Field(default=60, gt=0)
    hourly_window_minutes: int = Field(default=60, gt=0)
    hourly_every_seconds: int = Field(default=3600, gt=0)
    long_window_days: int = Field(default=10, gt=0)
    long_every_seconds: int = Field(default=86400, gt=0)
    # one worker at a time (by lease) enqueues the scheduled runs; false: on demand only
    schedule: bool = True
    # default of accounts.config.reconcile.block_new_positions: refuse new positions while the
    # account is out of sync (fail-closed)
    block_new_positions: bool = False


class SignalSettings(BaseModel):
    # a signal whose `timestamp` is further than this from the server clock (either side) is
    # refused (replay protection with `signal_id`; docs/signals.md)
    timestamp_window_seconds: float = Field(default=300, gt=0, le=86400)


class BudgetLimit(BaseModel):
    units: Decimal = Field(gt=0)  # in the exchange's units (Binance: request weight)
    window_ms: int = Field(gt=0)


class BudgetSettings(BaseModel):
    """The request budget per exchange limit, shared by every process through the store
    (docs/operations.md → Request budget)."""

    enabled: bool = True
    # the name of this host's egress IP: hosts that leave by one IP share Binance's weight
    ip_label: str = Field(default="default", min_length=1, max_length=64)
    read_share: Decimal = Field(default=Decimal("0.8"), gt=0, le=1)  # orders may use it all
    slice_share: Decimal = Field(default=Decimal("0.05"), gt=0, le=1)  # one store round trip
    # a CCXT exchange id's own limit (e.g. a local venue's `--weight-limit`) over the table's
    limits: dict[str, BudgetLimit] = Field(default_factory=dict)


class LoggingSettings(BaseModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class Settings(BaseSettings):
    """The whole configuration of every process (see docs/operations.md for each key)."""

    model_config = SettingsConfigDict(
        env_prefix="OMS_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    env: Literal["dev", "prod"] = "dev"
    app_name: str = "ccxt-oms"
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    paper: PaperSettings = Field(default_factory=PaperSettings)
    websocket: WebsocketSettings = Field(default_factory=WebsocketSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    bus: BusSettings = Field(default_factory=BusSettings)
    reconcile: ReconcileSettings = Field(default_factory=ReconcileSettings)
    signals: SignalSettings = Field(default_factory=SignalSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    _env_inferred: bool = PrivateAttr(default=False)

    @property
    def env_inferred(self) -> bool:
        """True when `env` was not configured but derived from the store."""
        return self._env_inferred

    @model_validator(mode="after")
    def _default_posture(self) -> Settings:
        """Production posture by default whenever the store is not the embedded demo (SQLite):
        `env` not given on MySQL/MariaDB means `prod` (no demo seeding, plaintext credentials
        refused). An explicit `env` wins."""
        if "env" not in self.model_fields_set:
            self.env = "dev" if self.embedded_demo_store else "prod"
            self._env_inferred = True
        return self

    @property
    def embedded_demo_store(self) -> bool:
        """The embedded SQLite store of `make run` (a demo, never production)."""
        return self.database.url.startswith("sqlite")

    @property
    def credentials_must_be_encrypted(self) -> bool:
        """Plaintext exchange credentials are refused except on the embedded demo store in
        `dev` (unless `security.require_encrypted_credentials` says otherwise)."""
        configured = self.security.require_encrypted_credentials
        if configured is not None:
            return configured
        return self.env != "dev" or not self.embedded_demo_store

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            _FlatAliasSource(settings_cls),
            env_settings,
            _JsonFileSource(settings_cls),
        )


class _FlatAliasSource(EnvSettingsSource):
    """The documented flat variable names; they win over the nested `OMS_<SECTION>__<KEY>` form."""

    def __call__(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, (section, key) in FLAT_ALIASES.items():
            value = os.environ.get(name)
            if value is None or value == "":
                continue
            if section is None:
                result[key] = value
            else:
                result.setdefault(section, {})[key] = value
        return result


class _JsonFileSource(PydanticBaseSettingsSource):
    """The JSON file named by `CONFIG_JSON_PATH` (shape of config.docker.example.json)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # pragma: no cover - __call__ does the work

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("CONFIG_JSON_PATH")
        if not path:
            return {}
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"CONFIG_JSON_PATH file not found: {path}") from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"CONFIG_JSON_PATH is not valid JSON: {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"CONFIG_JSON_PATH must hold a JSON object: {path}")
        return data


def load_settings(**overrides: Any) -> Settings:
    """Load settings; raise `ConfigError` (one line) instead of a pydantic error wall."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"invalid configuration at {where}: {first['msg']}") from exc
    except SettingsError as exc:  # e.g. a list setting given as non-JSON text in the environment
        raise ConfigError(f"invalid configuration: {str(exc).splitlines()[0]}") from exc
    _refuse_placeholders(settings)
    return settings


def posture_warnings(settings: Settings) -> list[str]:
    """What an operator should fix although the process may start (logged at API start)."""
    warnings = []
    inferred_prod = settings.env_inferred and settings.env == "prod"  # not the embedded demo
    if inferred_prod and settings.security.api_key_pepper.get_secret_value() == DEV_PEPPER:
        warnings.append(
            "security.api_key_pepper is the public development value on a non-demo store; set "
            "OMS_SECURITY__API_KEY_PEPPER to a long random secret and OMS_ENV=prod"
        )
    return warnings


def _refuse_placeholders(settings: Settings) -> None:
    if settings.env == "dev":
        return
    pepper = settings.security.api_key_pepper.get_secret_value()
    if settings.env_inferred and pepper == DEV_PEPPER:
        return  # prod by default but not declared: warned at API start (posture_warnings)
    if pepper == DEV_PEPPER or "CHANGE_ME" in pepper:
        raise ConfigError(
            "security.api_key_pepper is a placeholder; set OMS_SECURITY__API_KEY_PEPPER "
            "to a long random secret when OMS_ENV=prod"
        )
    master = settings.security.encryption_master_key
    if master is not None and "CHANGE_ME" in master.get_secret_value():
        raise ConfigError(
            "security.encryption_master_key is a placeholder; set ENCRYPTION_MASTER_KEY "
            "(make one with `ccxt-oms generate-master-key`)"
        )
