"""Events and reads agree on every field (issue 11): a websocket subscriber records the events of
a fresh account while REST commands open, fill, change, cancel, reject and close orders and
positions on the real worker; then, for every event type seen, the event's view of an object is
compared field by field with the REST read of the same row.

Events are snapshots; the latest event of each object must equal what REST reads once the account
is quiet, and every event type's payload must carry exactly the REST view's fields.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

import httpx
import pytest

from apps.oms.service import admin
from apps.oms.store.audit import CLI_ACTOR
from test.api.live.conftest import PEPPER, Client, Stack, connect

pytestmark = pytest.mark.mysql
SYMBOL = "BTC/USDT:USDT"
TERMINAL = ("completed", "failed", "canceled")
#: which REST collection an event's payload is a view of, by event name
KIND_OF = {
    "order_accepted": "orders", "order_submitted": "orders", "order_partially_filled": "orders",
    "order_filled": "orders", "order_canceled": "orders", "order_rejected": "orders",
    "order_expired": "orders", "order_changed": "orders", "deal_created": "deals",
    "position_opened": "positions", "position_updated": "positions",
    "position_closed": "positions", "position_close_requested": "positions",
    "position_changed": "positions", "command_completed": "commands",
    "command_failed": "commands",
}
ID_KEY = {"orders": "order_id", "deals": "deal_id", "positions": "position_id",
          "commands": "command_id"}


async def _trader_with_account(stack: Stack) -> tuple[str, int]:
    tag = secrets.token_hex(3)
    async with stack.store.transaction() as conn:
        user_id = await admin.create_user(conn, CLI_ACTOR, name=f"ev{tag}",
                                          role=admin.parse_role("trader"))
        key = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=user_id,
                                         label="ev")
        account_id = await admin.add_account(conn, CLI_ACTOR, user_id=user_id,
                                             exchange_id="paper", label="ev",
                                             position_mode="hedge", testnet=False, live=False)
    return key.plain, account_id


class Rest:
    def __init__(self, http: httpx.AsyncClient, account_id: int) -> None:
        self.http, self.account_id = http, account_id

    async def command(self, command: str, **payload: Any) -> dict[str, Any]:
        response = await self.http.post("/oms/commands", json={
            "account_id": self.account_id, "command": command, "payload": payload})
        assert response.status_code == 200, (command, payload, response.text)
        item: dict[str, Any] = response.json()["results"][0]
        await self.finished(item["command_id"])
        return item

    async def finished(self, command_id: int, seconds: float = 60) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            (row,) = (await self.read("commands", [command_id]))
            if row["status"] in TERMINAL:
                return row
            assert loop.time() < deadline, f"command {command_id} still {row['status']}"
            await asyncio.sleep(0.05)

    async def read(self, kind: str, ids: list[int]) -> list[dict[str, Any]]:
        response = await self.http.get(f"/oms/{kind}/{','.join(map(str, ids))}",
                                       params={"account_ids": str(self.account_id)})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def open_positions(self) -> list[dict[str, Any]]:
        response = await self.http.get("/oms/positions/open",
                                       params={"account_ids": str(self.account_id)})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


async def _price(http: httpx.AsyncClient, price: str) -> None:
    response = await http.post("/paper/prices", json={"symbol": SYMBOL, "price": price})
    assert response.status_code == 200, response.text


async def _scenario(rest: Rest) -> None:
    """Orders that fill at once, rest, change, cancel and get rejected; positions that open,
    grow, are partly closed and closed."""
    await _price(rest.http, "50000")
    await rest.command("send_order", symbol=SYMBOL, side="buy", order_type="market", qty="0.01")
    resting = await rest.command("send_order", symbol=SYMBOL, side="buy", order_type="limit",
                                 qty="0.01", price="40000")
    await rest.command("change_order", order_id=resting["order_id"], new_price="41000")
    await rest.command("cancel_order", order_id=resting["order_id"])
    await rest.command("send_order", symbol=SYMBOL, side="buy", order_type="market",
                       qty="100000")  # far beyond the paper balance: rejected by the venue
    (position,) = await rest.open_positions()
    await rest.command("send_order", symbol=SYMBOL, side="buy", order_type="market", qty="0.02",
                       position_id=position["id"])
    await rest.command("close_position", position_id=position["id"], qty="0.01")
    await rest.command("position_change", position_id=position["id"], comment="kept")
    await rest.command("close_position", position_id=position["id"])


async def _events(client: Client, quiet: float = 2.0) -> list[dict[str, Any]]:
    """Every pushed event until none came for `quiet` seconds (the account had settled)."""
    seen: list[dict[str, Any]] = []
    while True:
        try:
            message = await client.recv(quiet)
        except TimeoutError:
            return seen
        if message.get("type") == "ws_event":
            seen.append(message)


def _differences(event: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    keys = set(event) | set(read)
    return {k: (event.get(k, "<absent>"), read.get(k, "<absent>"))
            for k in sorted(keys) if event.get(k, "<absent>") != read.get(k, "<absent>")}


async def test_every_event_type_agrees_with_the_rest_read_of_its_row(stack: Stack) -> None:
    key, account_id = await _trader_with_account(stack)
    async with httpx.AsyncClient(base_url=stack.url, timeout=30,
                                 headers={"x-api-key": key}) as http:
        rest = Rest(http, account_id)
        client = await connect(stack, key)
        reply = await client.request("subscribe", {"account_ids": [account_id]})
        assert reply["ok"], reply
        await client.until(lambda m: m["event"] == "snapshot_done")
        await _scenario(rest)
        events = await _events(client)
        latest: dict[tuple[str, int], dict[str, Any]] = {}
        by_type: dict[str, list[tuple[str, int]]] = {}
        for message in events:
            kind = KIND_OF.get(message["event"])
            if kind is None:
                continue
            payload = message["payload"]
            object_id = int(payload["id"])
            latest[(kind, object_id)] = payload
            by_type.setdefault(message["event"], []).append((kind, object_id))
        # the scenario produces every kind of row event the stream carries for these objects
        for name in ("order_accepted", "order_filled", "order_canceled", "order_rejected",
                     "order_changed", "deal_created", "position_opened", "position_updated",
                     "position_closed", "command_completed"):
            assert name in by_type, (name, sorted({m["event"] for m in events}))
        reads: dict[tuple[str, int], dict[str, Any]] = {}
        for kind in ID_KEY:
            ids = sorted({i for k, i in latest if k == kind})
            for item in await rest.read(kind, ids):
                reads[(kind, int(item["id"]))] = item
        problems = {}
        for name, objects in by_type.items():
            for obj in objects:
                assert obj in reads, (name, obj)
                # every event type's payload has exactly the REST view's fields
                missing = set(reads[obj]) ^ set(latest[obj])
                assert not missing, (name, obj, missing)
        for obj, payload in latest.items():
            differences = _differences(payload, reads[obj])
            if differences:
                problems[obj] = differences
        assert not problems, problems


async def test_insufficient_funds_message_prints_amounts_plainly(stack: Stack) -> None:
    key, account_id = await _trader_with_account(stack)
    async with httpx.AsyncClient(base_url=stack.url, timeout=30,
                                 headers={"x-api-key": key}) as http:
        rest = Rest(http, account_id)
        await _price(http, "48850.6877425")
        item = await rest.command("send_order", symbol=SYMBOL, side="buy", order_type="market",
                                  qty="100000")
        (order,) = await rest.read("orders", [item["order_id"]])
    assert order["status"] == "REJECTED"
    assert order["error_code"] == "insufficient_funds"
    message = order["error_message"]
    assert "insufficient USDT" in message
    amounts = re.findall(r"-?\d+\.\d+|-?\d+", message)
    assert amounts, message
    for amount in amounts:  # plain: no run of trailing zeros, never more than 18 decimals
        assert not (("." in amount) and amount.endswith("0")), message
        assert len(amount.partition(".")[2]) <= 18, message
