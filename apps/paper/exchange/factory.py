"""Build a `PaperVenue` for an account from its stored config (`accounts.config["paper"]`).

Shape (every key optional):

    {"paper": {"start_balances": {"USDT": "100000"}, "leverage": 10, "edit_order": true,
               "faults": {"ack_latency_ms": 0, "fill_latency_ms": 0, "reject_rate": "0",
                          "timeout_rate": "0", "unavailable_rate": "0", "seed": 0}}}

and for the synthetic book (`book` argument, else the account's `paper.book`, else defaults):
{"spread_bps": "0", "levels": 10, "level_step_bps": "5", "level_volume": null,
"level_notional": null, "resting_volume": null}; a key left out takes the shared market's value
(`paper.*` settings: default spread, depth levels, level step, level notional).

`edit_order: false` makes the adapter a venue without native edit (`has['editOrder']` False,
`edit_order` raises `ccxt.NotSupported`), so `change_order` goes by cancel/replace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from apps.oms.config import PaperSettings
from apps.oms.domain.money import parse_decimal
from apps.oms.ports import FundingVenuePort, MarginVenuePort
from apps.oms.store.boundary import Engine
from apps.paper.domain.book import BookConfig
from apps.paper.domain.faults import FaultConfig
from apps.paper.domain.matching import Venue
from apps.paper.domain.state import DEFAULT_LEVERAGE
from apps.paper.exchange.listing import listed
from apps.paper.exchange.market_data import now_ms
from apps.paper.exchange.venue import PaperVenue
from apps.paper.store.venue_store import PaperStore


def _dec(value: Any, default: str = "0") -> Decimal:
    return parse_decimal(default if value is None else value)


def fault_config(raw: Mapping[str, Any] | None) -> FaultConfig:
    raw = raw or {}
    return FaultConfig(
        ack_latency_ms=int(raw.get("ack_latency_ms", 0)),
        fill_latency_ms=int(raw.get("fill_latency_ms", 0)),
        reject_rate=_dec(raw.get("reject_rate")),
        timeout_rate=_dec(raw.get("timeout_rate")),
        unavailable_rate=_dec(raw.get("unavailable_rate")),
        seed=int(raw.get("seed", 0)),
    )


def book_config(raw: Mapping[str, Any] | None, shared: BookConfig | None = None) -> BookConfig:
    """An account's book: its `paper.book` keys over the shared market's (`shared`, else the
    core defaults). A `spread_bps` of its own replaces every market's spread for it."""
    raw = raw or {}
    base = shared or BookConfig()
    volume, resting = raw.get("level_volume", base.level_volume), raw.get(
        "resting_volume", base.resting_volume
    )
    own_spread = raw.get("spread_bps") is not None
    notional = raw.get("level_notional", base.level_notional)
    return BookConfig(
        spread_bps=_dec(raw.get("spread_bps")) if own_spread else base.spread_bps,
        spreads=MappingProxyType({}) if own_spread else base.spreads,
        levels=int(raw.get("levels", base.levels)),
        level_step_bps=_dec(raw.get("level_step_bps"), str(base.level_step_bps)),
        level_volume=None if volume is None else parse_decimal(volume),
        resting_volume=None if resting is None else parse_decimal(resting),
        level_notional=None if notional is None else parse_decimal(notional),
    )


def market_book(paper: PaperSettings) -> BookConfig:
    """The shared market's quote shape from settings: `default_spread_bps` for every market,
    `market_spread_bps` per symbol (ValueError on a value that is not a decimal)."""
    notional = parse_decimal(paper.level_notional_usdt)
    return BookConfig(
        spread_bps=parse_decimal(paper.default_spread_bps),
        spreads=MappingProxyType(
            {s: parse_decimal(v) for s, v in paper.market_spread_bps.items()}
        ),
        levels=paper.depth_levels,
        level_step_bps=parse_decimal(paper.level_step_bps),
        level_notional=notional if notional > 0 else None,
    )


def shared_venue(paper: PaperSettings) -> Venue:
    """The shared simulated market (markets and default quote) that prices are stored for."""
    return Venue(markets=listed(), book=market_book(paper))


def build_paper_venue(
    account_id: int,
    engine: Engine,
    account_config: Mapping[str, Any] | None = None,
    *,
    starting_balance_usdt: str = "100000",
    book: Mapping[str, Any] | None = None,
    clock: Callable[[], int] = now_ms,
    shared: BookConfig | None = None,
    maintenance_rate: str = "0.005",
    store: PaperStore | None = None,
    history_seed: int = 0,
    venue_class: type[PaperVenue] = PaperVenue,
) -> PaperVenue:
    """The adapter for one paper account; start balances default to `starting_balance_usdt`;
    the book config is `book` if given, else the account's `paper.book` (e.g. a finite
    `resting_volume` for partial fills of resting limits), over `shared` (the market's default
    spread from settings). Without `book`, the account's `paper.book` is followed live: a change
    (`PUT /paper/accounts/{id}/book`) applies from the account's next venue call. `store`: a
    paper store shared with other accounts' venues (a worker's: one join for a group commit).
    `history_seed`: the seed of the candle history (`paper.seed`). `venue_class`: a subclass
    of `PaperVenue` to build (the served venue's, which applies its injected faults)."""
    paper = dict((account_config or {}).get("paper") or {})
    start = paper.get("start_balances") or {"USDT": starting_balance_usdt}
    return venue_class(
        account_id,
        store or PaperStore(engine),
        venue=Venue(markets=listed(),
                    book=book_config(book if book is not None else paper.get("book"), shared)),
        book_from=None if book is not None else (lambda raw: book_config(raw, shared)),
        maintenance_rate=parse_decimal(maintenance_rate),
        faults=fault_config(paper.get("faults")),
        start_balances={str(c): parse_decimal(v) for c, v in start.items()},
        leverage=int(paper.get("leverage", DEFAULT_LEVERAGE)),
        clock=clock,
        edit_order=bool(paper.get("edit_order", True)),
        history_seed=history_seed,
    )


def as_port(venue: PaperVenue) -> FundingVenuePort:
    """The adapter as the worker sees it (mypy checks PaperVenue against the port here)."""
    return venue


def as_margin_port(venue: PaperVenue) -> MarginVenuePort:
    """The adapter's derivatives settings (mypy checks PaperVenue against the port here)."""
    return venue
