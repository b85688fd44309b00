"""Property: random interleavings of OMS commands, external orders (market and resting limits on
the paper venue, bypassing the OMS), price moves, order sync and reconciliation runs, in every
position mode, through the real worker code on a real SQLite store. Afterwards (one final
reconciliation run):
- the books' net quantity per symbol equals the venue's;
- no venue trade is booked twice, and every venue trade is booked;
- stored positions equal a rebuild from their deals.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from apps.oms.clock import utcnow
from apps.oms.config import Settings
from apps.oms.domain.positions import rebuild_all
from apps.oms.service.execution.sync import sync_orders
from apps.oms.service.reconcile import command_payload, enqueue
from apps.oms.store import books
from apps.oms.store.migrate import upgrade
from apps.oms.store.positions import position_from_row
from apps.oms.store.store import Store
from apps.oms.store.tables import deals, positions
from apps.paper.exchange.factory import build_paper_venue
from test.integration.pipeline_worker.conftest import Harness

SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT")
PRICES = {"BTC/USDT:USDT": ("50000", "49000", "51000"), "ETH/USDT:USDT": ("3000", "2900", "3100")}
QTY = {"BTC/USDT:USDT": ("0.001", "0.002", "0.005"), "ETH/USDT:USDT": ("0.01", "0.02", "0.05")}

symbol = st.sampled_from(SYMBOLS)
side = st.sampled_from(("buy", "sell"))
size = st.integers(0, 2)
step = st.one_of(
    st.tuples(st.just("oms"), symbol, side, size),
    st.tuples(st.just("external"), symbol, side, size),
    st.tuples(st.just("external_limit"), symbol, side, size),
    st.tuples(st.just("price"), symbol, st.integers(0, 2), st.just(0)),
    st.tuples(st.just("sync"), symbol, side, size),
    st.tuples(st.just("reconcile"), symbol, side, size),
)


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("recon-prop") / "prop.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    return url


async def scenario(url: str, mode: str, steps: list[tuple[str, str, Any, int]]) -> None:
    store = Store.from_url(url, pool_size=4)
    try:
        h = Harness(store)
        account_id = await h.account(mode)
        for sym in SYMBOLS:
            await h.price(sym, PRICES[sym][0])
        venue = build_paper_venue(account_id, store.engine, {})
        await run_reconcile(h, account_id)  # queued work: the harness takes the lease
        for kind, sym, arg, n in steps:
            if kind == "oms":
                await h.send(account_id, "send_order", symbol=sym, side=arg,
                             order_type="market", qty=QTY[sym][n])
                await h.drain(account_id, housekeeping=False)
            elif kind == "external":
                await venue.create_order(sym, "market", arg, Decimal(QTY[sym][n]))
            elif kind == "external_limit":
                price = Decimal(PRICES[sym][1 if arg == "buy" else 2])
                await venue.create_order(sym, "limit", arg, Decimal(QTY[sym][n]), price)
            elif kind == "price":
                await h.price(sym, PRICES[sym][arg])
            elif kind == "sync":
                await sync_orders(await h.runtime(account_id))
            else:
                await run_reconcile(h, account_id)
        await run_reconcile(h, account_id)
        await check(store, account_id, venue)
    finally:
        await store.close()


async def run_reconcile(h: Harness, account_id: int) -> None:
    async with h.store.transaction() as conn:
        command_id = await enqueue(conn, account_id, command_payload(Settings().reconcile, "long"),
                                   utcnow())
    await h.drain(account_id, housekeeping=False)
    assert (await h.command(command_id))["status"] == "completed"


async def check(store: Store, account_id: int, venue: Any) -> None:
    venue_net = {p["symbol"]: Decimal(p["contracts"]) * (1 if p["side"] == "long" else -1)
                 for p in await venue.fetch_positions()}
    async with store.read() as conn:
        rows = [dict(r) for r in (await conn.execute(
            select(positions).where(positions.c.account_id == account_id))).mappings()]
        trade_rows = (await conn.execute(select(deals.c.exchange_trade_id, deals.c.leg).where(
            deals.c.account_id == account_id))).all()
        all_deals = await books.deals_of_account(conn, account_id)
    books_net: dict[str, Decimal] = {}
    for p in rows:
        if p["is_open"]:
            signed = Decimal(p["qty"]) * (1 if p["side"] == "buy" else -1)
            books_net[p["symbol"]] = books_net.get(p["symbol"], Decimal(0)) + signed
    for sym in SYMBOLS:
        assert books_net.get(sym, Decimal(0)) == venue_net.get(sym, Decimal(0)), sym
    keys = [(str(t), int(leg)) for t, leg in trade_rows]
    assert len(keys) == len(set(keys)), "a venue trade was booked twice"
    venue_trades = {str(t["id"]) for t in await venue.fetch_my_trades(None, None, 10_000)}
    assert {t for t, leg in keys if leg == 0} == venue_trades
    stored = {int(r["id"]): position_from_row(r) for r in rows}
    rebuilt = rebuild_all(all_deals, stored)
    assert rebuilt == {pid: stored[pid] for pid in rebuilt}


@pytest.mark.parametrize("mode", ["hedge", "netting", "strategy_netting"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(steps=st.lists(step, min_size=1, max_size=12))
def test_books_follow_the_venue(db_url: str, mode: str, steps: list[Any]) -> None:
    asyncio.run(scenario(db_url, mode, steps))
