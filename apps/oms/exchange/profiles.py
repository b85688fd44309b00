"""What the rest of the gateway knows of a venue without opening it: its capabilities, by an
account's `exchange_id`. The paper venue is the gateway's own: its market list is known in
advance, and its prices, wallet and leverages are rows of its tables in this database, which the
books read through `ports.StoredVenueState`; a CCXT venue is reached through the worker and
reconciled. Code outside `apps/oms/exchange/` (and the place that wires venues,
`apps/worker/venues.py`) asks these capabilities, never a venue's name
(`test/unit/foundation/test_venue_names.py`).

This module wires the paper venue's listing and stored state into its profile: it is one of the
places allowed to import `apps.paper` (`test/unit/foundation/test_import_rules.py`); the books,
the services and the store reach the paper venue only through what it answers here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from apps.oms.domain.markets import Listing, Market
from apps.oms.ports import StoredVenueState
from apps.paper.exchange.listing import listed
from apps.paper.store.reads import PaperStoreReads

PAPER_ID = "paper"


@dataclass(frozen=True, slots=True)
class VenueProfile:
    #: markets known without opening the venue (symbols, steps, contract sizes, start prices):
    #: acceptance checks orders against them; None = the venue validates in the worker
    listed: Listing | None
    #: prices are rows of this store and always current (else: venue quotes, with an age)
    prices_in_store: bool
    #: balances and leverages are rows of this store (else: ask the venue, `/ccxt/...`)
    wallet_in_store: bool
    #: the account is testnet or live (else it is neither: `environment` names it)
    has_environments: bool
    environment: str | None
    #: its book's depth and an outsider's activity can be set through the API
    simulated: bool
    #: reconciled before a worker's first command on it (what happened while nobody held it)
    reconciles_on_lease: bool
    #: its rows the books read (prices, wallets, leverages) where they are in this database
    stored: StoredVenueState | None = None

    def market(self, symbol: str) -> Market | None:
        return None if self.listed is None else self.listed.by_symbol.get(symbol)

    def start_price(self, symbol: str) -> Decimal | None:
        """A listed symbol's documented start price (nobody has priced it yet)."""
        if self.listed is None or symbol not in self.listed.by_symbol:
            return None
        return self.listed.default_price(symbol)

    def stored_state(self) -> StoredVenueState:
        """The venue's rows the books read (`prices_in_store`, `wallet_in_store`)."""
        if self.stored is None:
            raise LookupError("the venue keeps no prices or wallets in this database")
        return self.stored


_paper = VenueProfile(listed=listed(), prices_in_store=True, wallet_in_store=True,
                      has_environments=False, environment=PAPER_ID, simulated=True,
                      reconciles_on_lease=False, stored=PaperStoreReads())  # fmt: skip
CCXT = VenueProfile(listed=None, prices_in_store=False, wallet_in_store=False,
                    has_environments=True, environment=None, simulated=False,
                    reconciles_on_lease=True)  # fmt: skip


def profile(exchange_id: str) -> VenueProfile:
    return paper_profile() if exchange_id == PAPER_ID else CCXT


def paper_profile() -> VenueProfile:
    """The paper venue's profile over this process's listing (`apps.paper.exchange.listing`:
    the built-in markets and the configured ones)."""
    global _paper
    if _paper.listed is not listed():
        _paper = replace(_paper, listed=listed())
    return _paper
