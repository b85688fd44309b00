"""Lease liveness from heartbeats (issue 16): a lease whose owner missed its heartbeats is taken
at once, long before the lease itself expires, with an `account_owner_changed` event; a live
owner's lease is not; the dead owner can no longer record."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from apps.oms.clock import utcnow
from apps.oms.store import fleet, leases
from apps.oms.store.tables import outbox

from .conftest import Harness

DEAD_AFTER = 3.0


async def register(h: Harness, worker_id: str, beat_age: float, status: str = "running") -> None:
    async with h.store.transaction() as conn:
        await fleet.register_worker(conn, worker_id=worker_id, hostname="h", pid=1,
                                    now=utcnow() - timedelta(seconds=beat_age))
        if status != "running":
            await fleet.mark_stopped(conn, worker_id, utcnow() - timedelta(seconds=beat_age))


async def beat(h: Harness, *worker_ids: str) -> None:
    """The live workers beat, as their heartbeat loops would every 0.5 s: on a loaded machine
    more than DEAD_AFTER can pass between registering them and a check."""
    async with h.store.transaction() as conn:
        for worker_id in worker_ids:
            await fleet.heartbeat(conn, worker_id, utcnow())


async def take(h: Harness, owner: str, **kw: Any) -> list[leases.Lease]:
    async with h.store.transaction() as conn:
        taken, _left = await leases.acquire(conn, owner=owner, now=utcnow(), lease_seconds=30,
                                            limit=100, dialect=h.store.dialect, **kw)
    return taken


async def owner_events(h: Harness, account_id: int) -> list[dict[str, Any]]:
    async with h.store.read() as conn:
        rows = await conn.execute(select(outbox.c.payload).where(
            outbox.c.account_id == account_id, outbox.c.event == "account_owner_changed"))
        return [p if isinstance(p, dict) else json.loads(p) for (p,) in rows]


@pytest.mark.parametrize(("beat_age", "status", "taken_over"), [
    (0.0, "running", False),   # live owner: its 30 s lease stands
    (10.0, "running", True),   # missed its heartbeats: dead, taken at once
    (0.0, "stopped", True),    # marked stopped (its leases should have been released)
])
async def test_takeover_follows_the_owners_heartbeat(
    harness: Callable[..., Harness], beat_age: float, status: str, taken_over: bool
) -> None:
    h = harness()
    tag = f"{beat_age}-{status}"
    old, new = f"old-{tag}", f"new-{tag}"
    await register(h, old, beat_age, status)
    await register(h, new, 0.0)
    account_id = await h.account("hedge")
    await h.send(account_id, "send_order", symbol="BTC/USDT", side="buy", order_type="market",
                 qty="0.001")
    (first,) = [t for t in await take(h, old) if t.account_id == account_id]
    live = [new] if taken_over else [new, old]
    await beat(h, *live)
    async with h.store.read() as conn:
        orphaned = account_id in await leases.orphaned_accounts(conn, utcnow(), DEAD_AFTER)
    assert orphaned is taken_over

    # without `dead_after` only the expiry frees a lease: nothing is taken
    assert account_id not in [t.account_id for t in await take(h, new)]
    await beat(h, *live)
    second = [t for t in await take(h, new, dead_after=DEAD_AFTER) if t.account_id == account_id]
    assert bool(second) is taken_over
    events = await owner_events(h, account_id)
    if not taken_over:
        assert events == []
        return
    assert second[0].epoch == first.epoch + 1
    assert [(e["previous_owner"], e["owner"], e["lease_epoch"], e["reason"]) for e in events] == [
        (old, new, second[0].epoch, "takeover")]
    async with h.store.transaction() as conn:  # the old owner is fenced out
        with pytest.raises(leases.LeaseLost):
            await leases.hold(conn, first, owner=old, now=utcnow())
    await beat(h, new)
    async with h.store.read() as conn:
        assert account_id not in await leases.orphaned_accounts(conn, utcnow(), DEAD_AFTER)
