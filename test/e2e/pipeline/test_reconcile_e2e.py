"""Reconciliation end to end on MariaDB: the API and a worker as real processes, driven over HTTP
only, in every position mode. An order placed directly on the paper venue (admin, bypassing
the OMS) appears as an external order, deal and position after `POST /oms/reconcile`;
reassigning it to a strategy rebuilds the positions with the right numbers; a position changed
without a trade puts the account out of sync, blocks new positions (configured so) and clears
when the venue matches again; `kill -9` of the worker during a run, then a re-run: every venue
trade booked exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from apps.oms.domain.access import FULL_TRADING_FLAGS
from apps.oms.service import admin
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.store import Store

from .conftest import PEPPER, SYMBOL, Stack, make_stack

pytestmark = pytest.mark.mysql
MODES = ["hedge", "netting", "strategy_netting"]
CONFIG = {"reconcile": {"block_new_positions": True}}


def D(value: Any) -> Decimal:
    return Decimal(str(value))


def portfolio_manager(stack: Stack, account_ids: list[int]) -> str:
    """A portfolio manager's key granted on the accounts (reassign needs that role)."""

    async def run() -> str:
        store = Store.from_url(stack.url)
        try:
            async with store.transaction() as conn:
                user_id = await admin.create_user(conn, CLI_ACTOR, name=f"pm{account_ids[0]}",
                                                  role=admin.parse_role("portfolio_manager"))
                key = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER,
                                                 user_id=user_id, label="pm")
                for account_id in account_ids:
                    await admin.set_permission(conn, CLI_ACTOR, api_key_id=key.id,
                                               account_id=account_id, flags=FULL_TRADING_FLAGS)
            return key.plain
        finally:
            await store.close()

    return asyncio.run(run())


def external(stack: Stack, account_id: int, action: str, **body: Any) -> dict[str, Any]:
    response = stack.client.post(f"/paper/{account_id}/external/{action}", json=body,
                                 headers={"x-api-key": stack.admin_key})
    assert response.status_code == 200, response.text
    return dict(response.json())


def reconcile(stack: Stack, account_id: int) -> dict[str, Any]:
    """One run's statistics; a run still going past the request timeout (a loaded machine, a
    worker taking over) is asked for again."""
    deadline = time.monotonic() + 120
    while True:
        response = stack.client.post("/oms/reconcile", json={"account_id": account_id,
                                                              "scope": "short"}, timeout=120)
        assert response.status_code == 200, response.text
        body = response.json()
        if body["runs"][0].get("status") != "running" or time.monotonic() > deadline:
            break
    assert body["ok"] is True
    assert body["account_ids"] == [account_id]
    assert body["triggered_count"] == 1, body
    run: dict[str, Any] = body["runs"][0]
    return run


def net(stack: Stack, account_id: int, symbol: str = SYMBOL) -> Decimal:
    total = Decimal(0)
    for p in stack.positions(account_id):
        if p["symbol"] == symbol:
            total += D(p["qty"]) * (1 if p["side"] == "buy" else -1)
    return total


def account_row(stack: Stack, account_id: int) -> dict[str, Any]:
    items = stack.get("/oms/accounts")["items"]
    return dict(next(a for a in items if int(a["id"]) == account_id))


@pytest.mark.parametrize("mode", MODES)
def test_external_activity_reconcile_reassign_and_fail_closed(stack: Stack, mode: str) -> None:
    account_id = stack.account(mode, CONFIG)
    strategy_id = stack.strategy(f"recon-{mode}", [account_id])
    stack.price("50000")
    stack.cmd(account_id, "send_order", symbol=SYMBOL, side="buy", order_type="market",
              qty="0.01", strategy_id=strategy_id)
    status = stack.get(f"/oms/reconcile/{account_id}/status")["items"][0]
    assert status["status"] == "never"
    assert status["out_of_sync"] is False

    # someone sells on the exchange's web page at a higher price
    stack.price("51000")
    placed = external(stack, account_id, "create_order", symbol=SYMBOL, side="sell",
                      type="market", amount="0.004")["result"]
    run = reconcile(stack, account_id)
    assert (run["external_orders_created"], run["trades_booked"]) == (1, 1), run
    assert (run["positions_checked"], run["out_of_sync"]) == (True, False), run
    ext_deals = [d for d in stack.deals(account_id) if d["reason"] == "external"]
    assert len(ext_deals) == 1
    deal = ext_deals[0]
    assert D(deal["qty"]) == D("0.004")
    assert D(deal["price"]) == D("51000")
    assert deal["strategy_id"] == 0
    assert deal["reconciled"] is False
    order = stack.order(int(deal["order_id"]))
    assert order["reason"] == "external"
    assert order["exchange_order_id"] == str(placed["id"])
    assert order["status"] == "FILLED"
    assert order["reconciled"] is False
    ext_position = stack.position(int(deal["position_id"]))
    assert ext_position["reason"] == "external"
    assert ext_position["side"] == "sell"
    assert net(stack, account_id) == D("0.006")
    status = stack.get(f"/oms/reconcile/{account_id}/status")["items"][0]
    assert status["status"] == "fresh"
    assert status["last_run"]["trades_booked"] == 1
    again = reconcile(stack, account_id)
    assert again["trades_booked"] == 0
    assert again["external_orders_created"] == 0

    # reassign: preview, then apply; the positions are rebuilt from their deals
    pm = {"x-api-key": portfolio_manager(stack, [account_id])}
    body = {"account_id": account_id, "order_ids": [int(order["id"])],
            "target_strategy_id": strategy_id}
    preview = stack.client.post("/oms/reassign", json=body, headers=pm)
    assert preview.status_code == 200, preview.text
    assert preview.json()["preview"] is True
    assert preview.json()["orders_updated"] == 1
    applied = stack.client.post("/oms/reassign", json={**body, "preview": False}, headers=pm,
                                timeout=120)
    assert applied.status_code == 200, applied.text
    assert applied.json()["orders_updated"] == 1
    assert applied.json()["deals_updated"] == 1
    moved = stack.order(int(order["id"]))
    assert moved["strategy_id"] == strategy_id
    assert moved["reconciled"] is True
    open_positions = stack.positions(account_id)
    if mode == "hedge":  # the external position changes hands, numbers unchanged
        (short,) = [p for p in open_positions if p["side"] == "sell"]
        assert short["strategy_id"] == strategy_id
        assert short["reason"] == "reassign"
        assert D(short["qty"]) == D("0.004")
        assert D(short["avg_price"]) == D("51000")
    else:  # the sell now reduces the strategy's managed long: PnL (51000 - 50000) x 0.004
        (long,) = open_positions
        assert long["side"] == "buy"
        assert long["strategy_id"] == strategy_id
        assert D(long["qty"]) == D("0.006")
        assert D(long["realized_pnl"]) == D("4")
        assert stack.position(int(ext_position["id"]))["state"] == "closed"
    assert net(stack, account_id) == D("0.006")
    # an attributed order is not overwritten without override
    other = stack.strategy(f"other-{mode}", [account_id])
    trader_order = next(d for d in stack.deals(account_id) if d["reason"] != "external"
                        and d["order_id"] != order["id"])["order_id"]
    refused = stack.client.post("/oms/reassign", headers=pm, json={
        "account_id": account_id, "order_ids": [int(trader_order)], "target_strategy_id": other,
        "preview": False})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "order_already_attributed"

    # a liquidation on the venue: no trade, the position shrinks
    external(stack, account_id, "adjust_position", symbol=SYMBOL, qty="0.002")
    run = reconcile(stack, account_id)
    assert run["out_of_sync"] is True, run
    assert run["mismatches"][0]["symbol"] == SYMBOL
    assert D(run["mismatches"][0]["venue_qty"]) == D("0.002")
    row = account_row(stack, account_id)
    assert (row["out_of_sync"], row["out_of_sync_blocks"]) == (True, True), row
    status = stack.get("/oms/reconcile/status", status="fresh")["items"]
    assert any(s["account_id"] == account_id and s["out_of_sync"] for s in status)
    blocked = stack.post({"account_id": account_id, "command": "send_order", "payload": {
        "symbol": "ETH/USDT:USDT", "side": "buy", "order_type": "market", "qty": "0.01",
        "strategy_id": strategy_id}})
    assert blocked.status_code == 409, blocked.text
    assert blocked.json()["error"]["details"]["rule"] == "account_out_of_sync"
    # the operator restores the venue (or corrects the books): the next run clears the flag
    external(stack, account_id, "adjust_position", symbol=SYMBOL, qty="0.006")
    assert reconcile(stack, account_id)["out_of_sync"] is False
    row = account_row(stack, account_id)
    assert (row["out_of_sync"], row["out_of_sync_blocks"]) == (False, False), row
    stack.cmd(account_id, "send_order", symbol="ETH/USDT:USDT", side="buy",
              order_type="market", qty="0.01", strategy_id=strategy_id)


def test_external_orders_cancel_and_resting(stack: Stack) -> None:
    """A resting external limit appears open, then cancelled from the venue page; the account
    keeps matching (nothing filled, nothing booked)."""
    account_id = stack.account("netting")
    stack.price("50000")
    resting = external(stack, account_id, "create_order", symbol=SYMBOL, side="buy",
                       type="limit", amount="0.01", price="40000")["result"]
    run = reconcile(stack, account_id)
    assert run["external_orders_created"] == 1
    assert run["trades_booked"] == 0
    (open_order,) = stack.open_orders(account_id)
    assert open_order["reason"] == "external"
    assert open_order["status"] == "SUBMITTED"
    external(stack, account_id, "cancel_order", id=str(resting["id"]))
    reconcile(stack, account_id)
    assert stack.order(int(open_order["id"]))["status"] == "CANCELED"
    assert stack.open_orders(account_id) == []
    # an order placed through /ccxt is an OMS order already (reason ccxt): found, not doubled
    placed = stack.client.post(f"/ccxt/core/{account_id}/create_order", json={
        "symbol": SYMBOL, "side": "buy", "type": "market", "amount": "0.002"}, timeout=60)
    assert placed.status_code == 200, placed.text
    run = reconcile(stack, account_id)
    assert run["external_orders_created"] == 0
    assert run["trades_booked"] == 0
    (ccxt_deal,) = [d for d in stack.deals(account_id) if d["reason"] == "ccxt"]
    assert D(ccxt_deal["qty"]) == D("0.002")
    assert net(stack, account_id) == D("0.002")


def test_reconcile_needs_permission_and_valid_input(stack: Stack) -> None:
    account_id = stack.account("hedge")
    admin_headers = {"x-api-key": stack.admin_key}
    denied = stack.client.post("/oms/reconcile", json={"account_id": account_id},
                               headers=admin_headers)
    assert denied.status_code == 403, denied.text
    bad = stack.client.post("/oms/reconcile", json={"account_id": account_id, "scope": "weekly"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "validation_error"
    missing = stack.client.post("/oms/reconcile", json={"account_id": 999999})
    assert missing.status_code == 404
    trader = stack.client.post(f"/paper/{account_id}/external/create_order", json={
        "symbol": SYMBOL, "side": "buy", "type": "market", "amount": "0.01"})
    assert trader.status_code == 403, trader.text
    bad_adjust = stack.client.post(f"/paper/{account_id}/external/adjust_position", json={
        "symbol": "BTC/USDT", "qty": "1"}, headers=admin_headers)
    assert bad_adjust.status_code in (400, 422), bad_adjust.text


def test_kill_worker_during_reconcile_then_rerun(tmp_path: Path) -> None:
    """Many external fills; the worker is SIGKILLed while reconciling; a new worker and a re-run
    book every venue trade exactly once."""
    with make_stack(tmp_path) as stack:
        account_id = stack.account("hedge")
        stack.price("50000")
        count = 120
        for i in range(count):
            external(stack, account_id, "create_order", symbol=SYMBOL,
                     side="buy" if i % 3 else "sell", type="market", amount="0.001")
        venue_trades = len(stack.client.post(
            f"/ccxt/core/{account_id}/fetch_my_trades", json={"limit": 5000}).json()["result"])
        assert venue_trades == count

        def call() -> None:
            # the HTTP call may fail (its worker was killed mid-run): only the books matter
            with contextlib.suppress(httpx.HTTPError):
                stack.client.post("/oms/reconcile", json={"account_id": account_id},
                                  timeout=120)

        thread = threading.Thread(target=call)
        thread.start()
        time.sleep(random.uniform(0.05, 0.6))
        stack.kill(stack.workers[0])
        stack.start_worker()
        thread.join(timeout=180)
        run = reconcile(stack, account_id)
        assert run["trades_booked"] + run["trades_already_booked"] == count, run
        deals = stack.deals(account_id)
        assert len(deals) == count
        assert len({d["exchange_trade_id"] for d in deals}) == count
        expected = Decimal(0)
        for i in range(count):
            expected += D("0.001") * (1 if i % 3 else -1)
        assert net(stack, account_id) == expected

