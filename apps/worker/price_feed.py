"""The paper price scheduler: one worker at a time (by a lease on `paper_price_feed`) advances
the price source of the shared paper market; every worker runs one and the others stand by.

Each round renews the lease, switches source when the API chose another one (no restart), and
when the source is due stores its next step in one transaction that first re-checks the lease.
Account tasks see the new price sequence and match their paper orders (`AccountTask`), exactly
as after `POST /paper/prices`. A live source's exchange call happens outside any transaction;
when it fails the status says `unreachable` and prices stay where they were. At each funding
time the scheduler also enqueues the paper accounts' `funding` commands (`service.funding`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from apps.oms.clock import utcnow
from apps.oms.config import Settings
from apps.oms.domain.funding import last_funding_ms
from apps.oms.domain.money import parse_decimal
from apps.oms.service import funding
from apps.oms.store.store import Store, is_deadlock
from apps.paper.domain.book import Quote
from apps.paper.exchange.factory import shared_venue
from apps.paper.exchange.feeds import (
    LOOP,
    LiveFeed,
    Point,
    PriceFeed,
    ReplayFeed,
    build_feed,
)
from apps.paper.store import feed as paper_feed
from apps.paper.store.venue_store import PaperStore

log = logging.getLogger("apps.worker.prices")
DEADLOCK_RETRY_SECONDS = 0.1  # a round rolled back as a deadlock victim runs again after this
STANDBY_SECONDS = 1.0  # how often a standing-by scheduler looks at the lease / the chosen source
PRUNE_EVERY = 500  # price steps between prunings of the recorded path
# a fast replay stores the ticks due within this window in one transaction (up to BATCH_TICKS):
# matching follows the recorded path, so batching changes no fill, only the commit count
# (at most BATCH_TICKS, stored with one multi-row insert: a step stays a short transaction)
BATCH_SECONDS = 0.05
BATCH_TICKS = 200


@dataclass(frozen=True, slots=True)
class Spec:
    """What to run: source name, replay speed factor, replay end behaviour, and when it was
    chosen (choosing the same source again restarts it)."""

    source: str
    speed: Decimal
    at_end: str
    chosen_at: datetime | None = None


class PriceScheduler:
    def __init__(self, settings: Settings, store: Store, owner: str) -> None:
        self.settings = settings
        self.store = store
        self.owner = owner
        self.paper_store = PaperStore(store.engine)
        self.venue = shared_venue(settings.paper)
        self.feed: PriceFeed | None = None
        self.spec: Spec | None = None
        self.epoch: int | None = None
        self.next_at = 0.0  # monotonic time the source is due again
        self.stored = 0  # steps stored by this process (for pruning)
        self.looked_at = 0.0  # monotonic time of the last lease round
        self.steps = 1  # source steps stored by the last `step`
        self.funded_ms: int | None = None  # the funding time last enqueued (or skipped)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: rounds, never raising; then close the source and give the lease back."""
        while not stop.is_set():
            try:
                wait = await self.round()
            except Exception as exc:
                wait = self.failed(exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, wait))
        await self.close_feed()
        with contextlib.suppress(Exception):
            async with self.store.transaction() as conn:
                await paper_feed.release(conn, owner=self.owner)

    def failed(self, exc: Exception) -> float:
        """A round raised: its transaction rolled back whole. The source is rebuilt from the
        stored position at the next lease look (its in-memory steps may be ahead of what was
        stored). A deadlock victim (MariaDB chose this round, e.g. against a price written by
        the API) is expected under load: one warning line and a prompt retry, no traceback."""
        self.spec = None
        if is_deadlock(exc):
            log.warning("paper price scheduler round chosen as a deadlock victim; retrying")
            self.looked_at = 0.0  # the next round looks at the lease and rebuilds at once
            return DEADLOCK_RETRY_SECONDS
        log.exception("paper price scheduler round failed", exc_info=exc)
        return STANDBY_SECONDS

    async def round(self) -> float:
        """One round; returns the pause before the next. The lease (and the chosen source) is
        looked at every STANDBY_SECONDS, not every step: each step re-checks the lease anyway."""
        cfg = self.settings.worker
        if self.epoch is not None and time.monotonic() - self.looked_at < STANDBY_SECONDS:
            return await self.step_if_due(self.epoch)
        async with self.store.transaction() as conn:
            epoch = await paper_feed.take(
                conn, owner=self.owner, now=utcnow(), seconds=cfg.lease_seconds,
                dead_after=cfg.dead_after_seconds, dialect=self.store.dialect,
            )  # fmt: skip
            row = await paper_feed.read(conn) if epoch is not None else None
        self.looked_at = time.monotonic()
        if epoch is None or row is None:
            await self.close_feed()
            self.epoch = None
            return STANDBY_SECONDS
        spec = self.wanted(row)
        if epoch != self.epoch or spec != self.spec:
            await self.switch(epoch, spec, row)
        await self.fund_if_due()
        return await self.step_if_due(epoch)

    async def fund_if_due(self) -> None:
        """At a new funding time, enqueue the paper accounts' `funding` commands (once per
        time and account, whoever runs it: `service.funding`)."""
        now = utcnow()
        due = last_funding_ms(int(now.timestamp() * 1000),
                              self.settings.paper.funding_interval_seconds)  # fmt: skip
        if due is None or due == self.funded_ms:
            return
        async with self.store.transaction() as conn:
            funding_ms, queued = await funding.enqueue_due(conn, self.settings.paper,
                                                           self.venue, now)  # fmt: skip
        self.funded_ms = funding_ms
        if queued:
            log.info("funding time %s: %d paper accounts", funding_ms, len(queued))
        await self.store.notify_queued(queued)

    async def step_if_due(self, epoch: int) -> float:
        if self.feed is None:
            return STANDBY_SECONDS
        left = self.next_at - time.monotonic()
        if left > 0:
            return min(left, STANDBY_SECONDS)
        return await self.step(epoch)

    def wanted(self, row: paper_feed.FeedRow) -> Spec:
        paper = self.settings.paper
        return Spec(
            row.source or paper.price_source,
            row.speed if row.speed is not None else parse_decimal(paper.replay_speed),
            row.at_end or paper.replay_at_end,
            row.changed_at,
        )

    async def switch(self, epoch: int, spec: Spec, row: paper_feed.FeedRow) -> None:
        """Start `spec` (continuing a replay where the stored position says, when the same
        source ran before: a takeover resumes rather than restarts)."""
        await self.close_feed()
        self.epoch, self.spec, self.next_at = epoch, spec, 0.0
        status: dict[str, object] = {"active_source": spec.source, "message": None}
        try:
            self.feed = build_feed(
                spec.source, self.paper_store, self.venue, self.settings.paper.seed,
                step_bps=parse_decimal(self.settings.paper.walk_step_bps), speed=spec.speed,
                at_end=spec.at_end,
            )  # fmt: skip
        except ValueError as exc:
            self.feed = None
            status |= {"state": "error", "message": str(exc)[:500]}
        else:
            same = row.active_source == spec.source
            if isinstance(self.feed, ReplayFeed) and same:
                self.feed.position = min(row.position, len(self.feed.ticks))
            status |= {"state": "manual" if self.feed is None else "running"}
            if not same:
                status |= {"position": 0, "ticks": 0}
        log.info("paper price source: %s (%s)", spec.source, status["state"])
        async with self.store.transaction() as conn:
            await paper_feed.report(conn, owner=self.owner, epoch=epoch, **status)

    async def step(self, epoch: int) -> float:
        """Store the source's next step; the pause until the one after."""
        feed = self.feed
        assert feed is not None  # noqa: S101 - checked by round()
        if isinstance(feed, ReplayFeed) and feed.ended:
            await self._report(epoch, state="ended", message=f"replay stopped at its end "
                               f"({len(feed.ticks)} ticks)")  # fmt: skip
            self.next_at = time.monotonic() + STANDBY_SECONDS
            return STANDBY_SECONDS
        points: list[Point] = []
        if isinstance(feed, LiveFeed):
            try:
                timeout = self.settings.worker.venue_timeout_seconds
                points = await asyncio.wait_for(feed.fetch(), timeout)
            except Exception as exc:  # network, exchange down, rate limit: prices stay
                message = f"{type(exc).__name__}: {exc}"[:500]
                await self._report(epoch, state="unreachable", message=message)
                return self._due(self.settings.paper.live_poll_seconds)
        async with self.store.transaction() as conn:
            row = await paper_feed.hold(conn, owner=self.owner, epoch=epoch, now=utcnow(),
                                        dialect=self.store.dialect,
                                        renew_seconds=self.settings.worker.lease_seconds)  # fmt: skip
            self.steps = 1
            with self.paper_store.join(conn):
                moved = (await feed.store_points(points) if isinstance(feed, LiveFeed)
                         else await self.advance(feed))  # fmt: skip
            values: dict[str, object] = {"state": "running", "message": None,
                                         "ticks": row.ticks + self.steps, "last_update_at": utcnow()}
            if isinstance(feed, ReplayFeed):
                values["position"] = feed.position
                if feed.laps:
                    values["message"] = f"replay lap {feed.laps + 1}"
            await paper_feed.report(conn, owner=self.owner, epoch=epoch, **values)
        self.stored += 1 if moved else 0
        if self.stored and self.stored % PRUNE_EVERY == 0:
            await self.paper_store.prune_path(now_ms=time.time_ns() // 1_000_000)
        return self._due(self.pause_after(feed))

    async def advance(self, feed: PriceFeed) -> list[Quote]:
        """One step; a replay whose next ticks are due within BATCH_SECONDS stores them too,
        in one write (`ReplayFeed.advance_batch`)."""
        if isinstance(feed, ReplayFeed):
            moved, self.steps = await feed.advance_batch(BATCH_TICKS, BATCH_SECONDS)
            return moved
        self.steps = 1
        return await feed.advance()

    def pause_after(self, feed: PriceFeed) -> float:
        if isinstance(feed, ReplayFeed):
            return feed.delay_seconds()
        if isinstance(feed, LiveFeed):
            return self.settings.paper.live_poll_seconds
        return self.settings.paper.tick_seconds

    def _due(self, seconds: float) -> float:
        self.next_at = time.monotonic() + seconds
        return min(seconds, STANDBY_SECONDS)

    async def _report(self, epoch: int, **values: object) -> None:
        async with self.store.transaction() as conn:
            await paper_feed.report(conn, owner=self.owner, epoch=epoch, **values)

    async def close_feed(self) -> None:
        if self.feed is not None:
            with contextlib.suppress(Exception):
                await self.feed.close()
        self.feed, self.spec = None, None


__all__ = ["LOOP", "PriceScheduler", "Spec"]
