"""A field the gateway accepts is a promise: what neither the account's venue nor the gateway
would execute is refused at acceptance (422 with the field) and nothing is written, whichever
door the order comes through (`/oms/commands`, `/ccxt`); what the venue lacks and the gateway
holds is accepted as a held order (`emulation: gateway`). The walk over every field is
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
    ({"trailing_percent": "1", "order_type": "stop_market"}, "not_supported", "order_type"),
    ({"trailing_amount": "100", "post_only": True}, "not_supported", "post_only"),
    ({"trailing_amount": "100", "time_in_force": "IOC"}, "not_supported", "time_in_force"),
    ({"trailing_amount": "100", "emulation": "venue"}, "not_supported", "trailing_amount"),
    ({"trailing_trigger_price": "31000"}, "not_supported", "trailing_trigger_price"),
    ({"trailing_amount": "100", "stop_price": "29000"}, "validation_error", "trailing_amount"),
    ({"order_type": "market", "price": None, "time_in_force": "GTD",
      "expire_at": "2099-01-01T00:00:00Z"}, "validation_error", "time_in_force"),
    ({"trailing_amount": "100", "time_in_force": "GTD", "expire_at": "2001-01-01T00:00:00Z"},
     "validation_error", "expire_at"),
    ({"emulation": "gateway"}, "not_supported", "emulation"),
    ({"order_type": "stop_market"}, "not_supported", "order_type"),
    ({"params": {"trailingPercent": "1"}}, "not_supported", "params.trailingPercent"),
    ({"params": {"clientOrderId": "abc"}}, "not_supported", "params.clientOrderId"),
    ({"params": {"icebergAmount": "1"}}, "not_supported", "params.icebergAmount"),
    ({"trigger_price": "31000", "take_profit_price": "32000"}, "validation_error",
     "take_profit_price"),
    # contingent groups: held by the gateway only, each member as a held order
    ({"order_type": "market", "price": None, "oco_orders": [{"stop_price": "29000"}]},
     "validation_error", "oco_orders"),
    ({"oco_orders": [{"order_type": "limit", "price": "29000"}]}, "validation_error",
     "oco_orders"),  # two legs resting on the venue
    ({"time_in_force": "IOC", "oco_orders": [{"stop_price": "29000"}]}, "validation_error",
     "time_in_force"),
    ({"stop_price": "31000", "oco_orders": [{"take_profit_price": "29000"}],
      "emulation": "venue"}, "not_supported", "emulation"),
    ({"bracket_stop_loss": {"trigger_price": "29000"}, "emulation": "venue"}, "not_supported",
     "emulation"),
    ({"bracket_stop_loss": {"trigger_price": "31000"}}, "validation_error",
     "bracket_stop_loss"),
    ({"bracket_stop_loss": {"trigger_price": "29000"},
      "bracket_take_profit": {"trigger_price": "28000"}}, "validation_error",
     "bracket_stop_loss"),
    ({"bracket_stop_loss": {"trigger_price": "29000"}, "reduce_only": True},
     "validation_error", "reduce_only"),
    ({"params": {"stopLoss": {"triggerPrice": "1"}}}, "not_supported", "params.stopLoss"),
    # a bracket's time limit: whole seconds, at most a year, a bracket of its own kind
    ({"bracket_time_limit": 0}, "validation_error", "bracket_time_limit"),
    ({"bracket_time_limit": 1.5}, "validation_error", "bracket_time_limit"),
    ({"bracket_time_limit": 366 * 86_400 + 1}, "validation_error", "bracket_time_limit"),
    ({"bracket_time_limit": 60, "emulation": "venue"}, "not_supported", "emulation"),
    ({"bracket_time_limit": 60, "reduce_only": True}, "validation_error", "reduce_only"),
    ({"bracket_time_limit": 60, "stop_price": "31000", "oco_orders": [
        {"take_profit_price": "29000"}]}, "validation_error", "oco_orders"),
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
    # a refusal of the payload's schema names the field by its place in the payload
    named = error["details"].get("field") or ".".join(error["details"]["errors"][0]["loc"][1:])
    assert named == field, error
    assert await counts(world) == before


async def test_a_trailing_stop_through_ccxt_the_gateway_cannot_hold_is_refused(api: Api
                                                                              ) -> None:
    client, world = api
    before = await counts(world)
    response = await client.post(
        f"/ccxt/{world.account_id}/create_order",
        json={"args": ["BTC/USDT", "stop_market", "sell", "0.01", None,
                       {"trailingPercent": "1"}]},
        headers={"x-api-key": world.trader_key},
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "not_supported", error
    assert await counts(world) == before


HELD: list[dict[str, Any]] = [
    {"order_type": "market", "price": None, "trailing_percent": "1"},
    {"order_type": "market", "price": None, "trailing_amount": "100",
     "trailing_trigger_price": "29000", "trigger_price_type": "mark"},
    {"trailing_amount": "100", "time_in_force": "GTD", "expire_at": 4102444800000},
    {"stop_price": "31000", "emulation": "gateway"},
    {"take_profit_price": "29000", "trigger_price_type": "mark"},
]  # fmt: skip
NATIVE: list[dict[str, Any]] = [
    {"stop_price": "31000"}, {"take_profit_price": "29000"},
    # a plain limit order rests on the venue; the gateway cancels it at its date
    {"time_in_force": "GTD", "expire_at": "2099-01-01T00:00:00Z"},
    # an OCO's plain limit leg rests on the venue (its stop leg is held)
    {"oco_orders": [{"stop_price": "29000"}]},
]  # fmt: skip


@pytest.mark.parametrize(("fields", "emulation"), [*((f, "gateway") for f in HELD),
                                                   *((f, "venue") for f in NATIVE)])
async def test_what_the_paper_venue_lacks_the_gateway_holds(
    api: Api, fields: dict[str, Any], emulation: str
) -> None:
    client, world = api
    response = await post(client, world.trader_key, send(world.account_id, **fields))
    assert response.status_code == 200, response.text
    (item,) = response.json()["results"]
    assert item["ok"], item
    order = await client.get(f"/oms/orders/{item['order_id']}",
                             headers={"x-api-key": world.trader_key})
    assert order.status_code == 200, order.text
    (view,) = order.json()["items"]
    assert view["emulation"] == emulation
    for name, value in fields.items():
        if name in ("trailing_percent", "trailing_amount", "trailing_trigger_price"):
            assert view[name] == value, name
