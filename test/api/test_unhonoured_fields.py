"""A field the gateway accepts is a promise: what the account's venue would not execute is
refused at acceptance (422 with the field) and nothing is written, whichever door the order
comes through (`/oms/commands`, `/ccxt`). The walk over every field is
`test/unit/foundation/test_field_use.py`; this is the same rule through the real app."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import World
from .test_commands_accept import counts, post, send

pytestmark = pytest.mark.mysql
Api = tuple[httpx.AsyncClient, World]

REFUSED: list[tuple[dict[str, Any], str, str]] = [
    ({"trailing_percent": "1", "reduce_only": True}, "not_supported", "trailing_percent"),
    ({"trailing_amount": "100"}, "not_supported", "trailing_amount"),
    ({"order_type": "stop_market"}, "not_supported", "order_type"),
    ({"params": {"trailingPercent": "1"}}, "not_supported", "params.trailingPercent"),
    ({"params": {"stopLoss": {"triggerPrice": "1"}}}, "not_supported", "params.stopLoss"),
    ({"params": {"clientOrderId": "abc"}}, "not_supported", "params.clientOrderId"),
    ({"params": {"icebergAmount": "1"}}, "not_supported", "params.icebergAmount"),
    ({"trigger_price": "31000", "take_profit_price": "32000"}, "validation_error",
     "take_profit_price"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "code", "field"), REFUSED)
async def test_an_order_field_the_paper_venue_would_not_execute_is_refused(
    api: Api, fields: dict[str, Any], code: str, field: str
) -> None:
    client, world = api
    before = await counts(world)
    response = await post(client, world.trader_key, send(world.account_id, **fields))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["details"]["field"] == field, error
    assert await counts(world) == before


async def test_a_trailing_stop_through_ccxt_is_refused_not_sent_plain(api: Api) -> None:
    client, world = api
    before = await counts(world)
    response = await client.post(
        f"/ccxt/{world.account_id}/create_order",
        json={"args": ["BTC/USDT", "market", "sell", "0.01", None, {"trailingPercent": "1"}]},
        headers={"x-api-key": world.trader_key},
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "not_supported", error
    assert await counts(world) == before
