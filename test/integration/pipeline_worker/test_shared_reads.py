"""The reads a worker's account tasks make between steps, made once for all of them
(`apps/worker/shared_reads.py`): callers within the age limit share one read, callers during
a read wait for it, an older answer is read again, and the unfinished-command poll answers
each held account from one statement (an account not held asks alone). No speed is asserted:
ages are either an hour (nothing expires during the test) or zero."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from apps.oms.store import queue
from apps.worker.shared_reads import SharedReads

from .conftest import Harness

SYMBOL = "BTC/USDT"


def counting(shared: SharedReads, kind: str) -> list[int]:
    """Count the reads of one kind (`_prices` or `_unfinished`)."""
    reads: list[int] = []
    cache: Any = getattr(shared, kind)
    real = cache.load

    async def load() -> Any:
        reads.append(1)
        await asyncio.sleep(0)  # callers arriving now wait for this read
        return await real()

    cache.load = load
    return reads


async def queue_one(h: Harness, account: int) -> None:
    item = await h.send(account, "send_order", symbol=SYMBOL, side="buy", order_type="market",
                        qty="0.001")
    assert item["ok"], item


async def test_price_looks_share_one_read(harness: Callable[..., Harness]) -> None:
    h = harness()
    await h.price(SYMBOL, "50000")
    shared = SharedReads(h.store, list, max_age=3600.0)
    reads = counting(shared, "_prices")
    versions = await asyncio.gather(*(shared.price_version() for _ in range(10)))
    assert len(set(versions)) == 1
    assert reads == [1]
    await h.price(SYMBOL, "50100")
    assert await shared.price_version() == versions[0]  # within the age: the answer read before
    shared._prices.max_age = 0.0
    moved = await shared.price_version()
    assert moved > versions[0]
    assert reads == [1, 1]


async def test_unfinished_polls_of_held_accounts_share_one_read(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    await h.price(SYMBOL, "50000")
    busy, idle, elsewhere = await h.account("hedge"), await h.account("hedge"), await h.account(
        "hedge")
    await queue_one(h, busy)
    await queue_one(h, elsewhere)
    held = [busy, idle]
    shared = SharedReads(h.store, lambda: held, max_age=3600.0)
    reads = counting(shared, "_unfinished")
    answers = await asyncio.gather(*(shared.has_unfinished(a) for a in [busy, idle] * 5))
    assert answers == [True, False] * 5
    assert reads == [1]
    # not held here: answered by a read of its own (and a fresh shared one first)
    assert await shared.has_unfinished(elsewhere) is True
    assert reads == [1, 1]
    # an account taken after the read: the next read covers it
    held.append(elsewhere)
    assert await shared.has_unfinished(elsewhere) is True
    assert reads == [1, 1, 1]
    await h.drain(busy, housekeeping=False)
    shared._unfinished.max_age = 0.0
    assert [await shared.has_unfinished(a) for a in (busy, idle, elsewhere)] == [
        False, False, True]


async def test_unfinished_among_reads_each_account_once(harness: Callable[..., Harness]) -> None:
    h = harness()
    await h.price(SYMBOL, "50000")
    accounts = [await h.account("hedge") for _ in range(4)]
    for _ in range(3):  # a queue longer than one: still one row for the account
        await queue_one(h, accounts[1])
    await queue_one(h, accounts[3])
    async with h.store.read() as conn:
        assert sorted(await queue.unfinished_among(conn, accounts)) == [accounts[1], accounts[3]]
        assert await queue.unfinished_among(conn, [accounts[0]]) == []
        assert await queue.unfinished_among(conn, [accounts[3]]) == [accounts[3]]
        assert await queue.unfinished_among(conn, []) == []


async def test_a_failed_shared_read_is_read_again_by_each_waiter(
    harness: Callable[..., Harness],
) -> None:
    """One failing read (a dropped pooled connection) does not fail every task that waited
    for it: each reads on its own, as it did before the reads were shared."""
    h = harness()
    await h.price(SYMBOL, "50000")
    shared = SharedReads(h.store, list, max_age=3600.0)
    cache: Any = shared._prices
    real, calls = cache.load, [0]

    async def first_fails() -> int:
        calls[0] += 1
        await asyncio.sleep(0)  # the other callers join this read
        if calls[0] == 1:
            raise ConnectionError("a dropped connection")
        return int(await real())

    cache.load = first_fails
    versions = await asyncio.gather(*(shared.price_version() for _ in range(4)))
    assert len(set(versions)) == 1
    assert calls[0] == 5  # the failed shared read, then one read per waiter
