"""The kill switch (issue 53) through the real app on SQLite and MariaDB: one call halts a scope
(new commands refused from its commit on), queues the cancels of its working orders (and the
closes of its positions when asked) through the normal command path, once; audited with actor
and reason, announced on the `risk` namespace, lifted only by the risk role."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from apps.api.app import create_app
from apps.oms.config import load_settings
from apps.oms.domain.access import AccountFlags, Role
from apps.oms.store.tables import commands, positions
from test.api.conftest import PEPPER, World
from test.api.identity_helpers import audit_rows, events, new_account, new_key

pytestmark = pytest.mark.mysql
Api = tuple[httpx.AsyncClient, World]
KILL = AccountFlags(can_risk_manage=True, can_block_account=True, can_close_position=True)
TRADE = AccountFlags(can_trade=True, can_close_position=True)
SYMBOL = "SOL/USDT:USDT"


def h(key: str) -> dict[str, str]:
    return {"x-api-key": key}


def send(account_id: int, price: str = "140", **extra: Any) -> dict[str, Any]:
    payload = {"symbol": SYMBOL, "side": "buy", "order_type": "limit", "qty": "1",
               "price": price, **extra}  # fmt: skip
    return {"account_id": account_id, "command": "send_order", "payload": payload}


async def post(client: httpx.AsyncClient, key: str, body: Any) -> httpx.Response:
    return await client.post("/oms/commands", json=body, headers=h(key))


async def queued_commands(world: World, account_id: int) -> list[dict[str, Any]]:
    query = (select(commands.c.id, commands.c.command_type, commands.c.request_id,
                    commands.c.payload, commands.c.api_key_id)
             .where(commands.c.account_id == account_id, commands.c.request_id.like("kill:%"))
             .order_by(commands.c.id))  # fmt: skip
    async with world.store.read() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def open_position(world: World, account_id: int, strategy_id: int = 0) -> int:
    now = datetime.now(UTC)
    async with world.store.transaction() as conn:
        result = await conn.execute(insert(positions).values(
            account_id=account_id, symbol=SYMBOL, strategy_id=strategy_id, side="buy",
            qty=Decimal(1), avg_price=Decimal(150), realized_pnl=Decimal(0), fee=Decimal(0),
            contract_size=Decimal(1), pending_close_qty=Decimal(0), state="open", is_open=True,
            reason="api", opened_at=now, updated_at=now))  # fmt: skip
        return int(result.inserted_primary_key[0])  # type: ignore[index]


async def desk(client: httpx.AsyncClient, world: World, accounts: int = 1
               ) -> tuple[list[int], str, int, str, int, str]:  # fmt: skip
    """Fresh paper accounts, a risk key on all of them and two trader keys."""
    ids = [await new_account(world.store) for _ in range(accounts)]
    _, _, risk = await new_key(world.store, Role.RISK, dict.fromkeys(ids, KILL))
    _, trader_id, trader = await new_key(world.store, Role.TRADER, dict.fromkeys(ids, TRADE))
    _, other_id, other = await new_key(world.store, Role.TRADER, dict.fromkeys(ids, TRADE))
    price = await client.post("/paper/prices", json={"symbol": SYMBOL, "price": "150"},
                              headers=h(trader))  # fmt: skip
    assert price.status_code == 200, price.text
    return ids, risk, trader_id, trader, other_id, other


async def test_kill_an_account_halts_it_and_queues_its_cancel_once(api: Api) -> None:
    client, world = api
    (acct,), risk, _trader_id, trader, _other_id, other = await desk(client, world)
    for price in ("140", "141"):
        assert (await post(client, trader, send(acct, price))).status_code == 200
    assert (await post(client, other, send(acct, "142"))).status_code == 200
    refused = await client.post("/oms/risk/kill", headers=h(risk),
                                json={"scope": "account", "id": acct})  # fmt: skip
    assert refused.status_code == 422  # the reason is mandatory
    killed = await client.post("/oms/risk/kill", headers=h(risk), json={
        "scope": "account", "id": acct, "comment": "runaway robot"})  # fmt: skip
    assert killed.status_code == 200, killed.text
    body = killed.json()
    halt_id = body["halt"]["halt_id"]
    assert (body["accounts"], body["working_orders"]) == ([acct], 3)
    [cancel] = body["commands"]
    assert (cancel["command"], cancel["ok"], cancel["request_id"]) == (
        "cancel_all_orders", True, f"kill:{halt_id}:cancel")
    assert [c["id"] for c in await queued_commands(world, acct)] == [cancel["command_id"]]
    # new commands of the scope are refused; cancels still pass
    for key in (trader, other):
        refused = await post(client, key, send(acct, "139"))
        assert refused.status_code == 409, refused.text
        details = refused.json()["error"]["details"]
        assert (details["rule"], details["scope"], details["halt_id"], details["reason"]) == (
            "kill_switch", "account", str(halt_id), "runaway robot")
    cancel_all = {"account_id": acct, "command": "cancel_all_orders", "payload": {}}
    assert (await post(client, trader, cancel_all)).status_code == 200
    # audited with actor and reason, announced on the risk namespace
    [row] = await audit_rows(world.store, target_type="account", action="risk_kill_switch", target_id=str(acct))
    assert row["comment"] == "runaway robot"
    assert row["after"]["halt_id"] == halt_id
    [event] = [e for e in await events(world.store, acct, "risk")
               if e["event"] == "kill_switch_engaged"]  # fmt: skip
    assert event["payload"]["queued"] == [cancel["command_id"]]
    assert event["payload"]["changed_by"]["api_key_id"] == row["actor_api_key_id"]
    listed = await client.get("/oms/risk/kill", headers=h(trader))
    assert [i["halt_id"] for i in listed.json()["items"]] == [halt_id]
    # only the risk role lifts it
    lift = {"scope": "account", "id": acct, "comment": "robot fixed"}
    assert (await client.post("/oms/risk/kill/lift", headers=h(trader), json=lift)
            ).status_code == 403  # fmt: skip
    lifted = await client.post("/oms/risk/kill/lift", headers=h(risk), json=lift)
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["lifted"] == [halt_id]
    assert (await client.post("/oms/risk/kill/lift", headers=h(risk), json=lift)
            ).status_code == 404  # fmt: skip
    assert (await post(client, trader, send(acct, "138"))).status_code == 200
    assert [e["event"] for e in await events(world.store, acct, "risk")][-1] == (
        "kill_switch_lifted")
    [lift_row] = await audit_rows(world.store, action="risk_kill_switch_lift",
                                  target_type="account", target_id=str(acct))  # fmt: skip
    assert lift_row["comment"] == "robot fixed"
    assert (await client.get("/oms/risk/kill", headers=h(trader))).json()["items"] == []


async def test_kill_a_key_cancels_its_own_orders_on_every_account(api: Api) -> None:
    client, world = api
    (a, b), risk, trader_id, trader, _other_id, other = await desk(client, world, 2)
    mine = [(await post(client, trader, send(acct, p))).json()["results"][0]["order_id"]
            for acct, p in ((a, "140"), (a, "141"), (b, "142"))]
    assert (await post(client, other, send(a, "143"))).status_code == 200
    killed = await client.post("/oms/risk/kill", headers=h(risk), json={
        "scope": "key", "id": trader_id, "comment": "key leaked"})  # fmt: skip
    assert killed.status_code == 200, killed.text
    cancels = killed.json()["commands"]
    assert [(c["account_id"], c["command"]) for c in cancels] == [
        (a, "cancel_order"), (b, "cancel_order")]
    stored = {c["id"]: c for c in await queued_commands(world, a) + await queued_commands(world, b)}
    assert sorted(i for c in stored.values() for i in c["payload"]["order_ids"]) == sorted(mine)
    for acct in (a, b):
        refused = await post(client, trader, send(acct, "139"))
        assert refused.json()["error"]["details"]["rule"] == "kill_switch"
        assert (await post(client, other, send(acct, "139"))).status_code == 200
    # flattening is for scopes that own positions
    flat = await client.post("/oms/risk/kill", headers=h(risk), json={
        "scope": "key", "id": trader_id, "flatten": True, "comment": "x"})  # fmt: skip
    assert flat.status_code == 422
    await lift(client, risk, "key", trader_id)


async def lift(client: httpx.AsyncClient, risk: str, scope: str, target: int) -> None:
    """Halts stay until lifted: tests sharing the store lift theirs."""
    lifted = await client.post("/oms/risk/kill/lift", headers=h(risk), json={
        "scope": scope, "id": target, "comment": "test over"})  # fmt: skip
    assert lifted.status_code == 200, lifted.text


async def test_kill_with_flatten_closes_the_scopes_positions(api: Api) -> None:
    client, world = api
    (acct,), risk, _trader_id, trader, _other_id, _other = await desk(client, world)
    made = await client.post("/strategies", json={"name": "grid", "account_ids": [acct]},
                             headers=h(trader))  # fmt: skip
    strategy = made.json()["strategy_id"]
    assert (await post(client, trader, send(acct, strategy_id=strategy))).status_code == 200
    assert (await post(client, trader, send(acct, "141"))).status_code == 200
    ours = await open_position(world, acct, strategy)
    await open_position(world, acct)  # another strategy's: kept
    killed = await client.post("/oms/risk/kill", headers=h(risk), json={
        "scope": "strategy", "id": strategy, "flatten": True, "comment": "drawdown"})
    assert killed.status_code == 200, killed.text
    got = [(c["command"], c["ok"]) for c in killed.json()["commands"]]
    assert got == [("cancel_order", True), ("close_position", True)]
    stored = await queued_commands(world, acct)
    assert len(stored[0]["payload"]["order_ids"]) == 1  # the strategy's order only
    assert stored[1]["payload"]["position_id"] == ours
    refused = await post(client, trader, send(acct, "139", strategy_id=strategy))
    assert refused.json()["error"]["details"]["rule"] == "kill_switch"
    assert (await post(client, trader, send(acct, "139"))).status_code == 200  # other strategy
    await lift(client, risk, "strategy", strategy)


async def test_only_the_risk_role_with_its_flags_engages_it(api: Api) -> None:
    client, world = api
    (acct,), _risk, _trader_id, trader, _other_id, _other = await desk(client, world)
    body = {"scope": "account", "id": acct, "comment": "x"}
    _, _, weak = await new_key(world.store, Role.RISK, {acct: AccountFlags(can_risk_manage=True)})
    _, _, blind = await new_key(world.store, Role.RISK, {})
    for key, status in ((trader, 403), (weak, 403), (blind, 404), (world.admin_key, 403)):
        response = await client.post("/oms/risk/kill", headers=h(key), json=body)
        assert response.status_code == status, (response.text, key)
    assert await audit_rows(world.store, target_type="account", action="risk_kill_switch", target_id=str(acct)) == []
    assert (await post(client, trader, send(acct))).status_code == 200


async def test_a_halt_holds_in_every_api_process_at_once(api: Api, store_url: str) -> None:
    """Engaged through one API process, refused by another from the commit on: acceptance
    reads the halts with the account, nothing is cached in a process."""
    client, world = api
    (acct,), risk, _trader_id, trader, _other_id, _other = await desk(client, world)
    settings = load_settings(database={"url": store_url}, security={"api_key_pepper": PEPPER})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as second:
            assert (await post(second, trader, send(acct))).status_code == 200
            killed = await client.post("/oms/risk/kill", headers=h(risk), json={
                "scope": "account", "id": acct, "comment": "stop"})  # fmt: skip
            assert killed.status_code == 200, killed.text
            refused = await post(second, trader, send(acct, "139"))
            assert refused.status_code == 409, refused.text
            assert refused.json()["error"]["details"]["rule"] == "kill_switch"
            await lift(second, risk, "account", acct)
            assert (await post(client, trader, send(acct, "138"))).status_code == 200
