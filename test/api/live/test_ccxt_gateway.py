"""`/ccxt` gateway over real uvicorn and a real worker: function class × permission (S4), typed
core endpoints with exact decimals, the batch endpoint with per-item errors, raw payloads,
error mapping with the CCXT class name, and `ccxt/call` over the websocket."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from apps.oms.store.tables import orders
from test.api.live.conftest import Stack, connect

pytestmark = pytest.mark.mysql
FORBIDDEN_FOR_READONLY = ["withdraw", "transfer", "set_leverage", "setLeverage", "privatePostX",
                          "private_post_order", "publicGetTime", "close", "set_sandbox_mode",
                          "fetch", "__class__", "__dict__", "markets", "no_such_function",
                          "create_order", "cancel_order", "editOrder", "cancel_all_orders"]


async def post(stack: Stack, key: str, path: str, body: Any = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        return await http.post(path, json=body if body is not None else {},
                               headers={"x-api-key": key})


def code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


@pytest.mark.parametrize("func", FORBIDDEN_FOR_READONLY)
async def test_readonly_key_reaches_no_trade_or_fund_function(stack: Stack, func: str) -> None:
    response = await post(stack, stack.readonly_key, f"/ccxt/{stack.account_id}/{func}")
    assert response.status_code == 403, response.text
    assert code(response) in ("function_not_allowed", "permission_denied")


async def test_reads_for_every_readable_role(stack: Stack) -> None:
    for key in (stack.readonly_key, stack.trader_key, stack.admin_key):
        response = await post(stack, key, f"/ccxt/{stack.account_id}/fetchTicker",
                              {"args": ["BTC/USDT"]})
        assert response.status_code == 200, response.text
        assert response.json()["ok"] is True
        assert response.json()["result"]["symbol"] == "BTC/USDT"
    balance = await post(stack, stack.readonly_key, f"/ccxt/{stack.account_id}/fetch_balance")
    assert balance.status_code == 200
    assert isinstance(balance.json()["result"]["total"]["USDT"], str)
    hidden = await post(stack, stack.readonly_key, f"/ccxt/{stack.other_account_id}/fetch_ticker",
                        {"args": ["BTC/USDT"]})
    assert hidden.status_code == 404


async def test_restricted_functions_need_a_grant_and_a_capability(stack: Stack) -> None:
    path = f"/ccxt/{stack.account_id}/set_leverage"
    assert code(await post(stack, stack.trader_key, path, {"args": [5]})) == "function_not_allowed"
    withdraw = await post(stack, stack.granted_key, f"/ccxt/{stack.account_id}/withdraw")
    assert code(withdraw) == "function_not_allowed"
    granted = await post(stack, stack.granted_key, path, {"args": [5, "BTC/USDT:USDT"]})
    assert granted.status_code == 200, granted.text  # the paper venue sets leverage per symbol
    assert str(granted.json()["result"]["longLeverage"]) == "5"
    read = await post(stack, stack.trader_key, f"/ccxt/{stack.account_id}/fetch_leverage",
                      {"args": ["BTC/USDT:USDT"]})
    assert str(read.json()["result"]["longLeverage"]) == "5", read.text
    spot = await post(stack, stack.granted_key, path, {"args": [5, "BTC/USDT"]})
    assert spot.json()["error"]["details"]["ccxt_error"] == "InvalidOrder", spot.text
    assert "swaps" in spot.json()["error"]["message"]  # spot has no leverage
    unsupported = await post(stack, stack.granted_key, f"/ccxt/{stack.account_id}/transfer",
                             {"args": ["USDT", 1, "spot", "swap"]})
    assert code(unsupported) == "not_supported"  # granted, but the paper venue has no transfer
    admin = await post(stack, stack.admin_key, f"/ccxt/{stack.account_id}/create_order")
    assert code(admin) == "admin_read_only"


async def test_restricted_key_reads_market_data_and_strategy_safe_reads_only(stack: Stack) -> None:
    """A strategy-restricted key: market data and the account reads that show nothing of another
    strategy pass; its balance only with an allocation (none here: refused as before); account-
    private reads and every trade function stay refused (test_strategy_allocations.py has the
    allocated bots)."""
    base = f"/ccxt/{stack.account_id}"
    ticker = await post(stack, stack.restricted_key, f"{base}/fetch_ticker", {"args": ["BTC/USDT"]})
    assert ticker.status_code == 200
    leverage = await post(stack, stack.restricted_key, f"{base}/fetch_leverage",
                          {"args": ["BTC/USDT:USDT"]})
    assert leverage.status_code == 200, leverage.text
    balance = await post(stack, stack.restricted_key, f"{base}/fetch_balance")
    assert code(balance) == "strategy_permission_denied"
    assert balance.json()["error"]["details"]["reason"] == "no_allocation"
    for func in ("fetch_open_orders", "fetch_positions", "fetch_my_trades", "fetch_orders",
                 "create_order", "withdraw", "transfer"):
        response = await post(stack, stack.restricted_key, f"{base}/{func}")
        assert code(response) == "strategy_permission_denied", func
    # set_leverage / set_margin_mode need a grant (and a trader or portfolio manager role)
    ungranted = await post(stack, stack.restricted_key, f"{base}/set_leverage", {"args": [2]})
    assert code(ungranted) == "function_not_allowed"


async def test_core_create_order_with_decimal_body_books_an_oms_order(stack: Stack) -> None:
    path = f"/ccxt/core/{stack.account_id}/create_order"
    body = {"symbol": "BTC/USDT", "side": "buy", "type": "market", "amount": "0.013"}
    response = await post(stack, stack.trader_key, path, body)
    assert response.status_code == 200, response.text
    order = response.json()["result"]
    assert order["status"] == "closed"
    assert order["filled"] == "0.013"
    async with stack.store.read() as conn:
        row = (await conn.execute(select(orders).where(
            orders.c.exchange_order_id == order["id"]))).mappings().one()
    assert row["reason"] == "ccxt"
    assert row["strategy_id"] == 0
    assert str(row["filled_qty"].normalize()) == "0.013"
    exact = await post(stack, stack.trader_key, path, {**body, "amount": 0.0070})
    assert exact.json()["result"]["amount"] == "0.007"
    bad = await post(stack, stack.trader_key, path, {**body, "amount": "-1"})
    assert bad.status_code == 422
    missing = await post(stack, stack.trader_key, path, {"symbol": "BTC/USDT"})
    assert code(missing) == "validation_error"


async def test_cancel_through_the_worker_and_raw_payloads(stack: Stack) -> None:
    base = f"/ccxt/core/{stack.account_id}"
    placed = await post(stack, stack.trader_key, f"{base}/create_order",
                        {"symbol": "BTC/USDT", "side": "buy", "type": "limit",
                         "amount": "0.01", "price": "1000.5"})
    assert placed.status_code == 200, placed.text
    order_id = placed.json()["result"]["id"]
    canceled = await post(stack, stack.trader_key, f"{base}/cancel_order",
                          {"id": order_id, "symbol": "BTC/USDT"})
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["result"]["status"] == "canceled"
    again = await post(stack, stack.trader_key, f"{base}/cancel_order",
                       {"id": order_id, "symbol": "BTC/USDT"})
    assert again.status_code in (404, 422), again.text
    assert again.json()["error"]["details"]["ccxt_error"] in ("OrderNotFound", "InvalidOrder")
    async with httpx.AsyncClient(base_url=stack.url) as http:
        raw = await http.get("/ccxt/orders/raw", params={"account_ids": str(stack.account_id)},
                             headers={"x-api-key": stack.readonly_key})
    assert raw.status_code == 200
    assert order_id in {item["exchange_object_id"] for item in raw.json()["items"]}


async def test_batch_reports_errors_per_item(stack: Stack) -> None:
    body = [
        {"account_id": stack.account_id, "func": "fetch_ticker", "args": ["BTC/USDT"]},
        {"account_id": stack.account_id, "func": "withdraw", "args": ["USDT", "1", "addr"]},
        {"account_id": stack.account_id, "func": "fetch_ticker", "args": ["NOPE/USDT"]},
        {"account_id": stack.other_account_id, "func": "fetch_ticker"},
        {"account_id": stack.account_id, "func": "fetch_ticker", "bogus": 1},
    ]
    response = await post(stack, stack.readonly_key, "/ccxt/commands", body)
    assert response.status_code == 207
    results = response.json()["results"]
    assert [r["ok"] for r in results] == [True, False, False, False, False]
    assert results[1]["error"]["code"] in ("permission_denied", "function_not_allowed")
    assert results[1]["error"]["status"] == 403
    assert results[2]["error"]["details"]["ccxt_error"] == "BadSymbol"
    assert results[3]["error"]["code"] == "account_not_found"
    assert results[4]["error"]["code"] == "validation_error"


async def test_ccxt_account_errors_carry_the_ccxt_class(stack: Stack) -> None:
    """No network here: the binance (testnet) instance fails fast with a CCXT network error."""
    response = await post(stack, stack.granted_key, f"/ccxt/{stack.binance_account_id}/fetch_time")
    assert response.status_code in (502, 503, 504), response.text
    assert response.json()["error"]["details"]["ccxt_error"]
    unsupported = await post(stack, stack.granted_key,
                             f"/ccxt/{stack.binance_account_id}/fetch_position_mode")
    assert unsupported.status_code in (422, 502, 503, 504)


async def test_ccxt_call_over_the_websocket(stack: Stack) -> None:
    client = await connect(stack, stack.readonly_key)
    reply = await client.request("call", {"account_id": stack.account_id, "func": "fetchTicker",
                                          "args": ["BTC/USDT"]}, namespace="ccxt")
    assert reply["event"] == "ccxt_result"
    assert reply["payload"]["result"]["symbol"] == "BTC/USDT"
    refused = await client.request("call", {"account_id": stack.account_id, "func": "close"},
                                   namespace="ccxt")
    assert refused["ok"] is False
    assert refused["payload"]["code"] == "function_not_allowed"
    await client.ws.close()


async def test_venue_capabilities_read(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        paper = await http.get(f"/ccxt/{stack.account_id}/has",
                               headers={"x-api-key": stack.readonly_key})
        binance = await http.get(f"/ccxt/{stack.binance_account_id}/has",
                                 headers={"x-api-key": stack.readonly_key})
        invisible = await http.get(f"/ccxt/{stack.other_account_id}/has",
                                   headers={"x-api-key": stack.readonly_key})
    assert paper.status_code == 200, paper.text
    assert paper.json()["venue"] == "paper"
    assert paper.json()["has"]["fetchMyTrades"] is True
    body = binance.json()
    assert (body["account_id"], body["venue"]) == (stack.binance_account_id, "binance")
    assert body["has"]["fetchFundingRate"] is True
    assert body["has"]["future"] is True
    assert all(v is None or isinstance(v, bool | str) for v in body["has"].values())
    assert invisible.status_code == 404
    assert code(invisible) == "account_not_found"
