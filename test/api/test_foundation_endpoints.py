"""Health, readiness, accounts, profile and admin endpoints: auth matrix and error model."""

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from apps.oms.store.tables import users

from .conftest import World

pytestmark = pytest.mark.mysql
Api = tuple[httpx.AsyncClient, World]


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "trace_id"}
    assert body["error"]["code"] == code
    assert body["error"]["trace_id"] == response.headers["x-trace-id"]
    return dict(body["error"])


async def test_healthz_needs_no_key(api: Api) -> None:
    client, _ = api
    response = await client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["db_engine"] in ("sqlite", "mysql")
    assert set(body) == {"status", "app", "env", "db_engine", "version"}
    assert response.headers["x-trace-id"]


async def test_readyz_reports_each_check(api: Api) -> None:
    client, world = api
    response = await client.get("/readyz")
    body = response.json()
    assert body["checks"]["store"] is True
    assert body["checks"]["migrations"] is True
    assert body["queue_depth"] >= 0
    # readiness follows worker heartbeats: register one and it becomes ready
    from apps.oms.clock import utcnow
    from apps.oms.store import fleet

    async with world.store.transaction() as conn:
        await fleet.register_worker(
            conn,
            worker_id=f"t-{id(world)}-{utcnow().timestamp()}",
            hostname="h",
            pid=1,
            now=utcnow(),
        )
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True


async def test_openapi_docs(api: Api) -> None:
    client, _ = api
    assert (await client.get("/docs")).status_code == 200
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/healthz", "/readyz", "/oms/accounts", "/user/profile"} <= set(paths)


@pytest.mark.parametrize("path", ["/oms/accounts", "/user/profile", "/admin/users"])
async def test_missing_and_invalid_keys(api: Api, path: str) -> None:
    client, world = api
    assert_error(await client.get(path), 401, "missing_api_key")
    assert_error(await client.get(path, headers={"x-api-key": "oms_nope"}), 401, "invalid_api_key")
    error = assert_error(
        await client.get(path, headers={"x-api-key": world.disabled_key}), 401, "invalid_api_key"
    )
    assert "disabled" in error["message"]


async def test_trader_sees_only_its_account_with_flags(api: Api) -> None:
    client, world = api
    response = await client.get("/oms/accounts", headers={"x-api-key": world.trader_key})
    assert response.status_code == 200
    items = response.json()["items"]
    assert [i["id"] for i in items] == [world.account_id]
    item = items[0]
    assert item["exchange_id"] == "paper"
    assert item["position_mode"] == "hedge"
    assert item["environment"] == "paper"
    assert item["status"] == "active"
    assert item["allow_new_positions"] is True
    assert item["out_of_sync"] is False
    perms = item["permissions"]
    assert perms["can_read"]
    assert perms["can_trade"]
    assert perms["can_close_position"]
    assert not perms["can_risk_manage"]
    assert item["created_at"].endswith("Z")


async def test_key_without_the_account_gets_404(api: Api) -> None:
    client, world = api
    headers = {"x-api-key": world.trader_key}
    response = await client.get(
        f"/oms/accounts?account_ids={world.other_account_id}", headers=headers
    )
    assert_error(response, 404, "account_not_found")
    response = await client.get(f"/oms/accounts?account_ids={world.account_id}", headers=headers)
    assert [i["id"] for i in response.json()["items"]] == [world.account_id]
    assert_error(
        await client.get("/oms/accounts?account_ids=abc", headers=headers), 422, "validation_error"
    )


async def test_admin_sees_every_account_without_flags(api: Api) -> None:
    client, world = api
    response = await client.get("/oms/accounts", headers={"x-api-key": world.admin_key})
    ids = {i["id"] for i in response.json()["items"]}
    assert {world.account_id, world.other_account_id} <= ids
    other = next(i for i in response.json()["items"] if i["id"] == world.other_account_id)
    assert other["environment"] == "testnet"
    assert other["permissions"] is None


async def test_restricted_key_lists_its_strategies(api: Api) -> None:
    client, world = api
    response = await client.get("/oms/accounts", headers={"x-api-key": world.restricted_key})
    perms = response.json()["items"][0]["permissions"]
    assert perms["restrict_to_strategies"] is True
    assert perms["strategy_ids"] == [7]


async def test_profile(api: Api) -> None:
    client, world = api
    body = (await client.get("/user/profile", headers={"x-api-key": world.readonly_key})).json()
    assert body["role"] == "readonly"
    assert body["api_key"]["label"] == "ro"
    assert world.readonly_key.startswith(body["api_key"]["prefix"])
    assert world.readonly_key not in str(body)


@pytest.mark.parametrize("key_name", ["trader_key", "readonly_key", "restricted_key"])
async def test_admin_endpoints_need_admin(api: Api, key_name: str) -> None:
    client, world = api
    headers = {"x-api-key": getattr(world, key_name)}
    assert_error(await client.get("/admin/users", headers=headers), 403, "admin_required")
    assert_error(
        await client.post("/admin/users", json={"name": "x", "role": "trader"}, headers=headers),
        403,
        "admin_required",
    )


async def test_admin_creates_user_and_it_is_audited(api: Api) -> None:
    client, world = api
    headers = {"x-api-key": world.admin_key}
    response = await client.post(
        "/admin/users", json={"name": f"new{id(client)}", "role": "risk"}, headers=headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["role"] == "risk"
    audit_items = (await client.get("/admin/audit?limit=5", headers=headers)).json()["items"]
    assert audit_items[0]["action"] == "create_user"
    assert audit_items[0]["target_id"] == str(response.json()["id"])
    duplicate = await client.post(
        "/admin/users", json={"name": f"new{id(client)}", "role": "risk"}, headers=headers
    )
    assert_error(duplicate, 409, "conflict")


async def _user_count(world: World) -> int:
    async with world.store.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(users))).scalar_one())


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"name": "a", "role": "trader", "extra": 1}',
        b'{"name": 5, "role": "trader"}',
        b'{"name": "a", "role": "wizard"}',
        b'{"name": "a"}',
        b"[]",
        b"",
    ],
)
async def test_bad_bodies_are_422_and_write_nothing(api: Api, content: bytes) -> None:
    client, world = api
    before = await _user_count(world)
    response = await client.post(
        "/admin/users",
        content=content,
        headers={"x-api-key": world.admin_key, "content-type": "application/json"},
    )
    error = assert_error(response, 422, "validation_error")
    assert error["details"]["errors"]
    assert await _user_count(world) == before


async def test_unknown_route_and_method_use_the_error_body(api: Api) -> None:
    client, _ = api
    assert_error(await client.get("/nope"), 404, "not_found")
    assert_error(await client.delete("/healthz"), 405, "method_not_allowed")


async def test_incoming_trace_id_is_echoed(api: Api) -> None:
    client, _ = api
    response = await client.get("/oms/accounts", headers={"x-trace-id": "abc-123"})
    assert response.headers["x-trace-id"] == "abc-123"
    assert response.json()["error"]["trace_id"] == "abc-123"
