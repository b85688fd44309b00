"""The worker's timed work beside the account tasks: the paper market's price feed (every worker
runs one, one drives it by lease: `price_feed.py`) and the reconciliation schedule when
switched on (`scheduler.py`). Order sync and trigger checks run inside the account tasks."""

from __future__ import annotations

import asyncio

from apps.oms.config import Settings
from apps.oms.store.store import Store
from apps.worker.price_feed import PriceScheduler
from apps.worker.scheduler import schedule_loop


class Feeds:
    """Starts both; on stop the schedule is cancelled, the price feed ends by itself (it closes
    its source and gives its lease back)."""

    def __init__(self, settings: Settings, store: Store, worker_id: str) -> None:
        self.reconcile = settings.reconcile
        self.store = store
        self.price_scheduler = PriceScheduler(settings, store, worker_id)
        self.prices: asyncio.Task[None] | None = None
        self.schedule: asyncio.Task[None] | None = None

    def start(self, stop: asyncio.Event) -> None:
        self.prices = asyncio.create_task(self.price_scheduler.run(stop))
        self.schedule = asyncio.create_task(self.run_schedule(stop))

    async def run_schedule(self, stop: asyncio.Event) -> None:
        """The reconciliation schedule (`apps/worker/scheduler.py`), when switched on."""
        if self.reconcile.schedule:
            await schedule_loop(self.store, self.reconcile, stop)

    def cancel_schedule(self) -> list[asyncio.Task[None]]:
        """Cancel the schedule; returns its task to await."""
        if self.schedule is None:
            return []
        self.schedule.cancel()
        return [self.schedule]

    async def prices_ended(self) -> None:
        if self.prices is not None:
            await asyncio.gather(self.prices, return_exceptions=True)
