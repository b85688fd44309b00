"""`GET /dispatcher/status` (issue 36, item 6: the CLI listed `dispatcher-status` and the API
answered "no such endpoint"): the worker fleet for admins only — workers with heartbeat age,
liveness and leases, unfinished commands per account, latency percentiles."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import insert

from apps.oms.clock import utcnow
from apps.oms.service.dispatcher import percentiles
from apps.oms.store.tables import workers
from test.api.conftest import World


async def test_admins_see_the_fleet_others_are_refused(api: tuple[httpx.AsyncClient, World]) -> None:
    client, world = api
    now = utcnow()
    async with world.store.transaction() as conn:
        await conn.execute(insert(workers).values(
            id=f"host:1:{now.timestamp()}", hostname="host", pid=1, status="stopped",
            started_at=now - timedelta(minutes=5), heartbeat_at=now))  # fmt: skip
    # (stopped: a running row would count as a live worker for the session's other tests)
    body = {"account_id": world.account_id, "command": "send_order",
            "payload": {"symbol": "BTC/USDT", "side": "buy", "qty": "0.001"}}  # fmt: skip
    queued = await client.post("/oms/commands", json=body, headers={"x-api-key": world.trader_key})
    assert queued.status_code == 200, queued.text
    refused = await client.get("/dispatcher/status", headers={"x-api-key": world.trader_key})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "admin_required"
    answer = await client.get("/dispatcher/status", headers={"x-api-key": world.admin_key})
    assert answer.status_code == 200, answer.text
    status = answer.json()
    assert set(status) == {"workers", "workers_alive", "queue_depth", "accounts", "latency"}
    mine = [w for w in status["workers"] if w["hostname"] == "host"]
    assert mine  # recently stopped workers are listed
    assert (mine[-1]["status"], mine[-1]["alive"], mine[-1]["leases_held"]) == ("stopped",
                                                                                False, 0)
    assert mine[-1]["heartbeat_age_seconds"] >= 0
    (account,) = [a for a in status["accounts"] if a["account_id"] == world.account_id]
    assert account["queued"] >= 1
    assert status["queue_depth"]["queued"] >= 1
    assert set(status["latency"]) == {"sample", "queue_wait_seconds", "total_seconds"}


def test_percentiles_are_nearest_rank() -> None:
    assert percentiles([]) == {"p50": None, "p90": None, "p99": None}
    assert percentiles([float(i) for i in range(1, 101)]) == {"p50": 50.0, "p90": 90.0,
                                                               "p99": 99.0}
    assert percentiles([0.25]) == {"p50": 0.25, "p90": 0.25, "p99": 0.25}
