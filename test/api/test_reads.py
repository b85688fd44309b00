"""OMS read endpoints: scope (404 for invisible accounts), paging, filters, dates, strategy filtering."""

from typing import Any

import httpx
import pytest

from .conftest import World
from .test_commands_accept import post, send

pytestmark = pytest.mark.mysql
Api = tuple[httpx.AsyncClient, World]


async def get(client: httpx.AsyncClient, key: str, path: str, **params: Any) -> httpx.Response:
    return await client.get(path, headers={"x-api-key": key}, params=params)


async def test_history_paging_newest_first(api: Api) -> None:
    client, world = api
    ids = []
    for _ in range(3):
        ids.append(
            (
                await post(
                    client,
                    world.trader_key,
                    send(world.account_id, symbol="SOL/USDT", qty="0.1", price="100"),
                )
            ).json()["results"][0]["order_id"]
        )
    page = await get(
        client,
        world.trader_key,
        "/oms/orders/history",
        account_ids=str(world.account_id),
        symbol="SOL/USDT",
        page=1,
        page_size=2,
    )
    body = page.json()
    assert body["total"] >= 3
    assert body["page_size"] == 2
    assert len(body["items"]) == 2
    assert [i["id"] for i in body["items"]] == sorted(ids, reverse=True)[:2]
    second = (
        await get(
            client,
            world.trader_key,
            "/oms/orders/history",
            account_ids=str(world.account_id),
            symbol="SOL/USDT",
            page=2,
            page_size=2,
        )
    ).json()
    assert ids[0] in [i["id"] for i in second["items"]]
    open_ = (
        await get(
            client,
            world.trader_key,
            "/oms/orders/open",
            account_ids=str(world.account_id),
            symbol="SOL/USDT",
            limit=1,
        )
    ).json()
    assert [i["id"] for i in open_["items"]] == [max(ids)]


@pytest.mark.parametrize(
    "path",
    [
        "/oms/orders/open",
        "/oms/orders/history",
        "/oms/deals",
        "/oms/positions/open",
        "/oms/positions/history",
        "/oms/stats",
        "/oms/portfolio",
    ],
)
async def test_lists_need_readable_accounts(api: Api, path: str) -> None:
    client, world = api
    # without account_ids: every account the key may read (issue 11; was 422)
    assert (await get(client, world.trader_key, path)).status_code == 200
    response = await get(client, world.trader_key, path, account_ids=str(world.other_account_id))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "account_not_found"
    ok = await get(client, world.trader_key, path, account_ids=str(world.account_id))
    assert ok.status_code == 200, ok.text
    assert (
        await get(client, world.admin_key, path, account_ids=str(world.other_account_id))
    ).status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "2026-01-01"},
        {"start_date": "2026-02-01", "end_date": "2026-01-01"},
        {"start_date": "2026-13-01", "end_date": "2026-12-01"},
        {"page": 0},
        {"page_size": 0},  # above the maximum is clamped (test_edges.py), not refused
    ],
)
async def test_bad_query_values(api: Api, params: dict[str, Any]) -> None:
    client, world = api
    response = await get(
        client, world.trader_key, "/oms/deals", account_ids=str(world.account_id), **params
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_dates_filter_inclusive_end(api: Api) -> None:
    client, world = api
    await post(client, world.trader_key, send(world.account_id))
    from datetime import UTC, datetime

    today = datetime.now(UTC).date().isoformat()
    body = (
        await get(
            client,
            world.trader_key,
            "/oms/orders/history",
            account_ids=str(world.account_id),
            start_date=today,
            end_date=today,
        )
    ).json()
    assert body["total"] >= 1
    none = (
        await get(
            client,
            world.trader_key,
            "/oms/orders/history",
            account_ids=str(world.account_id),
            start_date="2020-01-01",
            end_date="2020-01-02",
        )
    ).json()
    assert none["total"] == 0


async def test_restricted_key_sees_only_its_strategies(api: Api) -> None:
    client, world = api
    item = (await post(client, world.trader_key, send(world.account_id))).json()["results"][0]
    items = (
        await get(
            client, world.restricted_key, "/oms/orders/open", account_ids=str(world.account_id)
        )
    ).json()["items"]
    assert all(i["strategy_id"] == 7 for i in items)
    assert (await get(client, world.restricted_key, f"/oms/orders/{item['order_id']}")).json()[
        "items"
    ] == []
    response = await get(
        client,
        world.restricted_key,
        "/oms/orders/open",
        account_ids=str(world.account_id),
        strategy_id=0,
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "strategy_permission_denied"


async def test_by_ids_never_leak_other_accounts(api: Api) -> None:
    client, world = api
    item = (await post(client, world.trader_key, send(world.account_id))).json()["results"][0]
    assert (await get(client, world.readonly_key, f"/oms/orders/{item['order_id']}")).json()[
        "items"
    ]
    assert (await get(client, world.admin_key, f"/oms/commands/{item['command_id']}")).json()[
        "items"
    ]
    assert (await get(client, world.trader_key, "/oms/orders/abc")).status_code == 422


async def test_strategies_create_and_list(api: Api) -> None:
    client, world = api
    headers = {"x-api-key": world.trader_key}
    created = await client.post(
        "/strategies", headers=headers, json={"name": "s1", "account_ids": [world.account_id]}
    )
    assert created.status_code == 200, created.text
    strategy_id = created.json()["strategy_id"]
    listed = (await client.get("/strategies", headers=headers)).json()["items"]
    assert strategy_id in [s["strategy_id"] for s in listed]
    denied = await client.post(
        "/strategies",
        headers={"x-api-key": world.readonly_key},
        json={"name": "s2", "account_ids": [world.account_id]},
    )
    assert denied.status_code == 403
    order = await post(client, world.trader_key, send(world.account_id, strategy_id=strategy_id))
    assert order.status_code == 200, order.text
