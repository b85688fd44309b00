"""The request budget against the local Binance venue with its weight limit set low: two
processes' worth of CCXT instances (each its own budgets over one gateway store, each its own
account on the venue, one IP) hammer reads and place orders; the venue never answers 429 or 418,
every order is placed, and reads waited for budget. No test bounds wall-clock time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from apps.oms.config import Settings
from apps.oms.exchange.ccxt.instances import build_ccxt_exchange, store_budgets
from apps.oms.store.store import Store
from apps.oms.store.tables import request_budgets
from apps.paper.wire.process import Running, start
from apps.paper.wire.server import build_venue
from test.integration.wire.test_gateway_account import account_row

LIMIT, WINDOW_MS = 60, 2_000  # Binance weight per window and address (the real: 6000 a minute)
READERS, READS, ORDERS = 2, 20, 8  # per process; a ticker weighs 2, an order 1


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[Running]:
    running = await start(await build_venue(f"sqlite+aiosqlite:///{tmp_path / 'v.sqlite3'}",
                                            "binance"))  # fmt: skip
    yield running
    await running.stop()


def waited(account: str) -> float:
    return REGISTRY.get_sample_value("oms_budget_wait_seconds_sum",
                                     {"account": account, "purpose": "read"}) or 0.0  # fmt: skip


async def test_two_processes_share_the_venues_weight_limit(limited: Running,
                                                           gateway: Store) -> None:  # fmt: skip
    settings = Settings(budget={"limits": {"binance": {"units": LIMIT, "window_ms": WINDOW_MS}}})
    exchanges: list[Any] = []
    for account_id in (901, 902):  # two processes: budgets of their own, one store
        creds = await limited.venue.new_account()
        row = {**account_row(limited, "ccxt.binance"), "id": account_id}
        exchange = build_ccxt_exchange(row, settings, store_budgets(gateway, settings))
        exchange.apiKey, exchange.secret = creds.api_key, creds.secret
        exchanges.append(exchange)
    before = [waited("901"), waited("902")]
    try:
        await asyncio.gather(*(e.load_markets() for e in exchanges))  # 20 each
        limited.venue.weights.configure(LIMIT, WINDOW_MS, ban_after=1, ban_s=600)

        async def read(exchange: Any) -> None:
            for _ in range(READS):
                await exchange.fetch_ticker("BTC/USDT")

        async def trade(exchange: Any) -> list[dict[str, Any]]:
            return [await exchange.create_order("ETH/USDT", "market", "buy", 0.01)
                    for _ in range(ORDERS)]  # fmt: skip

        done = await asyncio.gather(*(read(e) for e in exchanges for _ in range(READERS)),
                                    *(trade(e) for e in exchanges))  # fmt: skip
    finally:
        for exchange in exchanges:
            await exchange.close()
    orders = [o for placed in done[READERS * 2:] if placed for o in placed]
    assert len(orders) == 2 * ORDERS
    assert {o["status"] for o in orders} == {"closed"}
    assert limited.venue.weights.banned_until == {}  # a single 429 would have banned (418)
    assert waited("901") > before[0]
    assert waited("902") > before[1]
    async with gateway.read() as conn:
        rows = (await conn.execute(select(request_budgets))).mappings().all()
    assert len(rows) == 1  # one IP, one limit: both accounts' budget
    assert Decimal(rows[0]["reserved"]) <= LIMIT
