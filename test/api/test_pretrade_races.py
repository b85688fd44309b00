"""Pre-trade controls that must hold across API processes (issue 53) on MariaDB: two
acceptances at the same instant, in two API processes, of orders that only one of fits under
a user's exposure limit or under an account's open-order cap, or of the same order within a
key's duplicate window. The test holds
the row both must lock (as a first acceptance would, mid-flight), waits until both queue on it,
then lets go: exactly one is accepted, the other refused with the rule, as if they had come
one after the other. Without the lock both would read the holdings before either committed,
and both would pass."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, insert, select, text

from apps.api.app import create_app
from apps.oms.clock import utcnow
from apps.oms.config import load_settings
from apps.oms.store.store import Store
from apps.oms.store.tables import accounts, api_keys, audit_log, orders, user_risk_limits
from test.api.conftest import PEPPER, World
from test.api.test_exposure_limits import desk, set_limits
from test.api.test_kill_switch import h, send
from test.integration.pipeline_worker.conftest import eventually

pytestmark = [pytest.mark.mysql,
              pytest.mark.parametrize("store_url", ["mysql"], indirect=True)]  # fmt: skip
Api = tuple[httpx.AsyncClient, World]

#: connections of this database blocked in a locking read: such a statement is still running
#: only while it waits for a row lock (INNODB_TRX does not list a waiting transaction that has
#: no id yet, so the process list is asked)
LOCK_WAITS = text(
    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() "
    "AND COMMAND = 'Query' AND INFO LIKE 'SELECT%FOR UPDATE' AND ID <> CONNECTION_ID()")


@pytest.fixture
async def second(store_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A second API process over the same store."""
    settings = load_settings(database={"url": store_url}, security={"api_key_pepper": PEPPER})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
            yield client


async def waiting(store: Store, n: int) -> None:
    async def queued() -> bool:
        async with store.read() as conn:
            return int((await conn.execute(LOCK_WAITS)).scalar_one()) >= n

    await eventually(queued)


async def race(store: Store, held: Any, *posts: Any) -> list[httpx.Response]:
    """Hold `held` locked, start `posts`, wait until both queue on it, let go."""
    async with store.transaction() as conn:
        await conn.execute(held)
        tasks = [asyncio.create_task(p) for p in posts]
        await waiting(store, len(tasks))
    return list(await asyncio.gather(*tasks))


async def test_two_processes_cannot_both_pass_one_users_exposure_limit(
    api: Api, second: httpx.AsyncClient
) -> None:
    client, world = api
    (a, b), user, trader, risk = await desk(client, world)
    assert (await set_limits(client, risk, user, max_gross_exposure="600")).status_code == 200
    held = select(user_risk_limits.c.user_id).where(
        user_risk_limits.c.user_id == user).with_for_update()
    answers = await race(world.store, held,
                         client.post("/oms/commands", json=send(a, "150", qty="3"),
                                     headers=h(trader)),
                         second.post("/oms/commands", json=send(b, "150", qty="3"),
                                     headers=h(trader)))  # fmt: skip
    assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
    [refused] = [r for r in answers if r.status_code == 409]
    details = refused.json()["error"]["details"]
    assert (details["rule"], details["value"]) == ("gross_exposure", "900")


async def test_two_processes_cannot_both_pass_one_keys_duplicate_window(
    api: Api, second: httpx.AsyncClient
) -> None:
    client, world = api
    (a, _b), user, trader, risk = await desk(client, world)
    limits = await client.put(f"/oms/risk/{a}/limits", headers=h(risk),
                              json={"comment": "twice", "duplicate_window_ms": 600_000})
    assert limits.status_code == 200, limits.text
    async with world.store.read() as conn:
        key_id = (await conn.execute(select(api_keys.c.id).where(
            api_keys.c.user_id == user))).scalar_one()  # fmt: skip
    held = select(api_keys.c.id).where(api_keys.c.id == key_id).with_for_update()
    order = send(a, "140")
    answers = await race(world.store, held,
                         client.post("/oms/commands", json=order, headers=h(trader)),
                         second.post("/oms/commands", json=order, headers=h(trader)))
    assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
    [refused] = [r for r in answers if r.status_code == 409]
    assert refused.json()["error"]["details"]["rule"] == "duplicate_order"


async def test_two_processes_cannot_both_pass_one_accounts_open_order_cap(
    api: Api, second: httpx.AsyncClient
) -> None:
    client, world = api
    (a, _b), _user, trader, risk = await desk(client, world)
    limits = await client.put(f"/oms/risk/{a}/limits", headers=h(risk),
                              json={"comment": "one at a time", "max_open_orders": 1})
    assert limits.status_code == 200, limits.text
    held = select(accounts.c.id).where(accounts.c.id == a).with_for_update()
    answers = await race(world.store, held,
                         client.post("/oms/commands", json=send(a, "140"), headers=h(trader)),
                         second.post("/oms/commands", json=send(a, "139"), headers=h(trader)))
    assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
    [refused] = [r for r in answers if r.status_code == 409]
    details = refused.json()["error"]["details"]
    assert (details["rule"], details["scope"], details["value"]) == (
        "max_open_orders", "account", "1")
    async with world.store.read() as conn:
        placed = (await conn.execute(select(func.count()).select_from(orders).where(
            orders.c.account_id == a))).scalar_one()  # fmt: skip
    assert placed == 1


async def test_an_acceptance_chosen_as_a_deadlock_victim_is_run_again(api: Api) -> None:
    """The acceptance holds the key's row and waits for the user's; the other transaction
    (larger, so the server rolls the acceptance back) holds the user's and asks for the key's.
    The acceptance, rolled back whole, runs again and is accepted once."""
    client, world = api
    (a, _b), user, trader, risk = await desk(client, world)
    assert (await set_limits(client, risk, user, max_gross_exposure="10000")).status_code == 200
    limits = await client.put(f"/oms/risk/{a}/limits", headers=h(risk),
                              json={"comment": "locks", "duplicate_window_ms": 1000})
    assert limits.status_code == 200, limits.text
    async with world.store.read() as conn:
        key_id = (await conn.execute(select(api_keys.c.id).where(
            api_keys.c.user_id == user))).scalar_one()  # fmt: skip
    async with world.store.transaction() as conn:
        await conn.execute(insert(audit_log), [
            {"action": "deadlock_weight", "target_type": "test", "created_at": utcnow()}
            for _ in range(300)])
        await conn.execute(select(user_risk_limits.c.user_id).where(
            user_risk_limits.c.user_id == user).with_for_update())
        task = asyncio.create_task(client.post("/oms/commands", json=send(a, "150"),
                                               headers=h(trader)))  # fmt: skip
        await waiting(world.store, 1)  # the acceptance holds the key's row, waits for ours
        await conn.execute(select(api_keys.c.id).where(api_keys.c.id == key_id)
                           .with_for_update())  # the cycle: the acceptance is the victim
        await conn.execute(delete(audit_log).where(audit_log.c.action == "deadlock_weight"))
    answer = await task
    assert answer.status_code == 200, answer.text
    async with world.store.read() as conn:
        placed = (await conn.execute(select(func.count()).select_from(orders).where(
            orders.c.account_id == a))).scalar_one()  # fmt: skip
    assert placed == 1
