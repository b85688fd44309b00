"""The reconciliation schedule: one scheduler at a time (whoever holds the `sequencer_state` row
`reconcile_scheduler` for the round, `FOR UPDATE SKIP LOCKED`) enqueues `reconcile` commands per
account for the short / hourly / long windows (`reconcile.*` settings). A run is identified by
`request_id = reconcile:<scope>:<period number>`, unique per account, so two schedulers racing
on a round (or one retrying it) enqueue it once; an account whose previous run is still queued
or running gets nothing new (runs never pile up behind a slow venue).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from apps.oms.clock import utcnow
from apps.oms.config import ReconcileSettings
from apps.oms.service.reconcile import command_payload, enqueue
from apps.oms.store import reconcile as store
from apps.oms.store.store import Store

log = logging.getLogger("apps.worker")
TICK_SECONDS = 5.0


def periods(settings: ReconcileSettings) -> tuple[tuple[str, int], ...]:
    """(scope, every seconds), shortest first."""
    return (
        ("short", settings.short_every_seconds),
        ("hourly", settings.hourly_every_seconds),
        ("long", settings.long_every_seconds),
    )


async def schedule_round(store_: Store, settings: ReconcileSettings, now_s: float) -> int:
    """Enqueue the runs that are due; returns how many were enqueued (0 when another
    scheduler holds the round)."""
    queued: set[int] = set()
    async with store_.transaction() as conn:
        now = utcnow()
        if not await store.hold_scheduler(conn, now, dialect=store_.dialect):
            return 0
        busy = await store.busy_accounts(conn)
        for account_id in await store.schedulable_accounts(conn):
            if account_id in busy:
                continue
            for scope, every in periods(settings):
                request_id = f"reconcile:{scope}:{int(now_s // every)}"
                if await store.has_request(conn, account_id, request_id):
                    continue
                await enqueue(conn, account_id, command_payload(settings, scope), now,
                              request_id=request_id)  # fmt: skip
                queued.add(account_id)
                break  # one run per account per round; the next scope waits its turn
    await store_.notify_queued(queued)
    return len(queued)


async def schedule_loop(store_: Store, settings: ReconcileSettings, stop: asyncio.Event) -> None:
    """Every few seconds, after a first full short period (a worker that just started has
    reconciled its CCXT accounts already, and tests stay quiet)."""
    started = time.time()
    tick = min(TICK_SECONDS, float(settings.short_every_seconds))
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), tick)
        if stop.is_set():
            return
        if time.time() - started < settings.short_every_seconds:
            continue
        try:
            await schedule_round(store_, settings, time.time())
        except Exception:  # store unreachable: next round
            log.exception("reconcile schedule round failed")
