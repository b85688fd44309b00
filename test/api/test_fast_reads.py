"""The open reads' fast path (apps/api/fast_reads.py) answers exactly what the FastAPI route
answers: for valid and invalid queries, every kind of key, with and without the path, the same
status, body and content type; and it serves the requests it should (from memory) while
leaving everything else, every error included, to the route."""

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from apps.api.fast_reads import FastOpenReads
from apps.oms.clock import utcnow
from apps.oms.domain.access import AccountFlags
from apps.oms.service.auth import AuthGuard
from apps.oms.service.auth_cache import PrincipalCache
from apps.oms.service.read_model import ReadModel
from apps.oms.store import identity

from .conftest import World
from .test_auth_cache import new_key
from .test_commands_accept import post, send
from .test_read_model import app_of, sequence_and_tail

pytestmark = pytest.mark.mysql
Api = tuple[httpx.AsyncClient, World]


def fast_path(app: FastAPI) -> FastOpenReads:
    node: Any = app.middleware_stack
    while node is not None and not isinstance(node, FastOpenReads):
        node = getattr(node, "app", None)
    assert node is not None, "the fast path is installed"
    return node


async def get(client: httpx.AsyncClient, path: str, key: str | None, query: str) -> httpx.Response:
    headers = {} if key is None else {"x-api-key": key}
    return await client.get(f"{path}?{query}" if query else path, headers=headers)


async def test_the_fast_path_answers_what_the_route_answers(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, world = api
    app = app_of(client)
    # the wrong keys below must not throttle this address for the session's other tests
    monkeypatch.setattr(app.state, "auth_guard", AuthGuard.from_limits(10**6, 60))
    model: ReadModel = app.state.read_model
    # other tests of this session write rows straight into the store (no event to follow):
    # start from a fresh load, so the model and the store agree, as a running system's do
    await model.load()
    for i in range(4):
        body = send(world.account_id, symbol="SOL/USDT" if i % 2 else "BTC/USDT", price="100")
        assert (await post(client, world.trader_key, body)).status_code == 200
    await sequence_and_tail(app)
    acc, other = world.account_id, world.other_account_id
    # the sends' read-your-writes hold ends (a read after it clears the mark): from then on the
    # fast path may serve these accounts, so the count below does not depend on timing
    deadline = asyncio.get_running_loop().time() + 60
    while not model.clean_for([acc, other]):
        assert asyncio.get_running_loop().time() < deadline, "the hold never ended"
        await asyncio.sleep(0.2)
        await model.current_for([acc, other])
    queries = [
        "", f"account_ids={acc}", f"account_ids={acc}&limit=2", f"account_ids={acc},{other}",
        f"account_ids={acc}&symbol=SOL/USDT", f"account_ids={acc}&strategy_id=0",
        f"account_ids={acc}&strategy_id=7&symbol=BTC%2FUSDT", "limit=5000", "limit=5001",
        "limit=0", "limit=-1", "limit=abc", "limit=99999999999999999999", f"account_ids={acc}&x=1",
        f"account_ids={acc}&account_ids={acc}", "account_ids=", "account_ids=a,b",
        f"account_ids={acc}&strategy_id=", f"account_ids={acc}&strategy_id=+1",
        f"account_ids={acc}&start_date=2026-01-01", f"account_ids={acc}&start_date=bad",
        "account_ids=" + "1," * 1001, f"account_ids={acc}&symbol=" + "S" * 65,
        "account_ids=999999999", f"account_ids={other}", f"account_ids={acc}&limit=007",
    ]  # fmt: skip
    expired = await new_key(world, AccountFlags(can_read=True), "expired")
    keys = [world.trader_key, world.readonly_key, world.restricted_key, world.admin_key,
            world.disabled_key, expired.plain, "not-a-key", None]  # fmt: skip
    cache: PrincipalCache = app.state.principal_cache
    for key in keys:  # the keys' first uses record last_used_at, then they are trusted
        for _ in range(3):
            await get(client, "/oms/orders/open", key, f"account_ids={acc}")
    async with world.store.transaction() as conn:  # used a moment ago, expired now
        await identity.update_api_key(conn, expired.id, expires_at=utcnow() - timedelta(seconds=1))
    path = fast_path(app)
    answers: dict[tuple[str, str | None, str], tuple[int, bytes, str | None]] = {}
    for kind in ("/oms/orders/open", "/oms/positions/open"):
        for key in keys:
            for query in queries:
                await cache.refresh()  # a live lease whatever the refresher's timing
                response = await get(client, kind, key, query)
                answers[(kind, key, query)] = (
                    response.status_code, response.content, response.headers.get("content-type")
                )
    served = path.served
    assert served >= 2 * 4 * 5  # both kinds, four keys, the plain valid queries at least
    statuses = {status for status, _, _ in answers.values()}
    assert {200, 401, 404, 422} <= statuses

    async def declined(self: FastOpenReads, scope: Any, kind: str) -> None:
        return None

    monkeypatch.setattr(FastOpenReads, "answer", declined)
    for (kind, key, query), expected in answers.items():
        response = await get(client, kind, key, query)
        got = (response.status_code, response.content, response.headers.get("content-type"))
        if expected[0] >= 400:  # error bodies carry their own trace id: compare without it
            assert got[0] == expected[0], (kind, key, query)
            assert _untraced(got[1]) == _untraced(expected[1]), (kind, key, query)
        else:
            assert got == expected, (kind, key, query)
    assert path.served == served  # the route answered all of these


def _untraced(body: bytes) -> Any:
    import json

    data = json.loads(body)
    data.get("error", {}).pop("trace_id", None)
    return data
