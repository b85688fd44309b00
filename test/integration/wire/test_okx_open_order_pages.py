"""OKX lists open orders 100 a request, newest first (`/api/v5/trade/orders-pending`, `after` an
`ordId` for the older ones), and CCXT asks one page: the local venue pages the same way, and the
gateway's venue port (`CcxtVenue.fetch_open_orders`) reads every page, so that the order sync
never takes an open order beyond the first page for ended (and asks `fetch_order` of it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt_async
import pytest

from apps.oms.exchange.ccxt.venue import CcxtVenue
from apps.paper.wire.process import Running, start
from apps.paper.wire.server import build_venue
from test.integration.wire.test_okx_ccxt import SPOT, okx_config, point

RESTING = 160  # more than a page (8 batches)


@pytest.fixture
async def okx(tmp_path: Path) -> AsyncIterator[tuple[Running, Any]]:
    running = await start(await build_venue(f"sqlite+aiosqlite:///{tmp_path / 'v.sqlite3'}",
                                            "okx"))  # fmt: skip
    exchange = point(ccxt_async.okx(okx_config(await running.venue.new_account())), running)
    try:
        yield running, exchange
    finally:
        await exchange.close()
        await running.stop()


async def test_every_page_of_open_orders(okx: tuple[Running, Any]) -> None:
    _, exchange = okx
    placed: list[str] = []
    for first in range(0, RESTING, 20):  # OKX's batch: 20 orders a request
        batch = [{"symbol": SPOT, "type": "limit", "side": "buy", "amount": 0.01,
                  "price": 2000 - i} for i in range(first, first + 20)]  # fmt: skip
        placed += [str(o["id"]) for o in await exchange.create_orders(batch)]
    assert len(set(placed)) == RESTING

    page = await exchange.fetch_open_orders(SPOT)  # CCXT's own call: the first page only
    assert len(page) == 100
    assert {str(o["id"]) for o in page} == set(placed[-100:])  # the newest
    oldest = min(page, key=lambda o: int(o["timestamp"]))
    older = await exchange.fetch_open_orders(SPOT, params={"after": str(oldest["id"])})
    assert {str(o["id"]) for o in older} == set(placed[:-100])

    listed = await CcxtVenue(exchange).fetch_open_orders(SPOT)
    assert sorted(str(o["id"]) for o in listed) == sorted(placed)
    assert {o["price"] for o in listed} == {Decimal(2000 - i) for i in range(RESTING)}
