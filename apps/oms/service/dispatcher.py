"""`GET /dispatcher/status` (admin): the worker fleet as the store sees it — workers with their
heartbeat age, liveness and leases, unfinished commands per account with the lease owner, and
latency percentiles of the newest finished commands. Read-only; a handful of indexed queries."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal, TypedDict, cast

from apps.oms.clock import iso_z, utcnow
from apps.oms.config import Settings
from apps.oms.store import fleet
from apps.oms.store.records import ColumnValues
from apps.oms.store.store import Store

LATENCY_SAMPLE = 1000  # newest finished commands the percentiles are taken over
RECENTLY_STOPPED = timedelta(hours=1)  # stopped workers listed this long after their last beat
PERCENTILES = (50, 90, 99)


def _seconds(now: datetime, then: datetime | None) -> float | None:
    if then is None:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=now.tzinfo)  # SQLite drops the zone
    return round(max(0.0, (now - then).total_seconds()), 3)


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """Nearest-rank percentiles (`p50`, `p90`, `p99`) in seconds; None without values."""
    ordered = sorted(values)
    out: dict[str, float | None] = {}
    for p in PERCENTILES:
        rank = math.ceil(p / 100 * len(ordered))
        out[f"p{p}"] = round(ordered[rank - 1], 3) if ordered else None
    return out


QueueState = Literal["queued", "running"]  # the states `fleet.queue_by_account` counts


class WorkerView(TypedDict):
    worker_id: str
    hostname: str
    pid: int
    status: str
    alive: bool
    heartbeat_age_seconds: float | None
    leases_held: int
    started_at: str | None


class AccountQueue(TypedDict):
    account_id: int
    queued: int
    running: int
    oldest_age_seconds: float
    lease_owner: str | None


class Latency(TypedDict):
    sample: int
    queue_wait_seconds: dict[str, float | None]
    total_seconds: dict[str, float | None]


class FleetStatus(TypedDict):
    """`GET /dispatcher/status`."""

    workers: list[WorkerView]
    workers_alive: int
    queue_depth: dict[str, int]
    accounts: list[AccountQueue]
    latency: Latency


def _worker(row: ColumnValues, now: datetime, dead_after: float) -> WorkerView:
    age = _seconds(now, row["heartbeat_at"])
    return {
        "worker_id": row["id"], "hostname": row["hostname"], "pid": int(row["pid"]),
        "status": row["status"],
        "alive": row["status"] == "running" and age is not None and age <= dead_after,
        "heartbeat_age_seconds": age, "leases_held": int(row["leases_held"]),
        "started_at": iso_z(row["started_at"]),
    }  # fmt: skip


def _accounts(rows: list[ColumnValues], now: datetime) -> list[AccountQueue]:
    by_account: dict[int, AccountQueue] = {}
    for row in rows:
        account_id = int(row["account_id"])
        entry = by_account.setdefault(account_id, {
            "account_id": account_id, "queued": 0, "running": 0, "oldest_age_seconds": 0.0,
            "lease_owner": row["owner"]})  # fmt: skip
        entry[cast(QueueState, row["status"])] = int(row["count"])
        age = _seconds(now, row["oldest"]) or 0.0
        entry["oldest_age_seconds"] = max(entry["oldest_age_seconds"], age)
    return list(by_account.values())


async def status(store: Store, settings: Settings) -> FleetStatus:
    now = utcnow()
    dead_after = settings.worker.dead_after_seconds
    async with store.read() as conn:
        workers = await fleet.fleet_workers(conn, now - RECENTLY_STOPPED)
        queue = await fleet.queue_by_account(conn)
        timings = await fleet.recent_timings(conn, LATENCY_SAMPLE)
    listed = [_worker(w, now, dead_after) for w in workers]
    accounts = _accounts(queue, now)
    waits = [w for c, s, _ in timings if s is not None and (w := _seconds(s, c)) is not None]
    totals = [t for c, _, f in timings if (t := _seconds(f, c)) is not None]
    return {
        "workers": listed,
        "workers_alive": sum(1 for w in listed if w["alive"]),
        "queue_depth": {"queued": sum(a["queued"] for a in accounts),
                        "running": sum(a["running"] for a in accounts)},
        "accounts": accounts,
        "latency": {
            "sample": len(totals),
            "queue_wait_seconds": percentiles(waits),
            "total_seconds": percentiles(totals),
        },
    }
