"""`POST /paper/prices` and `GET /paper/prices` through the real app (router added here until
the app registers it), on SQLite and MariaDB."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from apps.api.app import create_app
from apps.oms.config import load_settings
from apps.oms.domain.access import AccountFlags, Role
from apps.oms.service import admin
from apps.oms.service.install import InstallRequest, install
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.store import Store

PEPPER = "test-pepper-for-paper-route-0123456789"


@pytest.fixture
async def client(store_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    settings = load_settings(database={"url": store_url}, security={"api_key_pepper": PEPPER})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        keys = await _seed(app.state.store)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http, keys


async def _seed(store: Store) -> dict[str, str]:
    tag = secrets.token_hex(3)
    done: dict[str, Any] = await install(store, PEPPER, InstallRequest(
        admin_name=f"padmin{tag}", with_account=True, user_name=f"ptrader{tag}"))
    async with store.transaction() as conn:
        other = await admin.add_account(
            conn, CLI_ACTOR, user_id=None, exchange_id="ccxt.binance", label="live",
            position_mode="netting", testnet=True, live=False,
        )
        user_id = await admin.create_user(conn, CLI_ACTOR, name=f"pother{tag}", role=Role.TRADER)
        key = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=user_id,
                                         label="binance only")
        await admin.set_permission(conn, CLI_ACTOR, api_key_id=key.id, account_id=other,
                                   flags=AccountFlags(can_trade=True))
        # readonly and risk users whose keys carry can_trade on the paper account: the role
        # ceiling forbids trading, so they may not move the shared paper market either
        roles = {}
        for role in (Role.READONLY, Role.RISK):
            uid = await admin.create_user(conn, CLI_ACTOR, name=f"p{role.value}{tag}", role=role)
            rkey = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=uid,
                                              label=role.value)
            await admin.set_permission(
                conn, CLI_ACTOR, api_key_id=rkey.id, account_id=done["account"]["id"],
                flags=AccountFlags(can_trade=True, can_risk_manage=True))
            roles[role.value] = rkey.plain
    return {"admin": done["admin"]["api_key"]["plain"], "trader": done["api_key"]["plain"],
            "no_paper": key.plain, **roles}


async def test_set_and_read_prices(client) -> None:  # type: ignore[no-untyped-def]
    http, keys = client
    body = {"symbol": "ETH/USDT", "price": "3100.5", "bid": "3100.4", "ask": "3100.6"}
    set_resp = await http.post("/paper/prices", json=body, headers={"x-api-key": keys["trader"]})
    assert set_resp.status_code == 200, set_resp.text
    assert set_resp.json()["price"] == "3100.5"
    assert set_resp.json()["ok"] is True
    read = await http.get("/paper/prices", params={"symbols": "ETH/USDT,SOL/USDT"},
                          headers={"x-api-key": keys["trader"]})
    items = {i["symbol"]: i for i in read.json()["items"]}
    assert (items["ETH/USDT"]["bid"], items["ETH/USDT"]["ask"]) == ("3100.4", "3100.6")
    assert "SOL/USDT" in items


async def test_price_permissions_and_validation(client) -> None:  # type: ignore[no-untyped-def]
    http, keys = client
    ok = {"symbol": "BTC/USDT", "price": "50000"}
    admin_resp = await http.post("/paper/prices", json=ok, headers={"x-api-key": keys["admin"]})
    assert admin_resp.status_code == 200
    denied = await http.post("/paper/prices", json=ok, headers={"x-api-key": keys["no_paper"]})
    assert denied.status_code == 403
    for role in ("readonly", "risk"):  # role ∩ flag: can_trade alone is not enough
        refused = await http.post("/paper/prices", json=ok, headers={"x-api-key": keys[role]})
        assert refused.status_code == 403, (role, refused.text)
        assert refused.json()["error"]["code"] == "permission_denied"
    unknown = await http.post("/paper/prices", json={"symbol": "X/USDT", "price": "1"},
                              headers={"x-api-key": keys["trader"]})
    assert unknown.status_code == 422
    bad = await http.post("/paper/prices", json={"symbol": "BTC/USDT", "price": "NaN"},
                          headers={"x-api-key": keys["trader"]})
    assert bad.status_code == 422
    anonymous = await http.post("/paper/prices", json=ok)
    assert anonymous.status_code == 401
