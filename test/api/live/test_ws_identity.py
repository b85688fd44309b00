"""Over real uvicorn and real sockets: keys disabled, expired or rotated through the admin API
(and a login token logged out) are refused at once on HTTP and closed with 1008 on an open socket
within `websocket.recheck_seconds`; and the websocket actions follow the permission table for
every role and flag combination (issue 13)."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta
from typing import Any

import httpx
import pytest
import websockets

from apps.oms.clock import iso_z, utcnow
from apps.oms.domain.access import AccountFlags, Action, Role
from apps.oms.domain.endpoint_rules import COMMANDS, WEBSOCKET, Rule
from test.api.live.conftest import RECHECK, Client, Stack, connect
from test.api.live.test_ws_recheck import new_key
from test.api.test_permission_matrix import AUTH_CODES, expected

pytestmark = pytest.mark.mysql
GENEROUS = RECHECK + 15  # the period plus ample slack on a loaded machine (not a timing bar)


async def closed(client: Client, within: float = GENEROUS) -> int:
    async def drain() -> None:
        while True:
            await asyncio.wait_for(client.ws.recv(), within)

    with pytest.raises(websockets.ConnectionClosed) as info:
        await drain()
    assert info.value.rcvd is not None
    return info.value.rcvd.code


async def admin_patch(stack: Stack, key_id: int, body: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        resp = await http.patch(f"/admin/api-keys/{key_id}", json=body,
                                headers={"x-api-key": stack.admin_key})
    assert resp.status_code == 200, resp.text
    result: dict[str, Any] = resp.json()
    return result


async def http_status(stack: Stack, key: str) -> int:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        return (await http.get("/user/profile", headers={"x-api-key": key})).status_code


@pytest.mark.parametrize("change", ["disable", "expire", "rotate"])
async def test_key_changes_apply_at_once_and_on_open_sockets(stack: Stack, change: str) -> None:
    _, key_id, key = await new_key(stack)
    _, _, bystander = await new_key(stack)
    socket, other = await connect(stack, key), await connect(stack, bystander)
    assert (await socket.request("ping"))["event"] == "pong"
    body = {"disable": {"status": "disabled"}, "rotate": {"rotate": True},
            "expire": {"expires_at": iso_z(utcnow() - timedelta(seconds=1))}}[change]
    result = await admin_patch(stack, key_id, body)
    assert await http_status(stack, key) == 401  # HTTP: at once
    assert await closed(socket) == 1008  # socket: within the re-check period
    assert (await other.request("ping"))["event"] == "pong"
    if change == "rotate":
        assert await http_status(stack, result["api_key"]) == 200


async def test_logout_closes_the_tokens_socket(stack: Stack) -> None:
    name, password = f"lo{secrets.token_hex(4)}", "a long enough password"
    async with httpx.AsyncClient(base_url=stack.url) as http:
        made = await http.post("/admin/users", json={"name": name, "role": "readonly",
                                                     "password": password},
                               headers={"x-api-key": stack.admin_key})  # fmt: skip
        assert made.status_code == 201, made.text
        login = await http.post("/auth/login-password",
                                json={"user_name": name, "password": password})
        token = login.json()["token"]
        socket = await connect(stack, token)
        assert (await http.post("/auth/logout", headers={"x-api-key": token})).status_code == 200
    assert await http_status(stack, token) == 401
    assert await closed(socket) == 1008


WS_CASES: list[tuple[str, Rule]] = [
    ("subscribe", WEBSOCKET["subscribe"]),
    ("command send_order", COMMANDS["send_order"]),
    ("command cancel_all_orders", COMMANDS["cancel_all_orders"]),
    ("call fetch_ticker", Action.READ),
    ("subscribe_market", WEBSOCKET["ccxt/subscribe_market"]),
]
FLAG_SETS: list[AccountFlags | None] = [
    None,
    AccountFlags(can_read=False, can_trade=True, can_risk_manage=True),
    AccountFlags(),
    AccountFlags(can_trade=True),
    AccountFlags(can_risk_manage=True),
    AccountFlags(can_trade=True, can_close_position=True, can_risk_manage=True,
                 can_block_new_positions=True, can_block_account=True),
]


async def _ws_outcome(client: Client, stack: Stack, case: str) -> str:
    acct = stack.other_account_id
    if case == "subscribe":
        reply = await client.request("subscribe", {"account_ids": [acct], "with_snapshot": False})
    elif case.startswith("command"):
        command = case.split()[1]
        payload = ({"symbol": "BTC/USDT", "side": "buy", "order_type": "market", "qty": "0.001"}
                   if command == "send_order" else {})
        reply = await client.request("command", {"account_id": acct, "command": command,
                                                 "payload": payload}, namespace="position")
    elif case == "call fetch_ticker":
        reply = await client.request("call", {"account_id": acct, "func": "fetch_ticker",
                                              "args": ["BTC/USDT"]}, namespace="ccxt")
    else:
        reply = await client.request("subscribe_market", {"account_id": acct,
                                                          "symbol": "BTC/USDT"}, namespace="ccxt")
    if reply["ok"]:
        results = (reply.get("payload") or {}).get("results")
        if results and not results[0]["ok"] and results[0]["error"]["code"] in AUTH_CODES:
            return str(results[0]["error"]["code"])
        return "ok"
    payload = reply["payload"]
    code = payload.get("code") or (payload.get("error") or {}).get("code")  # error or item
    return str(code) if code in AUTH_CODES else "ok"


async def test_websocket_actions_follow_the_permission_table(stack: Stack) -> None:
    from apps.oms.service import admin
    from apps.oms.store.audit import CLI_ACTOR
    from test.api.live.conftest import PEPPER

    failures = []
    for role in Role:
        for flags in FLAG_SETS:
            async with stack.store.transaction() as conn:
                user = await admin.create_user(conn, CLI_ACTOR, role=role,
                                               name=f"w{secrets.token_hex(5)}")  # fmt: skip
                key = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=user,
                                                 label="ws-matrix")  # fmt: skip
                if flags is not None:
                    await admin.set_permission(conn, CLI_ACTOR, api_key_id=key.id,
                                               account_id=stack.other_account_id, flags=flags)
            client = await connect(stack, key.plain)
            for case, rule in WS_CASES:
                want, got = expected(rule, role, flags), await _ws_outcome(client, stack, case)
                if want != got:
                    failures.append(f"{case} {role.value} {flags}: want {want}, got {got}")
            await client.ws.close()
    assert not failures, "\n".join(failures)


async def test_risk_actions_reach_risk_subscribers(stack: Stack) -> None:
    """A risk officer's action over HTTP arrives as a `risk` namespace event on a socket."""
    from test.api.live.test_ws_recheck import new_key as make_key

    flags = AccountFlags(can_risk_manage=True, can_block_new_positions=True,
                         can_block_account=True)  # fmt: skip
    _, _, risk_key = await make_key(stack, flags)
    # new_key makes traders; promote this one to the risk role through the admin API
    async with httpx.AsyncClient(base_url=stack.url) as http:
        me = (await http.get("/user/profile", headers={"x-api-key": risk_key})).json()
        promoted = await http.patch(f"/admin/users/{me['user_id']}", json={"role": "risk"},
                                    headers={"x-api-key": stack.admin_key})
        assert promoted.status_code == 200, promoted.text
        watcher = await connect(stack, stack.readonly_key)
        reply = await watcher.request("subscribe", {"account_ids": [stack.account_id],
                                                    "namespaces": ["risk"],
                                                    "with_snapshot": False})
        assert reply["ok"], reply
        for body, path in (({"allow_new_positions": False, "comment": "ws test"},
                            "allow_new_positions"),
                           ({"allow_new_positions": True, "comment": "ws test done"},
                            "allow_new_positions")):
            resp = await http.post(f"/oms/risk/{stack.account_id}/{path}", json=body,
                                   headers={"x-api-key": risk_key})
            assert resp.status_code == 200, resp.text
    seen = await watcher.until(lambda m: m.get("event") == "account_allow_new_positions_changed"
                               and m["payload"]["comment"] == "ws test done")
    risk_events = [m for m in seen if m.get("namespace") == "risk"]
    assert [m["payload"]["allow_new_positions"] for m in risk_events][-2:] == [False, True]


async def test_restricted_cancel_all_over_the_websocket(stack: Stack) -> None:
    """Regression (issue 13): a strategy-restricted key's `cancel_all_orders` over the websocket
    cancels its strategy's resting orders and leaves the others."""
    from test.api.live.test_ws_stream import rest_send, send

    resting = {"order_type": "limit", "price": "1000"}  # far below the market: rests
    theirs = await rest_send(stack, send(stack.account_id, **resting))
    mine = await rest_send(stack, send(stack.account_id, strategy_id=stack.strategy_id,
                                       **resting))  # fmt: skip
    client = await connect(stack, stack.restricted_key)
    reply = await client.request("command", {"account_id": stack.account_id,
                                             "command": "cancel_all_orders", "payload": {}},
                                 namespace="position")  # fmt: skip
    assert reply["ok"], reply
    async with httpx.AsyncClient(base_url=stack.url) as http:
        async def status(order_id: int) -> str:
            resp = await http.get(f"/oms/orders/{order_id}",
                                  params={"account_ids": stack.account_id},
                                  headers={"x-api-key": stack.trader_key})
            return str(resp.json()["items"][0]["status"])

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while await status(mine["order_id"]) != "CANCELED":
            assert loop.time() < deadline, "the restricted key's order was not cancelled"
            await asyncio.sleep(0.05)
        assert await status(theirs["order_id"]) != "CANCELED"
        # tidy up: the trader cancels its own resting order
        await http.post("/oms/commands", json={"account_id": stack.account_id,
                                               "command": "cancel_order",
                                               "payload": {"order_id": theirs["order_id"]}},
                        headers={"x-api-key": stack.trader_key})  # fmt: skip


async def test_sockets_logging_in_by_header_are_answered_by_the_key_cache(stack: Stack) -> None:
    """The websocket's header login asks the API's principal cache, as HTTP requests do: a
    burst of sockets with one key (thousands reconnecting after a restart) does not read the
    key from the store once per socket. Every answer is the cache's (from memory, or a check
    of the key's rows against the cached ones); none bypasses it."""
    cache = stack.app.state.principal_cache
    first = await connect(stack, stack.trader_key)
    answered = cache.hits + cache.checks
    clients = [await connect(stack, stack.trader_key) for _ in range(5)]
    # without the cache neither count moves; one of the five may be a rebuild instead (the
    # key's `last_used_at`, recorded at most once a minute, changes its rows)
    assert cache.hits + cache.checks >= answered + 4
    for client in (first, *clients):
        await client.ws.close()
