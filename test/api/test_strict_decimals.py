"""Regression (issue 13): one strict decimal parser at every entry point. `"1_0"`, full-width
digits, surrounding spaces and more than 18 fractional digits (even zeros) are 422, and nothing is
written; plain strings and exact JSON numbers are accepted."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from apps.oms.store.tables import commands, risk_limits
from test.api.conftest import World

BAD = ["1_0", "\uff10.\uff10\uff10\uff11", " 0.001 ", "1." + "0" * 19,
       "1" * 22 + "." + "0" * 18, "NaN", "1e999"]  # fmt: skip
BAD_NUMBERS = ["1.0000000000000000000", "1" * 40]  # raw JSON number text


async def _counts(world: World) -> tuple[int, int]:
    async with world.store.read() as conn:
        c = (await conn.execute(select(func.count()).select_from(commands))).scalar_one()
        r = (await conn.execute(select(func.count()).select_from(risk_limits))).scalar_one()
    return int(c), int(r)


def _send(world: World, qty: str) -> str:
    return (f'{{"account_id": {world.account_id}, "command": "send_order", "payload": '
            f'{{"symbol": "BTC/USDT", "side": "buy", "order_type": "market", "qty": {qty}}}}}')


@pytest.mark.parametrize("value", BAD)
async def test_bad_decimal_strings_are_refused_everywhere(
    api: tuple[httpx.AsyncClient, World], value: str
) -> None:
    client, world = api
    before = await _counts(world)
    key = {"x-api-key": world.trader_key, "content-type": "application/json"}
    quoted = httpx.Request("GET", "/", json=value).content.decode()  # JSON-escaped string
    bodies = [
        ("POST", "/oms/commands", _send(world, quoted)),
        ("POST", "/paper/prices", f'{{"symbol": "BTC/USDT", "price": {quoted}}}'),
        ("POST", f"/ccxt/core/{world.account_id}/create_order",
         f'{{"symbol": "BTC/USDT", "side": "buy", "type": "market", "amount": {quoted}}}'),
    ]
    for method, path, body in bodies:
        resp = await client.request(method, path, content=body, headers=key)
        assert resp.status_code == 422, (path, value, resp.text)
        assert resp.json()["error"]["code"] == "validation_error"
    # risk limits need a risk key; the parser refuses before authorisation matters
    resp = await client.put(
        f"/oms/risk/{world.account_id}/limits",
        content=f'{{"comment": "c", "max_order_qty": {quoted}}}',
        headers={"x-api-key": world.admin_key, "content-type": "application/json"},
    )
    assert resp.status_code == 422, resp.text
    assert await _counts(world) == before


@pytest.mark.parametrize("number", BAD_NUMBERS)
async def test_bad_json_numbers_are_refused(
    api: tuple[httpx.AsyncClient, World], number: str
) -> None:
    client, world = api
    before = await _counts(world)
    resp = await client.post(
        "/oms/commands",
        content=_send(world, number),
        headers={"x-api-key": world.trader_key, "content-type": "application/json"},
    )
    assert resp.status_code == 422, resp.text
    assert await _counts(world) == before


async def test_plain_decimals_and_numbers_are_accepted(
    api: tuple[httpx.AsyncClient, World],
) -> None:
    client, world = api
    key = {"x-api-key": world.trader_key}
    for price in ("50000.5", 50000.25):
        resp = await client.post("/paper/prices", json={"symbol": "BTC/USDT", "price": price},
                                 headers=key)
        assert resp.status_code == 200, resp.text
        assert resp.json()["price"] == str(price)
