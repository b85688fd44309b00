"""Regression: deeply nested JSON bodies answer 422 `validation_error` (they used to blow the
parser's recursion and answer 500), on every body-taking route; nothing is written."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from apps.api.body import MAX_DEPTH, too_deep
from apps.oms.store.tables import commands
from test.api.conftest import World

DEEP = "[" * 100_000 + "]" * 100_000


def test_too_deep_counts_only_structure() -> None:
    assert not too_deep("[]" * 10_000)  # wide is fine
    assert not too_deep('"' + "[" * 1000 + '"')  # brackets inside a string do not nest
    assert not too_deep("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert too_deep("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert too_deep('{"a":' * 40 + "1" + "}" * 40)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/oms/commands"),
        ("POST", "/ccxt/{account}/fetch_ticker"),
        ("POST", "/ccxt/core/{account}/fetch_ticker"),
        ("POST", "/ccxt/commands"),
        ("PUT", "/oms/risk/{account}/limits"),
        ("POST", "/strategies"),
        ("POST", "/paper/prices"),
    ],
)
async def test_deep_nesting_is_422(
    api: tuple[httpx.AsyncClient, World], method: str, path: str
) -> None:
    client, world = api
    async with world.store.read() as conn:
        before = (await conn.execute(select(func.count()).select_from(commands))).scalar_one()
    for body in (DEEP, '{"account_id": 1, "payload": ' + "[" * 5000 + "]" * 5000 + "}"):
        resp = await client.request(
            method,
            path.format(account=world.account_id),
            content=body,
            headers={"x-api-key": world.trader_key, "content-type": "application/json"},
        )
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["code"] == "validation_error"
    async with world.store.read() as conn:
        after = (await conn.execute(select(func.count()).select_from(commands))).scalar_one()
    assert after == before
