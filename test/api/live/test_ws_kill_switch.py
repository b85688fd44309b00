"""The kill switch on the websocket (issue 53), with a real worker: a subscriber of the account
sees `kill_switch_engaged` (namespace `risk`), then its working order cancelled by the command
the switch queued, then `kill_switch_lifted`."""

from __future__ import annotations

import secrets

import httpx

from apps.oms.domain.access import AccountFlags, Role
from apps.oms.service import admin
from apps.oms.store.audit import CLI_ACTOR

from .conftest import PEPPER, Stack, connect

KILL = AccountFlags(can_risk_manage=True, can_block_account=True)
TRADE = AccountFlags(can_trade=True, can_close_position=True)


async def fresh_desk(stack: Stack) -> tuple[int, str, str]:
    """A paper account of its own with a trader key and a risk key on it."""
    async with stack.store.transaction() as conn:
        account = await admin.add_account(
            conn, CLI_ACTOR, user_id=None, exchange_id="paper", label=secrets.token_hex(3),
            position_mode="hedge", testnet=False, live=False)  # fmt: skip
        keys = []
        for role, flags in ((Role.TRADER, TRADE), (Role.RISK, KILL)):
            user = await admin.create_user(conn, CLI_ACTOR, role=role,
                                           name=f"k{secrets.token_hex(4)}")  # fmt: skip
            key = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=user,
                                             label="kill")  # fmt: skip
            await admin.set_permission(conn, CLI_ACTOR, api_key_id=key.id, account_id=account,
                                       flags=flags)  # fmt: skip
            keys.append(key.plain)
    return account, keys[0], keys[1]


async def test_kill_switch_events_and_cancel_on_the_websocket(stack: Stack) -> None:
    account, trader, risk = await fresh_desk(stack)
    async with httpx.AsyncClient(base_url=stack.url, timeout=60) as http:
        resting = await http.post("/oms/commands", params={"wait": "completed"},
                                  headers={"x-api-key": trader}, json={
            "account_id": account, "command": "send_order", "payload": {
                "symbol": "BTC/USDT", "side": "buy", "order_type": "limit", "qty": "0.001",
                "price": "40000"}})  # fmt: skip
        assert resting.status_code == 200, resting.text
        order_id = resting.json()["results"][0]["order_id"]
        client = await connect(stack, trader)
        reply = await client.request("subscribe", {"account_ids": [account],
                                                   "with_snapshot": False})
        assert reply["ok"], reply
        killed = await http.post("/oms/risk/kill", headers={"x-api-key": risk}, json={
            "scope": "account", "id": account, "comment": "runaway"})
        assert killed.status_code == 200, killed.text
        halt_id = killed.json()["halt"]["halt_id"]
        seen = await client.until(lambda m: m.get("event") == "order_canceled"
                                  and m["payload"]["order_id"] == order_id)
        engaged = next(m for m in seen if m.get("event") == "kill_switch_engaged")
        assert engaged["namespace"] == "risk"
        assert (engaged["payload"]["halt_id"], engaged["payload"]["reason"]) == (halt_id,
                                                                                 "runaway")
        assert engaged["payload"]["queued"] == [killed.json()["commands"][0]["command_id"]]
        lifted = await http.post("/oms/risk/kill/lift", headers={"x-api-key": risk}, json={
            "scope": "account", "id": account, "comment": "fixed"})
        assert lifted.status_code == 200, lifted.text
        await client.until(lambda m: m.get("event") == "kill_switch_lifted")
