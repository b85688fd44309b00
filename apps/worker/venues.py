"""Venue instances for leased accounts: one long-lived adapter per account in this process.

Paper accounts get the paper adapter from its factory. `ccxt.<id>` / `ccxtpro.<id>` accounts get
a `CcxtVenue` over one exchange instance (credentials decrypted in memory only, sandbox mode for
testnet accounts, markets loaded once and refreshed after a day); a live (non-testnet) account
gets one only with `security.allow_live_trading`, and a CCXT account needs stored credentials.
A CCXT account whose venue account is in the other position mode than its books need (hedge
books on a one-way venue account, netting books on a hedge-mode one) gets none either
(`exchange/ccxt/position_modes.mode_mismatch`, read once, when its venue is first built).
Without a venue an account's commands fail with `venue_unavailable` and their unsent orders end
`REJECTED` (`account_task.fail_unsupported`); `VenueCache.problem` says why, for the message.
A venue that cannot answer the mode read for now (a network error, a timeout, maintenance, a
rate limit: CCXT's `NetworkError` family) fails nothing: `open` raises `VenueNotReady`, and the
worker lets the account go to try it again (`account_tasks.start`), as a send whose venue call
met the same error is retried rather than failed.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from apps.oms.config import Settings
from apps.oms.domain.enums import PositionMode
from apps.oms.exchange.ccxt.instances import build_ccxt_exchange, ccxt_id, store_budgets
from apps.oms.exchange.ccxt.position_modes import mode_mismatch
from apps.oms.exchange.ccxt.venue import CcxtVenue
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.oms.ports import VenuePort
from apps.oms.service.execution.runtime import Account
from apps.oms.store import accounts as account_store
from apps.oms.store.ccxt_records import venue_account
from apps.oms.store.store import Store
from apps.paper.exchange import listing
from apps.paper.exchange.factory import as_port, build_paper_venue, market_book
from apps.paper.store.venue_store import PaperStore

log = logging.getLogger("apps.worker")
MARKETS_TTL_SECONDS = 86_400.0


async def load_account(store: Store, account_id: int) -> Account:
    async with store.read() as conn:
        row = await account_store.account_row(conn, account_id)
    # the executors' own `Account` (service/execution/runtime.py) made of the store's record
    return Account(row.account_id, row.exchange_id, PositionMode(row.position_mode), row.status,
                   row.config)


class VenueNotReady(Exception):
    """The account's venue could not be checked for now (a transient venue error): its
    commands wait, nothing is failed."""


class VenueCache:
    """Builds each account's venue once and keeps it while the process lives. `prepare` is
    called with every new CCXT exchange instance (tests install recorded responses there)."""

    def __init__(
        self, settings: Settings, store: Store, prepare: Callable[[Any], None] | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.prepare = prepare
        self._venues: dict[int, VenuePort] = {}
        self._problems: dict[int, str] = {}
        # one paper store for every paper account of the process (its caches are per account):
        # a group commit then joins all their venues to its transaction at once
        self.paper_store = PaperStore(store.engine)
        listing.configure(settings.paper)  # the paper markets this process lists
        self.budgets = store_budgets(store, settings)  # the CCXT venues' request budgets

    def problem(self, account: Account) -> str:
        """Why `open` gave no venue for the account (the message of its failed commands)."""
        return self._problems.get(
            account.account_id, f"no venue adapter for {account.exchange_id}")

    def get(self, account: Account) -> VenuePort | None:
        """The cached venue (paper venues are built here; CCXT ones by `open`)."""
        venue = self._venues.get(account.account_id)
        if venue is None and account.exchange_id == "paper":
            venue = as_port(build_paper_venue(
                account.account_id, self.store.engine, account.config,
                starting_balance_usdt=self.settings.paper.starting_balance_usdt,
                shared=market_book(self.settings.paper),
                maintenance_rate=self.settings.paper.maintenance_margin_rate,
                history_seed=self.settings.paper.seed,
                store=self.paper_store))
            self._venues[account.account_id] = venue
        return venue

    async def open(self, account: Account) -> VenuePort | None:
        """The account's venue, building a CCXT one on first use; None when there is none."""
        venue = self.get(account)
        if venue is not None or ccxt_id(account.exchange_id) is None:
            return venue
        try:
            venue = await self._build_ccxt(account)
        except VenueNotReady:
            raise
        except Exception as exc:  # unknown engine, undecryptable credentials: fail its commands
            venue, self._problems[account.account_id] = None, (
                f"account {account.account_id} ({account.exchange_id}) has no usable venue: "
                f"{getattr(exc, 'message', None) or exc}")
        if venue is not None:
            built_meanwhile = self._venues.get(account.account_id)
            if built_meanwhile is not None:
                # two starts of the account built at once (a lease lost and taken again while
                # the first build waited on the venue): one instance per account; the other,
                # its HTTP session opened by the mode read, is closed rather than dropped
                await venue.close()
                return built_meanwhile
            self._venues[account.account_id] = venue
            self._problems.pop(account.account_id, None)
        else:
            log.warning("%s", self.problem(account))
        return venue

    async def _build_ccxt(self, account: Account) -> VenuePort | None:
        async with self.store.read() as conn:
            row = await venue_account(conn, account.account_id)
        if row is None:
            return None
        problem = unusable_reason(row, self.settings.security.allow_live_trading)
        if problem is not None:
            self._problems[account.account_id] = problem
            return None
        exchange = build_ccxt_exchange(row, self.settings, self.budgets)
        if self.prepare is not None:
            self.prepare(exchange)
        venue = CcxtVenue(exchange, markets_ttl_seconds=MARKETS_TTL_SECONDS)
        try:
            problem = await position_mode_problem(venue, account)
        except BaseException:
            # the mode read opened the exchange's HTTP session: an error CCXT does not name
            # (`open` turns it into the account's problem) or the worker stopping mid-read
            # (cancelled) drops the venue, and a dropped, unclosed instance is collected later
            # with its session open (aiohttp's "Unclosed client session" in whatever runs then)
            await venue.close()
            raise
        if problem is not None:
            self._problems[account.account_id] = problem
            await venue.close()
            return None
        return venue

    async def close(self) -> None:
        for venue in self._venues.values():
            with contextlib.suppress(Exception):  # one failing close must not leak the others
                await venue.close()
        self._venues.clear()


async def position_mode_problem(venue: CcxtVenue, account: Account) -> str | None:
    """Why the account may not run on its venue account's position mode (None: it may, or the
    venue has no mode to compare). A venue that cannot say is a problem too: sending on an
    unknown mode could open a venue position the books do not hold."""
    try:
        hedged = await venue.venue_hedged()
    except ccxt.NetworkError as exc:  # timeouts, outages, maintenance, rate limits: later
        await venue.close()
        raise VenueNotReady(f"account {account.account_id} ({account.exchange_id}) could not "
                            f"read its venue account's position mode for now: {exc}") from exc
    except ccxt.BaseError as exc:
        return (f"account {account.account_id} ({account.exchange_id}) could not read its venue "
                f"account's position mode, so it does not run yet: {exc}")
    if hedged is None:
        return None
    return mode_mismatch(account.account_id, account.exchange_id, account.position_mode, hedged)


def unusable_reason(row: dict[str, Any], allow_live_trading: bool) -> str | None:
    """Why a CCXT account row cannot trade from this worker (None when it can)."""
    account_id = row["id"]
    if not row["is_testnet"] and not allow_live_trading:
        return (f"account {account_id} is a live account and security.allow_live_trading is off "
                "(turn it on to trade live, or use a --testnet account)")
    stored = row.get("credentials") or {}
    if not stored.get("api_key") or not stored.get("secret"):
        return (f"account {account_id} has no API credentials "
                f"(store them with: ccxt-oms upsert-credentials --account-id {account_id})")
    return None
