"""`WS /ws` over real uvicorn and a real worker: auth and close codes, snapshot + live events,
commands over the socket, gap-free resume (R6), restricted keys filtered."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import select

from apps.oms.store.tables import outbox
from test.api.live.conftest import OPEN_TIMEOUT, Client, Stack, connect

pytestmark = pytest.mark.mysql


def send(account_id: int, side: str = "buy", qty: str = "0.01", **extra: Any) -> dict[str, Any]:
    return {"account_id": account_id, "command": "send_order",
            "payload": {"symbol": "BTC/USDT", "side": side, "order_type": "market", "qty": qty,
                        **extra}}


async def rest_send(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        response = await http.post("/oms/commands", json=body, params={"wait": "completed"},
                                   headers={"x-api-key": stack.trader_key}, timeout=60)
    assert response.status_code == 200, response.text
    item: dict[str, Any] = response.json()["results"][0]
    return item


async def closed_code(client: Client) -> int:
    async def drain() -> None:
        for _ in range(100):
            await client.recv()

    with pytest.raises(websockets.ConnectionClosed) as info:
        await drain()
    assert info.value.rcvd is not None
    return info.value.rcvd.code


async def test_invalid_header_key_closes_1008(stack: Stack) -> None:
    ws = await websockets.connect(stack.ws_url(), additional_headers={"x-api-key": "nope"},
                                  open_timeout=OPEN_TIMEOUT)
    with pytest.raises(websockets.ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), OPEN_TIMEOUT)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1008


async def test_auth_action_paths(stack: Stack) -> None:
    client = await connect(stack, None)
    refused = await client.request("subscribe", {"account_ids": [stack.account_id]})
    assert refused["ok"] is False
    assert refused["payload"]["code"] == "missing_api_key"
    assert (await client.request("ping"))["event"] == "pong"
    reply = await client.request("auth", {"api_key": stack.readonly_key})
    assert reply["ok"]
    assert reply["event"] == "authenticated"
    assert reply["payload"]["role"] == "readonly"
    bad = await client.request("nope")
    assert bad["ok"] is False
    assert bad["payload"]["code"] == "validation_error"
    invisible = await client.request("subscribe", {"account_ids": [stack.other_account_id]})
    assert invisible["payload"]["code"] == "account_not_found"
    await client.ws.send('{"id": "x", "action": "auth", "payload": {"api_key": "wrong"}}')
    assert await closed_code(client) == 1008


async def test_snapshot_live_events_and_command(stack: Stack) -> None:
    opened = await rest_send(stack, send(stack.account_id))
    client = await connect(stack, stack.trader_key)
    reply = await client.request("subscribe", {"account_ids": [stack.account_id]})
    assert reply["ok"]
    assert reply["event"] == "subscribed"
    snap = await client.until(lambda m: m["event"] == "snapshot_done")
    events = {m["event"]: m for m in snap}
    assert events["snapshot_done"]["payload"] == {"seq": reply["payload"]["seq"], "exact": True}
    positions = events["snapshot_open_positions"]["payload"]["items"]
    assert any(p["symbol"] == "BTC/USDT" and p["state"] == "open" for p in positions)
    assert opened["status"] == "completed"

    body = send(stack.account_id, qty="0.02", client_order_id="wscmd1")
    result = await client.request("command", body, namespace="position")
    assert result["event"] == "command_result", result
    assert result["ok"], result
    order_id = result["payload"]["order_id"]
    seen = await client.until(
        lambda m: m["event"] == "command_completed"
        and m["payload"]["command_id"] == result["payload"]["command_id"])
    names = [m["event"] for m in seen if m["type"] == "ws_event"]
    for name in ("order_accepted", "order_filled", "deal_created"):
        assert name in names, names
    assert {"position_opened", "position_updated"} & set(names)
    filled = next(m for m in seen if m["event"] == "order_filled")
    assert filled["payload"]["order_id"] == order_id
    assert filled["payload"]["status"] == "FILLED"
    assert filled["payload"]["filled_qty"] == "0.02"
    assert filled["account_id"] == stack.account_id
    deal = next(m for m in seen if m["event"] == "deal_created")["payload"]
    assert deal["order_id"] == order_id
    assert deal["qty"] == "0.02"
    seqs = [m["seq"] for m in seen if m["type"] == "ws_event"]
    assert seqs == sorted(seqs)
    assert seqs[0] > reply["payload"]["seq"]
    await client.ws.close()


async def _account_seqs(stack: Stack, after: int, upto: int) -> list[int]:
    async with stack.store.read() as conn:
        rows = await conn.execute(
            select(outbox.c.seq).where(outbox.c.account_id == stack.account_id,
                                       outbox.c.seq > after, outbox.c.seq <= upto)
            .order_by(outbox.c.seq))
        return [int(r[0]) for r in rows]


async def test_resume_after_disconnect_gets_exactly_the_missed_events(stack: Stack) -> None:
    client = await connect(stack, stack.trader_key)
    reply = await client.request("subscribe", {"account_ids": [stack.account_id],
                                               "with_snapshot": False})
    # buys what the three sells below need (spot): the test does not lean on earlier tests
    await rest_send(stack, send(stack.account_id, qty="0.03"))
    got = await client.until(lambda m: m["event"] == "command_completed")
    last = max(m["seq"] for m in got if m.get("seq"))
    assert last > reply["payload"]["seq"]
    await client.ws.close()

    missed = [await rest_send(stack, send(stack.account_id, side="sell")) for _ in range(3)]
    client = await connect(stack, stack.trader_key)
    reply = await client.request("subscribe", {"account_ids": [stack.account_id],
                                               "since_seq": last})
    assert reply["ok"]
    assert reply["payload"]["seq"] == last
    final = missed[-1]["command_id"]
    replayed = await client.until(lambda m: m["event"] == "command_completed"
                                  and m["payload"]["command_id"] == final)
    seqs = [m["seq"] for m in replayed if m["type"] == "ws_event"]
    assert seqs == await _account_seqs(stack, last, seqs[-1])
    assert len(seqs) == len(set(seqs))
    await client.ws.close()


async def test_restricted_key_sees_only_its_strategies(stack: Stack) -> None:
    client = await connect(stack, stack.restricted_key)
    denied = await client.request("subscribe", {"account_ids": [stack.account_id],
                                                "strategy_ids": [0]})
    assert denied["payload"]["code"] == "strategy_permission_denied"
    reply = await client.request("subscribe", {"account_ids": [stack.account_id]})
    snap = await client.until(lambda m: m["event"] == "snapshot_done")
    for message in snap:
        for item in (message.get("payload") or {}).get("items", []):
            assert item["strategy_id"] == stack.strategy_id
    await rest_send(stack, send(stack.account_id))  # strategy 0: invisible
    mine = await rest_send(stack, send(stack.account_id, strategy_id=stack.strategy_id))
    seen = await client.until(lambda m: m["event"] == "order_filled"
                              and m["payload"]["order_id"] == mine["order_id"])
    pushes = [m for m in seen if m["type"] == "ws_event"]
    assert pushes
    assert all(m["payload"]["strategy_id"] == stack.strategy_id for m in pushes)
    assert reply["ok"]
    await client.ws.close()


async def test_ids_beyond_64_bits_are_validation_errors_on_the_websocket(stack: Stack) -> None:
    huge = 99999999999999999999999
    for key in (stack.trader_key, stack.admin_key):
        client = await connect(stack, key)
        for action, payload, namespace in (
            ("subscribe", {"account_ids": [huge]}, None),
            ("subscribe", {"account_ids": [stack.account_id], "since_seq": huge}, None),
            ("subscribe", {"account_ids": [stack.account_id], "strategy_ids": [huge]}, None),
            ("unsubscribe", {"account_ids": [huge]}, None),
            ("subscribe", {"account_id": huge, "symbol": "BTC/USDT"}, "market"),
        ):
            reply = await client.request(action, payload, namespace)
            assert reply["ok"] is False, (action, payload, reply)
            assert reply["payload"]["code"] == "validation_error", (action, payload, reply)
        assert (await client.request("ping"))["event"] == "pong"  # the socket stays usable
