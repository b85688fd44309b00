"""An idle account task with wake-ups running polls with a plain read: its timed polls ask
whether the account has unfinished commands and open no batch transaction (no lease-row lock)
while there is none; a command that came without a wake-up is still found by the next poll."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from apps.worker import account_task
from apps.worker.account_task import AccountTask

from .conftest import Harness, eventually

SYMBOL = "BTC/USDT:USDT"


async def test_timed_polls_read_and_lock_nothing_until_there_is_work(
    harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(account_task, "IDLE_RELEASE", 3600.0)  # the task keeps its lease
    h = harness()
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market", qty="0.001")
    await h.drain(acct, housekeeping=False)  # leased (a lease is taken for work) and warm
    rt = await h.runtime(acct)
    seen: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        text = " ".join(statement.split())
        # the worker's shared poll of its accounts' queues (apps/worker/shared_reads.py)
        if text.startswith("SELECT accounts.id FROM accounts") and "EXISTS" in text:
            seen.append("probe")
        elif "FROM account_leases" in text:
            seen.append("lease")

    stop = asyncio.Event()
    with h.store.watching_statements(record):
        task = asyncio.create_task(AccountTask(rt, stop, woken=True).run())  # no wake-ups sent
        try:
            async def probed() -> bool:
                return seen.count("probe") >= 5

            await eventually(probed)
            first = seen.index("probe")
            assert "lease" not in seen[first:], seen  # the empty polls locked no lease row
            item = await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market",
                                qty="0.001")

            async def done() -> bool:
                return (await h.command(item["command_id"]))["status"] == "completed"

            await eventually(done)  # found by a timed poll: no wake-up was sent
            assert "lease" in seen[first:]  # then the batch ran, under its lease
        finally:
            stop.set()
            await task
