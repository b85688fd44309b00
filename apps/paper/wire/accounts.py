"""The served venue's accounts: API key and secret per paper account, kept in the venue's own
store (`accounts.config["wire"]`), each with its `PaperVenue`."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from apps.oms.store.boundary import Engine
from apps.paper.domain.book import BookConfig
from apps.paper.exchange.factory import build_paper_venue
from apps.paper.exchange.venue import PaperVenue
from apps.paper.store.wire_accounts import insert_wire_account, load_wire_accounts
from apps.paper.wire.fault_gate import FaultGate
from apps.paper.wire.fault_venue import FaultyVenue, FillsHook

#: what a new account is funded with, per dialect
SPOT_FUNDS: Mapping[str, str] = {"USDT": "100000", "BTC": "1", "ETH": "10", "SOL": "100"}
FUTURES_FUNDS: Mapping[str, str] = {"USDT": "100000"}


@dataclass(frozen=True, slots=True)
class Credentials:
    account_id: int
    api_key: str
    secret: str
    #: OKX's third credential (CCXT's `password`); the other dialects ignore it
    passphrase: str = ""


class Accounts:
    """API keys to accounts and their venues (loaded from the store, created on demand)."""

    def __init__(self, engine: Engine, book: BookConfig, clock: Any,
                 gate: FaultGate | None = None, on_fills: FillsHook | None = None) -> None:  # fmt: skip
        self.engine = engine
        self.gate = gate  # the venue's injected faults, applied beneath the handlers
        self.on_fills = on_fills
        self.book = book
        self.clock = clock
        self.by_key: dict[str, Credentials] = {}
        self.venues: dict[int, PaperVenue] = {}
        self._configs: dict[int, Mapping[str, Any]] = {}

    async def load(self) -> None:
        """Every account created by an earlier run of this venue (its keys stay valid)."""
        for account_id, config in await load_wire_accounts(self.engine):
            wire = config.get("wire") or {}
            if wire.get("api_key") and wire.get("secret"):
                self._add(Credentials(account_id, wire["api_key"], wire["secret"],
                                      wire.get("passphrase", "")), config)  # fmt: skip

    async def create(self, funds: Mapping[str, str]) -> Credentials:
        """A new funded account with a fresh key and secret (64 characters, as Binance's) and
        passphrase (OKX's)."""
        key, secret, passphrase = secrets.token_hex(32), secrets.token_hex(32), secrets.token_hex(8)
        config: dict[str, Any] = {"paper": {"start_balances": {c: str(Decimal(v)) for c, v in funds.items()}},
                  "wire": {"api_key": key, "secret": secret, "passphrase": passphrase}}  # fmt: skip
        account_id = await insert_wire_account(self.engine, config)
        creds = Credentials(account_id, key, secret, passphrase)
        self._add(creds, config)
        return creds

    def _add(self, creds: Credentials, config: Mapping[str, Any]) -> None:
        self.by_key[creds.api_key] = creds
        self._configs[creds.account_id] = config

    def secret_of(self, api_key: str) -> str | None:
        creds = self.by_key.get(api_key)
        return None if creds is None else creds.secret

    def passphrase_of(self, api_key: str) -> str | None:
        creds = self.by_key.get(api_key)
        return None if creds is None else creds.passphrase

    def venue(self, api_key: str) -> PaperVenue:
        """The venue of a verified key's account (one instance per account and process)."""
        account_id = self.by_key[api_key].account_id
        if account_id not in self.venues:
            venue = build_paper_venue(
                account_id, self.engine, self._configs[account_id], book=_book_raw(self.book),
                clock=self.clock, venue_class=FaultyVenue)  # fmt: skip
            assert isinstance(venue, FaultyVenue)  # noqa: S101  (built as one above)
            venue.gate, venue.on_fills = self.gate, self.on_fills
            self.venues[account_id] = venue
        return self.venues[account_id]

    def venue_of(self, account_id: int) -> PaperVenue:
        """The venue of an account by its id (the admin's); KeyError when unknown here."""
        creds = next((c for c in self.by_key.values() if c.account_id == account_id), None)
        if creds is None:
            raise KeyError(f"no account {account_id} on this venue")
        return self.venue(creds.api_key)

    def all_venues(self) -> list[PaperVenue]:
        return [self.venue(c.api_key) for c in self.by_key.values()]


def _book_raw(book: BookConfig) -> dict[str, Any]:
    """The book as `build_paper_venue` takes it (the account config's `paper.book` shape)."""
    return {"spread_bps": str(book.spread_bps), "levels": book.levels,
            "level_step_bps": str(book.level_step_bps),
            "level_volume": None if book.level_volume is None else str(book.level_volume),
            "resting_volume": None if book.resting_volume is None else str(book.resting_volume),
            "level_notional": None if book.level_notional is None else str(book.level_notional)}  # fmt: skip
