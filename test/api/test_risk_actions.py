"""Risk actions through the real app on SQLite and MariaDB: flags, mandatory comment persisted,
audit rows, `risk` namespace events, and their effect on trading (issue 13)."""

from __future__ import annotations

from typing import Any

import httpx

from apps.oms.domain.access import AccountFlags, Role
from test.api.conftest import World
from test.api.identity_helpers import audit_rows, events, new_account, new_key

RISK = AccountFlags(can_risk_manage=True, can_block_new_positions=True, can_block_account=True)
TRADE = AccountFlags(can_trade=True, can_close_position=True)


def h(key: str) -> dict[str, str]:
    return {"x-api-key": key}


def send(account_id: int, **extra: Any) -> dict[str, Any]:
    payload = {"symbol": "BTC/USDT", "side": "buy", "order_type": "market", "qty": "0.01", **extra}
    return {"account_id": account_id, "command": "send_order", "payload": payload}


async def test_account_allow_new_positions(api: tuple[httpx.AsyncClient, World]) -> None:
    client, world = api
    acct = await new_account(world.store)
    _, risk_key_id, risk = await new_key(world.store, Role.RISK, {acct: RISK})
    _, _, trader = await new_key(world.store, Role.TRADER, {acct: TRADE})
    url = f"/oms/risk/{acct}/allow_new_positions"
    for body in ({"allow_new_positions": False}, {"allow_new_positions": False, "comment": ""},
                 {"allow_new_positions": False, "comment": "x", "extra": 1}):
        resp = await client.post(url, json=body, headers=h(risk))
        assert resp.status_code == 422, resp.text
    assert await audit_rows(world.store, target_type="account", target_id=str(acct),
                            action="risk_allow_new_positions") == []  # fmt: skip
    resp = await client.post(url, json={"allow_new_positions": False, "comment": "drawdown"},
                             headers=h(risk))
    assert resp.status_code == 200, resp.text
    assert resp.json()["allow_new_positions"] is False
    [row] = await audit_rows(world.store, target_type="account", target_id=str(acct), action="risk_allow_new_positions")
    assert (row["comment"], row["actor_api_key_id"]) == ("drawdown", risk_key_id)
    assert (row["before"], row["after"]) == ({"allow_new_positions": True},
                                             {"allow_new_positions": False})
    [event] = await events(world.store, acct, "risk")
    assert event["event"] == "account_allow_new_positions_changed"
    assert event["payload"]["comment"] == "drawdown"
    refused = await client.post("/oms/commands", json=send(acct), headers=h(trader))
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "risk_blocked"
    accounts = (await client.get("/oms/accounts", headers=h(trader))).json()["items"]
    assert [a["allow_new_positions"] for a in accounts if a["id"] == acct] == [False]
    back = await client.post(url, json={"allow_new_positions": True, "comment": "ok"},
                             headers=h(risk))
    assert back.status_code == 200
    opened = await client.post("/oms/commands", json=send(acct), headers=h(trader))
    assert opened.status_code == 200, opened.text


async def test_risk_action_permissions(api: tuple[httpx.AsyncClient, World]) -> None:
    client, world = api
    acct = await new_account(world.store)
    body = {"allow_new_positions": False, "comment": "c"}
    cases = [
        (Role.RISK, AccountFlags(can_risk_manage=True), 403),  # lacks can_block_new_positions
        (Role.RISK, AccountFlags(can_block_new_positions=True), 403),  # lacks can_risk_manage
        (Role.TRADER, RISK, 403),  # role ceiling
        (Role.READONLY, RISK, 403),
        (Role.ADMIN, RISK, 403),  # admins never act on books
        (Role.RISK, None, 404),  # no grant: the account is invisible
    ]
    for role, flags, status in cases:
        _, _, key = await new_key(world.store, role, {acct: flags} if flags else {})
        for path, payload in ((f"/oms/risk/{acct}/allow_new_positions", body),
                              (f"/oms/risk/{acct}/status", {"status": "blocked", "comment": "c"})):
            resp = await client.post(path, json=payload, headers=h(key))
            assert resp.status_code == status, (role, flags, path, resp.text)
    rows = await audit_rows(world.store, target_type="account", target_id=str(acct))
    assert not [r for r in rows if r["action"].startswith("risk_")]  # refusals write nothing
    assert await events(world.store, acct, "risk") == []


async def test_strategy_allow_new_positions(api: tuple[httpx.AsyncClient, World]) -> None:
    client, world = api
    acct = await new_account(world.store)
    _, _, risk = await new_key(world.store, Role.RISK, {acct: RISK})
    _, _, trader = await new_key(world.store, Role.TRADER, {acct: TRADE})
    made = await client.post("/strategies", json={"name": "s", "account_ids": [acct]},
                             headers=h(trader))
    assert made.status_code == 200, made.text
    sid = made.json()["strategy_id"]
    listed = await client.get(f"/oms/risk/{acct}/strategies", headers=h(risk))
    assert listed.status_code == 200
    assert [(i["strategy_id"], i["allow_new_positions"]) for i in listed.json()["items"]] == [
        (sid, True)]
    url = f"/oms/risk/{acct}/strategies/allow_new_positions"
    missing = await client.post(url, json={"strategy_id": sid + 1000, "allow_new_positions": False,
                                           "comment": "c"}, headers=h(risk))
    assert missing.status_code == 404
    resp = await client.post(url, json={"strategy_id": sid, "allow_new_positions": False,
                                        "comment": "robot misbehaves"}, headers=h(risk))
    assert resp.status_code == 200, resp.text
    listed = (await client.get(f"/oms/risk/{acct}/strategies", headers=h(risk))).json()
    assert listed["items"][0]["allow_new_positions"] is False
    assert listed["items"][0]["comment"] == "robot misbehaves"
    [row] = await audit_rows(world.store, target_type="account", target_id=str(acct),
                             action="risk_strategy_allow_new_positions")
    assert row["comment"] == "robot misbehaves"
    [event] = await events(world.store, acct, "risk")
    assert (event["event"], event["strategy_id"]) == ("strategy_allow_new_positions_changed", sid)
    refused = await client.post("/oms/commands", json=send(acct, strategy_id=sid),
                                headers=h(trader))
    assert refused.status_code == 409, refused.text
    other = await client.post("/oms/commands", json=send(acct), headers=h(trader))
    assert other.status_code == 200, other.text


async def test_block_account_keeps_it_visible_and_closable(
    api: tuple[httpx.AsyncClient, World],
) -> None:
    client, world = api
    acct = await new_account(world.store)
    _, _, risk = await new_key(world.store, Role.RISK, {acct: RISK})
    _, _, trader = await new_key(world.store, Role.TRADER, {acct: TRADE})
    url = f"/oms/risk/{acct}/status"
    bad = await client.post(url, json={"status": "frozen", "comment": "c"}, headers=h(risk))
    assert bad.status_code == 422
    resp = await client.post(url, json={"status": "blocked", "comment": "margin call"},
                             headers=h(risk))
    assert resp.status_code == 200, resp.text
    assert (resp.json()["status"], resp.json()["previous"]) == ("blocked", "active")
    for key in (risk, world.admin_key, trader):
        seen = (await client.get("/oms/accounts", headers=h(key))).json()["items"]
        assert [a["status"] for a in seen if a["id"] == acct] == ["blocked"], key
    opening = await client.post("/oms/commands", json=send(acct), headers=h(trader))
    assert opening.status_code == 409
    assert opening.json()["error"]["code"] == "risk_blocked"
    cancel = {"account_id": acct, "command": "cancel_all_orders", "payload": {}}
    assert (await client.post("/oms/commands", json=cancel, headers=h(trader))).status_code == 200
    [row] = await audit_rows(world.store, target_type="account", target_id=str(acct), action="risk_account_status")
    assert (row["before"], row["after"], row["comment"]) == (
        {"status": "active"}, {"status": "blocked"}, "margin call")
    [event] = await events(world.store, acct, "risk")
    assert event["event"] == "account_status_changed"
    unblock = await client.post(url, json={"status": "active", "comment": "cleared"},
                                headers=h(risk))
    assert unblock.status_code == 200
    assert (await client.post("/oms/commands", json=send(acct), headers=h(trader))
            ).status_code == 200
