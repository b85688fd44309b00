"""quality.md S3 on the identity, admin and risk endpoints: malformed JSON, wrong types, huge
payloads, unknown fields, bad decimals and other accounts' ids each get a clear 4xx and write
nothing (no audit row, no event)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from apps.oms.domain.access import AccountFlags, Role
from apps.oms.store.tables import api_keys, audit_log, outbox, strategies, users
from test.api.conftest import World
from test.api.identity_helpers import new_account, new_key

RISK = AccountFlags(can_risk_manage=True, can_block_new_positions=True, can_block_account=True)
HUGE = '{"name": "' + "x" * 1_100_000 + '"}'


async def _counts(world: World) -> tuple[int, ...]:
    async with world.store.read() as conn:
        return tuple([
            int((await conn.execute(select(func.count()).select_from(t))).scalar_one())
            for t in (audit_log, outbox, users, api_keys, strategies)
        ])  # fmt: skip


ADMIN_BODIES: list[tuple[str, str, Any]] = [
    ("POST", "/admin/users", "{not json"),
    ("POST", "/admin/users", {"name": "a", "role": "wizard"}),
    ("POST", "/admin/users", {"name": 5, "role": "trader"}),
    ("POST", "/admin/users", {"name": "a b c", "role": "trader"}),
    ("POST", "/admin/users", {"name": "ok", "role": "trader", "password": "short"}),
    ("POST", "/admin/users", {"name": "ok", "role": "trader", "admin": True}),
    ("POST", "/admin/users", HUGE),
    ("POST", "/admin/users", "[" * 50_000 + "]" * 50_000),
    ("POST", "/admin/users-with-api-key", {"name": "z", "role": "trader",
                                           "permissions": [{"account_id": 999_999_999}]}),
    ("POST", "/admin/users-with-api-key", {"name": "z", "role": "trader",
                                           "permissions": [{"account_id": 1,
                                                            "allowed_functions": ["withdraw!"]}]}),
    ("POST", "/admin/api-keys", {"user_id": 999_999_999}),
    ("POST", "/admin/api-keys", {"user_id": 1, "expires_at": "2001-01-01T00:00:00Z"}),
    ("POST", "/admin/api-keys", {"user_id": "one"}),
    ("PATCH", "/admin/api-keys/999999999", {"label": "x"}),
    ("PATCH", "/admin/api-keys/1", {}),
    ("PATCH", "/admin/api-keys/1", {"status": "deleted"}),
    ("PUT", "/admin/api-keys/1/permissions", {"permissions": [{"account_id": 1},
                                                              {"account_id": 1}]}),
    ("PUT", "/admin/api-keys/1/permissions", {"permissions": [{"account_id": 1,
                                                               "strategy_ids": [-1]}]}),
    ("POST", "/admin/accounts", {"exchange_id": "nasdaq", "label": "x"}),
    ("POST", "/admin/accounts", {"label": "x", "position_mode": "fifo"}),
    ("POST", "/admin/accounts", {"label": "x", "testnet": True, "live": True}),
    ("PATCH", "/admin/accounts/999999999", {"label": "x"}),
    ("POST", "/admin/strategies", {"name": "s", "account_ids": [999_999_999]}),
    ("POST", "/admin/strategies", {"name": "s", "account_ids": [1], "client_strategy_id": 0}),
    ("PATCH", "/admin/strategies/999999999", {"name": "x"}),
    ("GET", "/admin/audit?start_date=2026-13-01&end_date=2026-13-02", None),
    ("GET", "/admin/audit?page_size=100000", None),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_BODIES,
                         ids=[f"{m} {p[:40]} {i}" for i, (m, p, _b) in enumerate(ADMIN_BODIES)])
async def test_admin_bad_input(api: tuple[httpx.AsyncClient, World], method: str, path: str,
                               body: Any) -> None:  # fmt: skip
    client, world = api
    before = await _counts(world)
    kwargs: dict[str, Any] = ({"content": body} if isinstance(body, str) else {"json": body})
    headers = {"x-api-key": world.admin_key, "content-type": "application/json"}
    resp = await client.request(method, path, headers=headers, **kwargs)
    assert 400 <= resp.status_code < 500, resp.text
    error = resp.json()["error"]
    assert error["code"]
    assert error["message"]
    assert error["trace_id"]
    assert await _counts(world) == before


async def test_risk_bad_input(api: tuple[httpx.AsyncClient, World]) -> None:
    client, world = api
    acct = await new_account(world.store)
    _, _, risk = await new_key(world.store, Role.RISK, {acct: RISK})
    other = world.other_account_id  # an account this key has no grant on
    cases: list[tuple[str, Any, int]] = [
        (f"/oms/risk/{acct}/status", {"status": "blocked"}, 422),
        (f"/oms/risk/{acct}/status", {"status": "blocked", "comment": ""}, 422),
        (f"/oms/risk/{acct}/status", {"status": "closed", "comment": "c"}, 422),
        (f"/oms/risk/{acct}/status", {"status": "blocked", "comment": "c" * 1001}, 422),
        (f"/oms/risk/{acct}/allow_new_positions", {"allow_new_positions": "maybe",
                                                    "comment": "c"}, 422),
        (f"/oms/risk/{acct}/strategies/allow_new_positions",
         {"strategy_id": 999_999, "allow_new_positions": False, "comment": "c"}, 404),
        (f"/oms/risk/{acct}/strategies/allow_new_positions",
         {"strategy_id": "1", "allow_new_positions": False, "comment": "c"}, 422),
        (f"/oms/risk/{other}/status", {"status": "blocked", "comment": "c"}, 404),
        ("/oms/risk/999999999/allow_new_positions",
         {"allow_new_positions": False, "comment": "c"}, 404),
        (f"/oms/risk/{acct}/limits", {"comment": "c", "max_order_qty": "-1"}, 422),
        (f"/oms/risk/{acct}/limits", {"comment": "c", "max_order_qty": "1" * 40}, 422),
        (f"/oms/risk/{acct}/limits", {"comment": "c", "max_order_qty": "Infinity"}, 422),
    ]  # fmt: skip
    before = await _counts(world)
    for path, body, status in cases:
        method = "PUT" if path.endswith("/limits") else "POST"
        resp = await client.request(method, path, json=body, headers={"x-api-key": risk})
        assert resp.status_code == status, (path, body, resp.text)
    assert await _counts(world) == before


async def test_login_bad_input(api: tuple[httpx.AsyncClient, World]) -> None:
    client, world = api
    before = await _counts(world)
    for body in ({"user_name": "x"}, {"user_name": 1, "password": "p"}, {"password": "p"},
                 {"user_name": "x", "password": "p", "remember": True}):
        resp = await client.post("/auth/login-password", json=body)
        assert resp.status_code == 422, resp.text
    assert await _counts(world) == before
