"""The paper market's listing in this process: the built-in markets plus the operator's
`paper.extra_markets`.

Acceptance (the venue's profile), the price service, the market-data feeds and every paper
account's venue must agree on what is listed, and they are built in many places of a process.
So the listing is process configuration: the API and the worker set it once from their settings
at start (`configure`), everything that builds a paper venue reads it (`listed`). Without
`configure` (a unit test building a venue) it is the built-in listing.
"""

from __future__ import annotations

from decimal import Decimal

from apps.oms.config import PaperSettings
from apps.oms.errors import ConfigError
from apps.paper.domain.markets import DEFAULT_MARKETS, DEFAULT_PRICES, MarketList, paper_pair

_listed = MarketList.of()


def listing_of(paper: PaperSettings) -> MarketList:
    """The built-in markets and the configured ones; a configured base that is already listed
    (built in, or twice) is a configuration error."""
    markets, prices = list(DEFAULT_MARKETS), dict(DEFAULT_PRICES)
    for extra in paper.extra_markets:
        if extra.base in prices:
            raise ConfigError(f"paper.extra_markets: {extra.base} is listed already")
        markets += paper_pair(extra.base, extra.amount_step, extra.price_step, extra.min_amount)
        prices[extra.base] = Decimal(extra.start_price)
    return MarketList.of(markets, prices)


def configure(paper: PaperSettings) -> MarketList:
    """Set this process's listing from its settings (at start, before any venue is built)."""
    global _listed
    _listed = listing_of(paper)
    return _listed


def listed() -> MarketList:
    return _listed
