"""The request budgets' shared rows on both backends (`apps/oms/store/request_budgets.py`):
processes racing for slices of one window are served one by one and never get more than a
purpose's cap; a new window starts afresh; the exchange's count is reserved; each process's
holder row adds up what it was granted in its latest window."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import select

from apps.oms.clock import utcnow
from apps.oms.domain.request_budget import ORDER, READ, Limit
from apps.oms.store.request_budgets import take_slice
from apps.oms.store.store import Store
from apps.oms.store.tables import request_budget_holders

LIMIT = Limit(Decimal(100), 60_000, read_share=Decimal("0.8"))
AT = 1_800_000_000_000  # a window's start (epoch ms)


@pytest.fixture
async def stores(store_url: str) -> AsyncIterator[list[Store]]:
    """Four processes' stores over one database."""
    opened = [Store.from_url(store_url, pool_size=2) for _ in range(4)]
    yield opened
    for store in opened:
        await store.close()


async def test_racing_processes_never_get_more_than_the_cap(stores: list[Store]) -> None:
    key = f"test|{secrets.token_hex(4)}|ip:default"

    async def process(store: Store) -> Decimal:
        got = Decimal(0)
        for i in range(10):
            got += await take_slice(store, key, LIMIT, READ, Decimal(3), Decimal(0), AT + i,
                                    utcnow(), holder=f"h:{id(store)}")  # fmt: skip
        return got

    granted = await asyncio.gather(*(process(s) for s in stores))
    assert sum(granted) == 80  # 4 x 10 x 3 = 120 asked, the reads' cap given
    order = await take_slice(stores[0], key, LIMIT, ORDER, Decimal(50), Decimal(0), AT, utcnow(),
                             holder="orders")  # fmt: skip
    assert order == 20  # order entry has the rest of the window
    held = await holders(stores[0], key)
    assert held == {**{f"h:{id(s)}": g for s, g in zip(stores, granted, strict=True) if g},
                    "orders": Decimal(20)}  # fmt: skip


async def test_a_new_window_and_the_exchanges_count(stores: list[Store]) -> None:
    key = f"test|{secrets.token_hex(4)}|account:1"
    store = stores[0]
    assert await take_slice(store, key, LIMIT, READ, Decimal(80), Decimal(0), AT, utcnow(),
                            holder="p") == 80  # fmt: skip
    later = AT + LIMIT.window_ms
    assert await take_slice(store, key, LIMIT, READ, Decimal(5), Decimal(0), later,
                            utcnow(), holder="p") == 5  # fmt: skip
    assert await holders(store, key) == {"p": 5}  # the new window's grants only
    # the exchange says 90 are used (calls outside this budget): 10 left, for orders only
    assert await take_slice(store, key, LIMIT, READ, Decimal(5), Decimal(90), later,
                            utcnow(), holder="p") == 0  # fmt: skip
    assert await take_slice(store, key, LIMIT, ORDER, Decimal(50), Decimal(90), later,
                            utcnow(), holder="p") == 10  # fmt: skip
    assert await holders(store, key) == {"p": 15}


async def holders(store: Store, key: str) -> dict[str, Decimal]:
    """Holder -> units it reserved in its latest window, of budget `key`."""
    H = request_budget_holders.c
    async with store.read() as conn:
        rows = await conn.execute(select(H.holder, H.reserved).where(H.budget_key == key))
        return {str(r.holder): Decimal(r.reserved) for r in rows}
