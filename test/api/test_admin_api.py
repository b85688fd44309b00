"""`/admin/*`, `/user/*` and `/auth/*` through the real app on SQLite and MariaDB, with the audit
rows each mutation writes (issue 13)."""

from __future__ import annotations

import secrets
from datetime import timedelta

import httpx
import pytest

from apps.oms.clock import iso_z, utcnow
from apps.oms.store import accounts as account_store
from test.api.conftest import World
from test.api.identity_helpers import audit_rows, new_account

Api = tuple[httpx.AsyncClient, World]


def h(key: str) -> dict[str, str]:
    return {"x-api-key": key}


def name() -> str:
    return f"u{secrets.token_hex(5)}"


async def test_users_keys_and_permissions_lifecycle(api: Api) -> None:
    client, world = api
    admin = h(world.admin_key)
    acct = await new_account(world.store)
    made = await client.post("/admin/users-with-api-key", headers=admin, json={
        "name": (who := name()), "role": "trader", "label": "bot",
        "permissions": [{"account_id": acct, "can_trade": True, "can_close_position": True}],
    })  # fmt: skip
    assert made.status_code == 201, made.text
    user_id, key_id, plain = made.json()["user"]["id"], made.json()["api_key"]["id"], made.json()[
        "api_key"]["api_key"]
    assert (await client.get("/user/profile", headers=h(plain))).json()["name"] == who
    actions = [r["action"] for r in await audit_rows(world.store, target_type="user", target_id=str(user_id))]
    assert "create_user" in actions
    assert {r["action"] for r in await audit_rows(world.store, target_type="api_key", target_id=str(key_id))} == {
        "create_api_key", "set_permission"}
    # permissions: GET, PUT with an allowed_functions grant, refusal of non-restricted grants
    perms = (await client.get(f"/admin/api-keys/{key_id}/permissions", headers=admin)).json()
    assert [(p["account_id"], p["can_trade"]) for p in perms["items"]] == [(acct, True)]
    bad = await client.put(f"/admin/api-keys/{key_id}/permissions", headers=admin, json={
        "permissions": [{"account_id": acct, "allowed_functions": ["fetch_balance"]}]})
    assert bad.status_code == 422
    put = await client.put(f"/admin/api-keys/{key_id}/permissions", headers=admin, json={
        "permissions": [{"account_id": acct, "can_trade": True,
                         "allowed_functions": ["setLeverage", "transfer"]}]})  # fmt: skip
    assert put.status_code == 200, put.text
    assert put.json()["items"][0]["allowed_functions"] == ["set_leverage", "transfer"]
    own = (await client.get("/user/api-keys/permissions", headers=h(plain))).json()
    assert own["items"][0]["allowed_functions"] == ["set_leverage", "transfer"]
    # users list and users-api-keys never show hashes
    listed = (await client.get("/admin/users-api-keys", headers=admin)).json()["items"]
    mine = next(u for u in listed if u["id"] == user_id)
    assert [k["id"] for k in mine["api_keys"]] == [key_id]
    assert "key_hash" not in str(listed)
    # rotate: the old secret is refused at once, the new one works with the same grants
    rotated = await client.patch(f"/admin/api-keys/{key_id}", headers=admin, json={"rotate": True})
    assert rotated.status_code == 200, rotated.text
    new_plain = rotated.json()["api_key"]
    assert (await client.get("/user/profile", headers=h(plain))).status_code == 401
    assert (await client.get("/oms/accounts", headers=h(new_plain))).json()["items"][0]["id"] == acct
    # disable / enable / expire
    for body, status in (({"status": "disabled"}, 401), ({"status": "active"}, 200),
                         ({"expires_at": iso_z(utcnow() - timedelta(seconds=1))}, 401),
                         ({"expires_at": None}, 200)):
        resp = await client.patch(f"/admin/api-keys/{key_id}", headers=admin, json=body)
        assert resp.status_code == 200, resp.text
        assert (await client.get("/user/profile", headers=h(new_plain))).status_code == status
    updates = await audit_rows(world.store, target_type="api_key", target_id=str(key_id),
                               action="update_api_key")
    assert len(updates) == 5
    assert updates[0]["after"] == {"rotated": True}
    # user patch: role change and disable
    patched = await client.patch(f"/admin/users/{user_id}", headers=admin,
                                 json={"role": "readonly"})
    assert patched.json()["role"] == "readonly"
    trade = {"account_id": acct, "command": "send_order", "payload": {
        "symbol": "BTC/USDT", "side": "buy", "order_type": "market", "qty": "1"}}
    assert (await client.post("/oms/commands", headers=h(new_plain), json=trade)
            ).status_code == 403
    off = await client.patch(f"/admin/users/{user_id}", headers=admin, json={"status": "disabled"})
    assert off.status_code == 200
    assert (await client.get("/user/profile", headers=h(new_plain))).status_code == 401


async def test_accounts_credentials_are_write_only(api: Api) -> None:
    client, world = api
    admin = h(world.admin_key)
    made = await client.post("/admin/accounts", headers=admin, json={
        "exchange_id": "ccxt.binance", "label": "bn", "position_mode": "netting",
        "testnet": True})  # fmt: skip
    assert made.status_code == 201, made.text
    acct = made.json()["id"]
    assert made.json()["has_credentials"] is False
    # the embedded demo store (SQLite) may keep plaintext without a master key; MariaDB refuses
    resp = await client.patch(f"/admin/accounts/{acct}", headers=admin, json={
        "label": "binance testnet", "credentials": {"api_key": "AK-secret", "secret": "S-secret"}})
    if world.store.dialect == "sqlite":
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["has_credentials"] is True
        assert body["credentials_updated_at"]
        assert "AK-secret" not in resp.text
        listed = (await client.get("/admin/accounts", headers=admin)).text
        assert "S-secret" not in listed
        rows = await audit_rows(world.store, target_type="account", target_id=str(acct),
                                action="upsert_account_credentials")
        assert rows[0]["after"] == {"fields": ["api_key", "secret"]}
    else:
        assert resp.status_code == 422, resp.text
        assert "master key" in resp.json()["error"]["message"]
        async with world.store.read() as conn:
            assert await account_store.get_credentials(conn, acct) is None
            assert (await account_store.get_account(conn, acct)).label == "bn"  # no partial write
    assert (await client.patch(f"/admin/accounts/{acct}", headers=admin, json={})
            ).status_code == 422


async def test_strategies_views_and_audit_filters(api: Api) -> None:
    client, world = api
    admin = h(world.admin_key)
    acct = await new_account(world.store)
    made = await client.post("/admin/strategies", headers=admin, json={
        "name": "grid", "account_ids": [acct], "client_strategy_id": 42})
    assert made.status_code == 201, made.text
    sid = made.json()["strategy_id"]
    twin = await client.post("/admin/strategies", headers=admin, json={
        "name": "grid2", "account_ids": [acct], "client_strategy_id": 42})
    assert twin.status_code == 201  # a label, not unique
    for bad in (0, -1, "x", 1.5):
        resp = await client.post("/admin/strategies", headers=admin, json={
            "name": "g", "account_ids": [acct], "client_strategy_id": bad})
        assert resp.status_code == 422, (bad, resp.text)
    other = await new_account(world.store)
    patched = await client.patch(f"/admin/strategies/{sid}", headers=admin, json={
        "name": "grid-v2", "add_account_ids": [other]})
    assert patched.status_code == 200, patched.text
    assert sorted(a["account_id"] for a in patched.json()["accounts"]) == sorted([acct, other])
    listed = (await client.get("/admin/strategies", headers=admin)).json()["items"]
    assert next(s for s in listed if s["strategy_id"] == sid)["client_strategy_id"] == 42
    for view in ("orders", "deals", "positions", "commands"):
        resp = await client.get(f"/admin/oms/{view}", headers=admin, params={"limit": 5})
        assert resp.status_code == 200, resp.text
    assert (await client.get("/admin/oms/users", headers=admin)).status_code == 422
    audit = await client.get("/admin/audit", headers=admin, params={
        "action": "update_strategy", "target_id": str(sid)})
    assert audit.status_code == 200
    assert [e["after"]["name"] for e in audit.json()["items"]] == ["grid-v2"]
    today = utcnow().date().isoformat()
    dated = await client.get("/admin/audit", headers=admin, params={
        "start_date": today, "end_date": today, "page_size": 2})
    assert dated.json()["total"] >= 2
    assert len(dated.json()["items"]) == 2
    assert (await client.get("/admin/audit", headers=admin, params={"start_date": today})
            ).status_code == 422


@pytest.mark.parametrize("path", ["/admin/users", "/admin/accounts", "/admin/audit",
                                  "/admin/strategies", "/admin/users-api-keys"])
async def test_admin_reads_need_admin(api: Api, path: str) -> None:
    client, world = api
    resp = await client.get(path, headers=h(world.trader_key))
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "admin_required"


async def test_login_logout_and_own_keys(api: Api) -> None:
    client, world = api
    admin = h(world.admin_key)
    acct = await new_account(world.store)
    who = name()
    made = await client.post("/admin/users-with-api-key", headers=admin, json={
        "name": who, "role": "trader", "password": "correct horse battery",
        "permissions": [{"account_id": acct, "can_trade": True}]})  # fmt: skip
    assert made.status_code == 201, made.text
    user_id = made.json()["user"]["id"]
    wrong = await client.post("/auth/login-password", json={"user_name": who, "password": "nope"})
    assert wrong.status_code == 401
    assert await audit_rows(world.store, target_type="user", target_id=str(user_id), action="login_failed")
    login = await client.post("/auth/login-password", json={
        "user_name": who, "password": "correct horse battery"})
    assert login.status_code == 200, login.text
    token = login.json()["token"]
    assert login.json()["expires_at"]
    seen = (await client.get("/oms/accounts", headers=h(token))).json()["items"]
    assert [a["id"] for a in seen] == [acct]  # the token carries the user's keys' grants
    assert (await client.get("/user/profile", headers=h(token))).json()["api_key"]["kind"] == (
        "login_token")
    # own keys: create with at most the caller's rights
    too_much = await client.post("/user/api-keys", headers=h(token), json={
        "permissions": [{"account_id": acct, "can_risk_manage": True}]})
    assert too_much.status_code == 403
    mine = await client.post("/user/api-keys", headers=h(token), json={
        "label": "second", "permissions": [{"account_id": acct, "can_trade": True}]})
    assert mine.status_code == 201, mine.text
    listed = (await client.get("/user/api-keys", headers=h(token))).json()["items"]
    assert {k["kind"] for k in listed} == {"api_key", "login_token"}
    other_key = made.json()["api_key"]["id"]
    assert (await client.get(f"/user/api-keys/{other_key}/permissions", headers=h(token))
            ).status_code == 200
    assert (await client.get(f"/user/api-keys/{other_key}/permissions",
                             headers=h(world.trader_key))).status_code == 404
    # password change needs the current one
    assert (await client.post("/user/password", headers=h(token), json={
        "current_password": "bad", "new_password": "another good one"})).status_code == 401
    assert (await client.post("/user/password", headers=h(token), json={
        "current_password": "correct horse battery", "new_password": "short"})).status_code == 422
    changed = await client.post("/user/password", headers=h(token), json={
        "current_password": "correct horse battery", "new_password": "another good one"})
    assert changed.status_code == 200
    # logout revokes the token at once; an API key cannot be "logged out"
    assert (await client.post("/auth/logout", headers=h(mine.json()["api_key"]))
            ).status_code == 422
    out = await client.post("/auth/logout", headers=h(token))
    assert out.status_code == 200
    assert (await client.get("/user/profile", headers=h(token))).status_code == 401
    actions = {r["action"] for r in await audit_rows(world.store, actor_user_id=user_id)}
    assert {"login", "logout", "update_user", "create_api_key"} <= actions


async def test_failed_logins_are_throttled(api: Api) -> None:
    client, world = api
    who = name()
    made = await client.post("/admin/users", headers=h(world.admin_key), json={
        "name": who, "role": "readonly", "password": "the right password"})
    assert made.status_code == 201
    app = client._transport.app  # type: ignore[attr-defined]  # same app, another address
    guesser = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("10.7.7.7", 1)),
                                base_url="http://t")  # fmt: skip
    async with guesser:
        statuses = []
        for _ in range(25):
            resp = await guesser.post("/auth/login-password",
                                      json={"user_name": who, "password": "guess"})
            statuses.append(resp.status_code)
        assert statuses[0] == 401
        assert statuses[-1] == 429
    # locked: even the right password is refused until the failures age out (from anywhere:
    # the user name is throttled too)
    locked = await client.post("/auth/login-password",
                               json={"user_name": who, "password": "the right password"})
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) >= 1
    world_key = (await client.get("/user/profile", headers=h(world.trader_key)))
    assert world_key.status_code == 200  # API keys keep working
