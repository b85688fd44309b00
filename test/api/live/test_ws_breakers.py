"""Loss breakers over real uvicorn and a real worker (issue 53): the worker that holds the
account sees the paper price move, trips the breaker, and the websocket's `risk` namespace
says so; the next opening order is refused (409) until the risk role lifts it."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

import httpx
import pytest

from apps.oms.domain.access import AccountFlags
from apps.oms.service import admin
from apps.oms.store.audit import CLI_ACTOR
from test.api.live.conftest import PEPPER, Stack, connect

pytestmark = pytest.mark.mysql
SYMBOL = "ETH/USDT"
RISK = AccountFlags(can_risk_manage=True, can_block_account=True, can_close_position=True)


async def _desk(stack: Stack) -> tuple[int, str, str]:
    """A fresh paper account, its owner's trader key and a risk key on it."""
    tag = secrets.token_hex(3)
    async with stack.store.transaction() as conn:
        trader_id = await admin.create_user(conn, CLI_ACTOR, name=f"lb{tag}",
                                            role=admin.parse_role("trader"))  # fmt: skip
        trader = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=trader_id,
                                            label="lb")  # fmt: skip
        acct = await admin.add_account(conn, CLI_ACTOR, user_id=trader_id, exchange_id="paper",
                                       label="lb", position_mode="hedge", testnet=False,
                                       live=False)  # fmt: skip
        risk_id = await admin.create_user(conn, CLI_ACTOR, name=f"lbr{tag}",
                                          role=admin.parse_role("risk"))  # fmt: skip
        risk = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=risk_id,
                                          label="lbr")  # fmt: skip
        await admin.set_permission(conn, CLI_ACTOR, api_key_id=risk.id, account_id=acct,
                                   flags=RISK)  # fmt: skip
    return acct, trader.plain, risk.plain


def buy(acct: int, **extra: Any) -> dict[str, Any]:
    return {"account_id": acct, "command": "send_order", "payload": {
        "symbol": SYMBOL, "side": "buy", "order_type": "market", "qty": "1", **extra}}


async def test_the_worker_trips_a_loss_breaker_and_the_websocket_says_so(stack: Stack) -> None:
    acct, trader, risk = await _desk(stack)
    async with httpx.AsyncClient(base_url=stack.url, timeout=60) as http:
        async def price(value: str) -> None:
            moved = await http.post("/paper/prices", json={"symbol": SYMBOL, "price": value},
                                    headers={"x-api-key": trader})  # fmt: skip
            assert moved.status_code == 200, moved.text

        await price("2000")
        limits = await http.put(f"/oms/risk/{acct}/limits", headers={"x-api-key": risk},
                                json={"comment": "desk", "loss_breaker": "50"})  # fmt: skip
        assert limits.status_code == 200, limits.text
        opened = await http.post("/oms/commands", json=buy(acct), params={"wait": "completed"},
                                 headers={"x-api-key": trader})  # fmt: skip
        assert opened.json()["results"][0]["status"] == "completed", opened.text
        watcher = await connect(stack, risk)
        reply = await watcher.request("subscribe", {"account_ids": [acct], "namespaces": ["risk"],
                                                    "with_snapshot": False})  # fmt: skip
        assert reply["ok"], reply
        await price("1960")  # 40 down: not yet
        await price("1949")  # 51 down
        seen = await watcher.until(lambda m: m.get("event") == "loss_breaker_tripped")
        event = seen[-1]
        assert event["namespace"] == "risk"
        assert (event["payload"]["rule"], event["payload"]["state"],
                event["payload"]["limit"]) == ("loss_breaker", "reduce_only", "50")
        assert event["payload"]["equity"] is not None
        assert -Decimal(event["payload"]["equity"]) >= Decimal(50)
        refused = await http.post("/oms/commands", json=buy(acct), headers={"x-api-key": trader})
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["details"]["rule"] == "loss_breaker"
        lifted = await http.post(f"/oms/risk/{acct}/breakers/lift", headers={"x-api-key": risk},
                                 json={"comment": "reviewed"})  # fmt: skip
        assert lifted.status_code == 200, lifted.text
        await watcher.until(lambda m: m.get("event") == "loss_breaker_lifted")
        again = await http.post("/oms/commands", json=buy(acct), headers={"x-api-key": trader})
        assert again.status_code == 200, again.text
