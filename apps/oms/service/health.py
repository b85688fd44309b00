"""Readiness: store reachable (and, embedded, still the file it opened), migrations at head,
at least one live worker, queue depth, the accounts with work that no live worker owns (a
takeover is pending), and the paper market's price source (informational)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import TypedDict

from apps.oms.clock import utcnow
from apps.oms.config import Settings
from apps.oms.store import fleet, leases
from apps.oms.store.boundary import SQLAlchemyError
from apps.oms.store.file_guard import store_file_problem
from apps.oms.store.migrate import current_revision, head_revision
from apps.oms.store.store import Store

log = logging.getLogger(__name__)


#: what moves the simulated market, as `/readyz` shows it (the API wires the paper venue's:
#: its own shape, free-form here)
MarketStatus = Callable[[Store, Settings], Awaitable[Mapping[str, object]]]


class Migration(TypedDict):
    current: str | None
    head: str | None
    up_to_date: bool


class Readiness(TypedDict):
    """`GET /readyz`."""

    ready: bool
    checks: dict[str, bool]
    migration: Migration
    workers_alive: int
    queue_depth: int
    accounts_without_live_owner: list[int]
    paper_prices: Mapping[str, object] | None
    problems: list[str]


async def readiness(store: Store, settings: Settings, market_status: MarketStatus
                    ) -> Readiness:  # fmt: skip
    problems: list[str] = []
    head = head_revision()
    revision: str | None = None
    alive = depth = 0
    orphaned: list[int] = []
    prices: Mapping[str, object] | None = None
    store_ok = True
    try:
        revision = await current_revision(store.engine)
        async with store.read() as conn:
            dead_after = settings.worker.dead_after_seconds
            alive = await fleet.alive_workers(conn, utcnow(), timedelta(seconds=dead_after))
            depth = await fleet.queue_depth(conn)
            orphaned = await leases.orphaned_accounts(conn, utcnow(), dead_after)
        prices = await market_status(store, settings)
    except (SQLAlchemyError, OSError) as exc:
        store_ok = False
        problems.append(f"store unreachable: {type(exc).__name__}")
        log.warning("readiness: store unreachable: %s", exc)
    file_problem = store_file_problem(store.engine)
    if file_problem is not None:
        store_ok = False
        problems.append(file_problem)
    migrated = store_ok and revision == head
    if store_ok and not migrated:
        problems.append(f"schema at {revision}, expected {head}: run `ccxt-oms db upgrade`")
    if store_ok and alive == 0:
        problems.append("no live worker heartbeat: start `ccxt-oms worker`")
    checks = {"store": store_ok, "migrations": migrated, "workers": alive > 0}
    return {
        "ready": all(checks.values()),
        "checks": checks,
        "migration": {"current": revision, "head": head, "up_to_date": migrated},
        "workers_alive": alive,
        "queue_depth": depth,
        # informational, not a readiness failure: accounts wait for a lease round or a takeover
        "accounts_without_live_owner": orphaned,
        # informational too: what moves the paper market (GET /paper/prices shows the same)
        "paper_prices": prices,
        "problems": problems,
    }
