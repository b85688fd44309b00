"""Build a `PaperVenue` for an account from its stored config (`accounts.config["paper"]`).

Shape (every key optional):

    {"paper": {"start_balances": {"USDT": "100000"}, "leverage": 10, "edit_order": true,
               "faults": {"ack_latency_ms": 0, "fill_latency_ms": 0, "reject_rate": "0",
                          "timeout_rate": "0", "unavailable_rate": "0", "seed": 0}}}

and for the synthetic book (`book` argument, else the account's `paper.book`, else defaults):
{"spread_bps": "0", "levels": 10,
"level_step_bps": "5", "level_volume": null, "resting_volume": null}.

`edit_order: false` makes the adapter a venue without native edit (`has['editOrder']` False,
`edit_order` raises `ccxt.NotSupported`), so `change_order` goes by cancel/replace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from apps.oms.domain.money import parse_decimal
from apps.oms.domain.paper.book import BookConfig
from apps.oms.domain.paper.faults import FaultConfig
from apps.oms.domain.paper.matching import Venue
from apps.oms.domain.paper.state import DEFAULT_LEVERAGE
from apps.oms.exchange.paper.market_data import now_ms
from apps.oms.exchange.paper.venue import PaperVenue
from apps.oms.service.ports import JoinableVenuePort
from apps.oms.store.paper import PaperStore


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


def book_config(raw: Mapping[str, Any] | None) -> BookConfig:
    raw = raw or {}
    volume, resting = raw.get("level_volume"), raw.get("resting_volume")
    return BookConfig(
        spread_bps=_dec(raw.get("spread_bps")),
        levels=int(raw.get("levels", 10)),
        level_step_bps=_dec(raw.get("level_step_bps"), "5"),
        level_volume=None if volume is None else parse_decimal(volume),
        resting_volume=None if resting is None else parse_decimal(resting),
    )


def build_paper_venue(
    account_id: int,
    engine: AsyncEngine,
    account_config: Mapping[str, Any] | None = None,
    *,
    starting_balance_usdt: str = "100000",
    book: Mapping[str, Any] | None = None,
    clock: Callable[[], int] = now_ms,
) -> PaperVenue:
    """The adapter for one paper account; start balances default to `starting_balance_usdt`;
    the book config is `book` if given, else the account's `paper.book` (e.g. a finite
    `resting_volume` for partial fills of resting limits), else the defaults."""
    paper = dict((account_config or {}).get("paper") or {})
    start = paper.get("start_balances") or {"USDT": starting_balance_usdt}
    return PaperVenue(
        account_id,
        PaperStore(engine),
        venue=Venue(book=book_config(book if book is not None else paper.get("book"))),
        faults=fault_config(paper.get("faults")),
        start_balances={str(c): parse_decimal(v) for c, v in start.items()},
        leverage=int(paper.get("leverage", DEFAULT_LEVERAGE)),
        clock=clock,
        edit_order=bool(paper.get("edit_order", True)),
    )


def as_port(venue: PaperVenue) -> JoinableVenuePort:
    """The adapter as the worker sees it (mypy checks PaperVenue against the port here)."""
    return venue
