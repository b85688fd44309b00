"""The reconciliation schedule (SQLite and MariaDB): concurrent schedulers enqueue each
account's due run once, an account whose run is still queued gets nothing more, and the next
period enqueues again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import select

from apps.oms.config import ReconcileSettings
from apps.oms.store.store import Store
from apps.oms.store.tables import commands
from apps.worker.scheduler import schedule_round
from test.integration.pipeline_worker.conftest import Harness


async def runs(store: Store, account_id: int) -> list[tuple[str, str]]:
    async with store.read() as conn:
        result = await conn.execute(select(commands.c.request_id, commands.c.status).where(
            commands.c.account_id == account_id, commands.c.command_type == "reconcile"))
        return [(str(r[0]), str(r[1])) for r in result]


async def test_schedule_enqueues_once_per_period_without_piling_up(
    store: Store, harness: Callable[..., Harness]
) -> None:
    h = harness()
    accounts = [await h.account("hedge"), await h.account("netting")]
    settings = ReconcileSettings(short_every_seconds=60)
    now = 1_000_000.0
    counts = await asyncio.gather(*(schedule_round(store, settings, now) for _ in range(3)))
    assert sum(counts) >= len(accounts)  # whoever held the round enqueued every account
    for account_id in accounts:
        assert await runs(store, account_id) == [(f"reconcile:short:{int(now // 60)}", "queued")]
    # still queued: nothing more, even in a later period
    await schedule_round(store, settings, now + 120)
    for account_id in accounts:
        assert len(await runs(store, account_id)) == 1
    # the run completes; the next period enqueues the next scope due (hourly), then short again
    for account_id in accounts:
        await h.drain(account_id)
        assert [s for _r, s in await runs(store, account_id)] == ["completed"]
    await schedule_round(store, settings, now + 1)
    for account_id in accounts:
        assert {r for r, _s in await runs(store, account_id)} == {
            f"reconcile:short:{int(now // 60)}", f"reconcile:hourly:{int(now // 3600)}"}
    for account_id in accounts:  # leave no queued work in the shared store
        await h.drain(account_id)
        assert {s for _r, s in await runs(store, account_id)} == {"completed"}
