"""Exchange instances: one lazily created, reused instance per account (the paper adapter for
`paper`, `ccxt.async_support` for `ccxt.<id>`, `ccxt.pro` for `ccxtpro.<id>`), credentials
decrypted in memory only, sandbox mode for testnet accounts, the account's `config.ccxt` (`urls`
over the class's `urls['api']`, `options`). Used by the API process (`/ccxt`
reads, market data) and by the worker (`apps/worker/venues.py`). CCXT is imported on first use
only (it costs ~100 MB per process)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from decimal import Decimal
from typing import Any

from apps.oms.clock import utcnow
from apps.oms.config import Settings
from apps.oms.domain.request_budget import Limit
from apps.oms.errors import NotFound, OmsError
from apps.oms.exchange.ccxt.budget import Budgets
from apps.oms.security.credentials import CredentialCipher
from apps.oms.store.ccxt_records import venue_account
from apps.oms.store.request_budgets import take_slice
from apps.oms.store.store import Store


def ccxt_id(exchange_id: str) -> str | None:
    """`ccxt.binance` / `ccxtpro.binance` → `binance`; None for other engines."""
    engine, _, name = exchange_id.partition(".")
    return name if engine in ("ccxt", "ccxtpro") and name else None


def build_ccxt_exchange(account: dict[str, Any], settings: Settings,
                        budgets: Budgets | None = None) -> Any:  # fmt: skip
    """A `ccxt.async_support` (`ccxt.<id>`) or `ccxt.pro` (`ccxtpro.<id>`) instance for an
    account row (with decrypted credentials); with `budgets`, its calls spend from its
    exchange limit's request budget (apps/oms/exchange/ccxt/budget.py)."""
    import ccxt.async_support as ccxt_async
    import ccxt.pro as ccxt_pro

    name = ccxt_id(str(account["exchange_id"]))
    module: Any = ccxt_pro if str(account["exchange_id"]).startswith("ccxtpro.") else ccxt_async
    klass = getattr(module, name or "", None)
    if name is None or klass is None or name not in module.exchanges:
        raise OmsError(f"unsupported engine {account['exchange_id']}",
                       code="unsupported_engine", status=422)
    config: dict[str, Any] = {
        "enableRateLimit": True,
        "timeout": int(settings.worker.venue_timeout_seconds * 1000),
    }
    config.update(_decrypted(account.get("credentials"), settings))
    own = (account.get("config") or {}).get("ccxt") or {}
    if own.get("options"):
        config["options"] = dict(own["options"])
    exchange = klass(config)
    exchange.number = str  # keep exact numbers; adapters convert to Decimal
    if account.get("is_testnet"):
        exchange.set_sandbox_mode(True)
    if own.get("urls"):  # after sandbox mode, which replaces `urls['api']` with the testnet's
        exchange.urls["api"] = merged(exchange.urls["api"], own["urls"])
    if budgets is not None:  # after the URLs: the budget is the limit of the host they name
        budgets.attach(exchange, int(account.get("id") or 0))
    return exchange


def store_budgets(store: Store, settings: Settings) -> Budgets | None:
    """This process's request budgets over the store (None when `budget.enabled` is off); its
    slices are recorded as held by `host:pid` (the workers' ids start the same way)."""
    if not settings.budget.enabled:
        return None
    holder = f"{socket.gethostname()}:{os.getpid()}"

    async def ledger(key: str, limit: Limit, purpose: str, wanted: Decimal, observed: Decimal,
                     at_ms: int) -> Decimal:  # fmt: skip
        return await take_slice(store, key, limit, purpose, wanted, observed, at_ms, utcnow(),
                                holder=holder)

    return Budgets(ledger, settings.budget)


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over`'s entries over `base`'s, nested dicts merged (`ws` → `ws-api` → `spot`): how an
    account's `config.ccxt.urls` points the exchange's class at another host, such as a local
    venue (docs/testnet.md), without touching anything else of CCXT."""
    result = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def _decrypted(stored: dict[str, Any] | None, settings: Settings) -> dict[str, str]:
    if not stored:
        return {}
    sec = settings.security
    master = sec.encryption_master_key.get_secret_value() if sec.encryption_master_key else None
    cipher = CredentialCipher(master, [k.get_secret_value() for k in sec.previous_master_keys])
    out: dict[str, str] = {}
    for column, key in (("api_key", "apiKey"), ("secret", "secret"), ("passphrase", "password")):
        value = stored.get(column)
        if value:
            out[key] = cipher.decrypt(str(value))
    return out


async def close_for_good(exchange: Any) -> None:
    """Close a CCXT instance's sessions for good. A request that had not started yet when a
    call failed (CCXT's `load_markets` fetches its market lists side by side and gives up at
    the first failure, leaving the others queued in its rate limiter), or a CCXT Pro stream
    reconnecting, opens a new HTTP session when it goes on after a plain `close()`, and nothing
    closes that one: a worker that retried a venue's start while the venue was down leaked one
    per try. So the instance keeps a closed session, and a late request fails on it instead.
    A request that starts while `close()` awaits (CCXT Pro's listen-key renewal runs on a
    timer) opens a session then: it is swapped out and closed too."""
    await exchange.close()
    if getattr(exchange, "own_session", False):
        import aiohttp  # CCXT's HTTP client: imported with CCXT, only for a CCXT account

        closed = aiohttp.ClientSession()
        await closed.close()
        reopened, exchange.session = exchange.session, closed
        if reopened is not None and not reopened.closed:
            await reopened.close()  # its connector with it (the session owns the one CCXT made)


class ExchangeRegistry:
    """One exchange instance per account for this process, created on first use."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._instances: dict[int, Any] = {}
        self._exchange_ids: dict[int, str] = {}  # the accounts' engines (`ccxtpro.binance`)
        self._lock = asyncio.Lock()
        self.budgets = store_budgets(store, settings)

    async def get(self, account_id: int) -> Any:
        instance = self._instances.get(account_id)
        if instance is not None:
            return instance
        async with self._lock:
            instance = self._instances.get(account_id)
            if instance is None:
                instance = await self._build(account_id)
                self._instances[account_id] = instance
        return instance

    async def _build(self, account_id: int) -> Any:
        async with self.store.read() as conn:
            account = await venue_account(conn, account_id)
        if account is None:
            raise NotFound(f"account {account_id} not found", code="account_not_found")
        self._exchange_ids[account_id] = str(account["exchange_id"])
        if account["exchange_id"] == "paper":
            from apps.paper.exchange.factory import build_paper_venue, market_book

            return build_paper_venue(
                account_id, self.store.engine, account["config"],
                starting_balance_usdt=self.settings.paper.starting_balance_usdt,
                shared=market_book(self.settings.paper),
                maintenance_rate=self.settings.paper.maintenance_margin_rate,
                history_seed=self.settings.paper.seed,
            )
        return build_ccxt_exchange(account, self.settings, self.budgets)

    def exchange_id(self, account_id: int) -> str | None:
        """The engine of an account whose instance this registry built (None before)."""
        return self._exchange_ids.get(account_id)

    async def close(self) -> None:
        for account_id, instance in self._instances.items():
            paper = self._exchange_ids.get(account_id) == "paper"
            with contextlib.suppress(Exception):
                await (instance.close() if paper else close_for_good(instance))
        self._instances.clear()
