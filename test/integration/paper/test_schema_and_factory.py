"""Migration 0002 matches the paper table definitions; the factory reads account config;
two accounts given the same prices and orders get the same fills (determinism end to end)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import apps.paper.store.tables  # noqa: F401 - registers the paper tables on `metadata`
from apps.oms.ports import MatchingVenuePort, VenuePort
from apps.oms.store.tables import metadata
from apps.paper.exchange.factory import as_port, book_config, build_paper_venue

D = Decimal


async def test_migration_matches_paper_tables(engine) -> None:  # type: ignore[no-untyped-def]
    def diff(sync_conn: Any) -> list[Any]:
        return compare_metadata(MigrationContext.configure(sync_conn, opts={
            "compare_type": True}), metadata)

    async with engine.connect() as conn:
        changes = await conn.run_sync(diff)
    paper = [c for c in changes if "paper_" in repr(c)]
    assert paper == []


async def test_factory_applies_account_config(engine, new_account, clock) -> None:  # type: ignore[no-untyped-def]
    config = {"paper": {"start_balances": {"USDT": "2500"}, "leverage": 5,
                        "faults": {"reject_rate": "1", "seed": 3}}}
    venue = build_paper_venue(await new_account(), engine, config, clock=clock)
    assert (await venue.fetch_balance())["total"] == {"USDT": D(2500)}
    assert venue.leverage == 5
    with pytest.raises(ccxt.InvalidOrder, match="injected reject"):
        await venue.create_order("BTC/USDT", "market", "buy", D("0.01"))
    assert isinstance(as_port(venue), MatchingVenuePort)
    assert isinstance(venue, VenuePort)
    plain = build_paper_venue(await new_account(), engine, None, starting_balance_usdt="7")
    assert (await plain.fetch_balance())["total"] == {"USDT": D(7)}
    assert book_config({"spread_bps": "4", "level_volume": "0.5"}).level_volume == D("0.5")
    # the account's own `paper.book` (what the worker process uses: it passes no `book`)
    booked = build_paper_venue(await new_account(), engine,
                               {"paper": {"book": {"resting_volume": "0.05"}}})
    assert booked.venue.book.resting_volume == D("0.05")
    assert plain.venue.book.resting_volume is None


async def test_same_prices_same_orders_same_fills(engine, new_account, clock) -> None:  # type: ignore[no-untyped-def]
    book = {"spread_bps": "4", "level_step_bps": "2", "level_volume": "0.3",
            "resting_volume": "0.1"}
    venues = [build_paper_venue(await new_account(), engine, None, book=book, clock=clock)
              for _ in range(2)]
    await venues[0].set_price("SOL/USDT", D(150))
    for venue in venues:
        await venue.create_order("SOL/USDT", "market", "buy", D("0.75"))
        await venue.create_order("SOL/USDT", "limit", "buy", D("0.35"), D(149))
    for price in ("149.5", "148.9", "149.2", "148"):
        await venues[0].set_price("SOL/USDT", D(price))
        for venue in venues:
            await venue.match()

    def shape(trades: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(t["side"], t["price"], t["amount"], t["fee"]["cost"], t["takerOrMaker"])
                for t in trades]

    first = shape(await venues[0].fetch_my_trades())
    second = shape(await venues[1].fetch_my_trades())
    assert first == second
    # the market order walks 3 levels of 0.3; the limit at 149 gets 0.1 on each of the two
    # prices that trade through it (148.9 and 148)
    assert [(t[1], t[2], t[4]) for t in first] == [
        (D("150.030"), D("0.3"), "taker"), (D("150.061"), D("0.3"), "taker"),
        (D("150.091"), D("0.15"), "taker"), (D(149), D("0.1"), "maker"),
        (D(149), D("0.1"), "maker"),
    ]
