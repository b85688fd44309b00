"""The edges a newcomer hits (issue 11), through the real app on both stores: ids beyond 64 bits,
one body rule for every endpoint, list paging beyond the maximum, default `account_ids`,
messages that say what is wrong."""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx
import pytest

from apps.oms.domain.access import AccountFlags, Role
from apps.oms.service import admin
from apps.oms.store.audit import CLI_ACTOR

from .conftest import PEPPER, World

pytestmark = pytest.mark.mysql
Api = tuple[httpx.AsyncClient, World]
HUGE = "99999999999999999999999"
BEYOND = str(2**63)  # one past the largest id a BIGINT column holds


def huge_id_requests(world: World, big: str) -> list[tuple[str, str, dict[str, str]]]:
    acct = str(world.account_id)
    return [
        ("GET", f"/oms/orders/{big}", {}),
        ("GET", f"/oms/deals/{big}", {}),
        ("GET", f"/oms/positions/{big}", {}),
        ("GET", f"/oms/commands/{big}", {}),
        ("GET", f"/oms/orders/1,{big}", {}),
        ("GET", "/oms/orders/1", {"account_ids": big}),
        ("GET", "/oms/orders/open", {"account_ids": big}),
        ("GET", "/oms/orders/open", {"account_ids": acct, "strategy_id": big}),
        ("GET", "/oms/orders/history", {"account_ids": acct, "strategy_id": big}),
        ("GET", "/oms/deals", {"account_ids": acct, "order_id": big}),
        ("GET", "/oms/deals", {"account_ids": acct, "position_id": big}),
        ("GET", "/oms/positions/open", {"account_ids": acct, "strategy_id": big}),
        ("GET", "/oms/positions/history", {"account_ids": acct, "strategy_id": big}),
        ("GET", "/oms/stats", {"account_ids": acct, "strategy_id": big}),
        ("GET", "/oms/portfolio", {"account_ids": big}),
        ("GET", f"/oms/risk/{big}/limits", {}),
        ("GET", f"/ccxt/{big}/has", {}),
        ("POST", f"/ccxt/{big}/fetch_ticker", {}),
        ("POST", f"/ccxt/core/{big}/fetch_balance", {}),
        ("GET", "/ccxt/orders/raw", {"account_ids": big}),
    ]


@pytest.mark.parametrize("big", [HUGE, BEYOND])
async def test_ids_beyond_64_bits_are_validation_errors(api: Api, big: str) -> None:
    client, world = api
    for key in (world.trader_key, world.admin_key):
        for method, path, params in huge_id_requests(world, big):
            response = await client.request(method, path, params=params,
                                             headers={"x-api-key": key})
            assert response.status_code == 422, (method, path, params, response.text)
            error = response.json()["error"]
            assert error["code"] == "validation_error", (path, error)


async def test_the_largest_64_bit_id_is_simply_not_found(api: Api) -> None:
    client, world = api
    largest = str(2**63 - 1)
    response = await client.get(f"/oms/orders/{largest}", headers={"x-api-key": world.admin_key})
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []
    response = await client.get("/oms/deals", headers={"x-api-key": world.trader_key},
                                params={"account_ids": str(world.account_id), "order_id": largest})
    assert response.status_code == 200, response.text


async def risk_key(world: World) -> str:
    """A key of a `risk` user allowed to manage the world's account's limits."""
    async with world.store.transaction() as conn:
        user_id = await admin.create_user(conn, CLI_ACTOR, name=f"risk{secrets.token_hex(4)}",
                                          role=Role.RISK)
        key = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=user_id,
                                         label="risk")
        await admin.set_permission(conn, CLI_ACTOR, api_key_id=key.id,
                                   account_id=world.account_id,
                                   flags=AccountFlags(can_risk_manage=True))
    return key.plain


async def body_requests(world: World) -> list[tuple[str, str, str, Any]]:
    """(method, path, key, body factory) of every endpoint that takes a body."""
    acct = world.account_id
    risk = await risk_key(world)
    return [
        ("POST", "/oms/commands", world.trader_key, lambda: {
            "account_id": acct, "command": "send_order",
            "payload": {"symbol": "BTC/USDT", "side": "buy", "order_type": "limit",
                        "qty": "0.001", "price": "20000"}}),
        ("POST", "/paper/prices", world.trader_key,
         lambda: {"symbol": "SOL/USDT", "price": "150"}),
        ("POST", "/strategies", world.trader_key,
         lambda: {"name": f"s{secrets.token_hex(4)}", "account_ids": [acct]}),
        ("PUT", f"/oms/risk/{acct}/limits", risk,
         lambda: {"comment": "edge test", "max_open_positions": 1000}),
        ("POST", "/admin/users", world.admin_key,
         lambda: {"name": f"u{secrets.token_hex(4)}", "role": "trader"}),
        ("POST", f"/ccxt/{acct}/fetch_ticker", world.trader_key, lambda: {"args": ["BTC/USDT"]}),
        ("POST", f"/ccxt/core/{acct}/fetch_ticker", world.trader_key,
         lambda: {"symbol": "BTC/USDT"}),
        ("POST", "/ccxt/commands", world.trader_key, lambda: [
            {"account_id": acct, "func": "fetch_ticker", "args": ["BTC/USDT"]}]),
    ]


# (content-type header or None) as curl and hand-written clients send JSON
MEDIA_TYPES = [None, "application/json", "application/json; charset=utf-8",
               "application/x-www-form-urlencoded", "text/plain", "application/merge-patch+json"]


async def test_every_body_endpoint_reads_json_whatever_the_declared_media_type(api: Api) -> None:
    client, world = api
    for method, path, key, make in await body_requests(world):
        statuses = {}
        for kind in MEDIA_TYPES:
            headers = {"x-api-key": key, **({"content-type": kind} if kind else {})}
            response = await client.request(method, path, content=json.dumps(make()),
                                             headers=headers)
            statuses[kind] = response.status_code
            assert response.status_code < 300, (path, kind, response.text)
        assert len(set(statuses.values())) == 1, (path, statuses)


async def test_every_body_endpoint_refuses_bodies_over_one_megabyte(api: Api) -> None:
    client, world = api
    padding = "x" * 1_100_000
    for method, path, key, make in await body_requests(world):
        body = make()
        if isinstance(body, dict):
            body["symbol" if "symbol" in body else "padding"] = padding
        else:
            body = [*body, {"padding": padding}]
        for kind in ("application/json", "application/x-www-form-urlencoded"):
            response = await client.request(method, path, content=json.dumps(body),
                                             headers={"x-api-key": key, "content-type": kind})
            assert response.status_code == 413, (path, response.text[:300])
            assert response.json()["error"]["code"] == "payload_too_large"
            assert len(response.content) < 1000, "nothing of the input is echoed"


async def test_bodies_in_other_media_types_are_415(api: Api) -> None:
    client, world = api
    for method, path, key, make in await body_requests(world):
        for kind in ("multipart/form-data; boundary=x", "application/xml"):
            response = await client.request(method, path, content=json.dumps(make()),
                                             headers={"x-api-key": key, "content-type": kind})
            assert response.status_code == 415, (path, kind, response.text)
            assert response.json()["error"]["code"] == "unsupported_media_type"


async def test_error_messages_never_echo_a_large_input(api: Api) -> None:
    client, world = api
    for path, body in (
        ("/paper/prices", {"symbol": "X" * 900_000, "price": "1"}),
        ("/oms/commands", {"account_id": world.account_id, "command": "send_order",
                           "payload": {"symbol": "X" * 900_000, "side": "buy",
                                       "order_type": "market", "qty": "1"}}),
    ):
        response = await client.post(path, json=body, headers={"x-api-key": world.trader_key})
        assert 400 <= response.status_code < 500, response.text[:300]
        assert len(response.content) < 5000, (path, response.text[:300])


def _send(account_id: int, **payload: Any) -> dict[str, Any]:
    base = {"symbol": "BTC/USDT", "side": "buy", "order_type": "limit", "qty": "0.001",
            "price": "20000"}
    return {"account_id": account_id, "command": "send_order", "payload": {**base, **payload}}


async def test_a_price_off_the_tick_is_invalid_price_not_invalid_qty(api: Api) -> None:
    client, world = api
    headers = {"x-api-key": world.trader_key}
    off_tick = await client.post("/oms/commands", headers=headers,
                                 json=_send(world.account_id, price="20000.05"))
    assert off_tick.status_code == 422, off_tick.text
    assert off_tick.json()["error"]["code"] == "invalid_price"
    assert "tick" in off_tick.json()["error"]["message"]
    off_step = await client.post("/oms/commands", headers=headers,
                                 json=_send(world.account_id, qty="0.00015"))
    assert off_step.status_code == 422, off_step.text
    assert off_step.json()["error"]["code"] == "invalid_qty"


async def test_an_unknown_paper_symbol_says_paper_once(api: Api) -> None:
    client, world = api
    headers = {"x-api-key": world.trader_key}
    for response in (
        await client.post("/paper/prices", headers=headers,
                          json={"symbol": "NOPE/USDT", "price": "1"}),
        await client.post(f"/ccxt/{world.account_id}/fetch_ticker", headers=headers,
                          json={"args": ["NOPE/USDT"]}),
    ):
        assert response.status_code == 422, response.text
        message = response.json()["error"]["message"]
        assert "paper paper" not in message
        assert "paper does not have market symbol NOPE/USDT" in message


async def test_cancel_order_result_names_the_order(api: Api) -> None:
    client, world = api
    headers = {"x-api-key": world.trader_key}
    sent = (await client.post("/oms/commands", headers=headers,
                              json=_send(world.account_id))).json()["results"][0]
    cancel = {"account_id": world.account_id, "command": "cancel_order",
              "payload": {"order_id": sent["order_id"]}, "request_id": secrets.token_hex(6)}
    for _ in range(2):  # the first answer and an idempotent repeat agree
        response = await client.post("/oms/commands", headers=headers, json=cancel)
        assert response.status_code == 200, response.text
        item = response.json()["results"][0]
        assert item["order_id"] == sent["order_id"]
    read = await client.get(f"/oms/commands/{item['command_id']}", headers=headers)
    assert read.json()["items"][0]["order_id"] == sent["order_id"]


async def test_page_size_above_the_maximum_is_clamped_and_said(api: Api) -> None:
    client, world = api
    headers = {"x-api-key": world.trader_key}
    acct = str(world.account_id)
    for path in ("/oms/orders/history", "/oms/deals", "/oms/positions/history",
                 "/ccxt/orders/raw", "/ccxt/trades/raw"):
        response = await client.get(path, headers=headers,
                                    params={"account_ids": acct, "page_size": 5000})
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        assert body["page_size"] == 500
        assert body["page_size_requested"] == 5000
        assert "clamped" in body["notice"]
        plain = await client.get(path, headers=headers, params={"account_ids": acct,
                                                                "page_size": 500})
        assert "page_size_requested" not in plain.json()
    for path in ("/oms/orders/open", "/oms/positions/open"):
        response = await client.get(path, headers=headers,
                                    params={"account_ids": acct, "limit": 50_000})
        assert response.status_code == 200, (path, response.text)
        assert response.json()["limit_requested"] == 50_000
    for bad in (0, -1):
        response = await client.get("/oms/deals", headers=headers,
                                    params={"account_ids": acct, "page_size": bad})
        assert response.status_code == 422


async def test_reads_default_to_every_account_the_key_may_read(api: Api) -> None:
    client, world = api
    for path in ("/oms/orders/open", "/oms/orders/history", "/oms/deals", "/oms/positions/open",
                 "/oms/positions/history", "/oms/stats", "/oms/portfolio", "/ccxt/orders/raw"):
        for key in (world.trader_key, world.readonly_key, world.admin_key):
            implicit = await client.get(path, headers={"x-api-key": key})
            assert implicit.status_code == 200, (path, implicit.text)
            explicit = await client.get(path, headers={"x-api-key": key},
                                        params={"account_ids": str(world.account_id)})
            assert explicit.status_code == 200, (path, explicit.text)
            if key != world.admin_key and "items" in explicit.json():
                # this key reads one account: the default is that account
                assert implicit.json()["items"] == explicit.json()["items"], path
