"""What freqtrade's futures mode calls, through `POST /ccxt/{account_id}/<func>` on real uvicorn
and a real worker, on a paper account of its own (netting): leverage tiers, trading fees, margin
mode per symbol (a restricted function, refused while a position is open unless unchanged),
isolated positions' CCXT fields, and the venue's `has`."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

import httpx
import pytest

from apps.oms.domain.access import AccountFlags, Role
from apps.oms.service import admin
from apps.oms.store.audit import CLI_ACTOR
from test.api.live.conftest import PEPPER, Stack

pytestmark = pytest.mark.mysql
SWAP = "SOL/USDT:USDT"


async def call(stack: Stack, key: str, account_id: int, func: str, *args: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        return await http.post(f"/ccxt/{account_id}/{func}", json={"args": list(args)},
                               headers={"x-api-key": key})  # fmt: skip


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()["result"]


def ccxt_error(response: httpx.Response) -> str:
    return str(response.json()["error"]["details"].get("ccxt_error"))


async def futures_account(stack: Stack) -> tuple[int, str]:
    """A new netting paper account and a trader key granted set_margin_mode and set_leverage."""
    tag = secrets.token_hex(3)
    async with stack.store.transaction() as conn:
        account_id = await admin.add_account(
            conn, CLI_ACTOR, user_id=None, exchange_id="paper", label=f"fut{tag}",
            position_mode="netting", testnet=False, live=False)
        user_id = await admin.create_user(conn, CLI_ACTOR, name=f"fut{tag}", role=Role.TRADER)
        key = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=user_id,
                                         label="futures")  # fmt: skip
        await admin.set_permission(conn, CLI_ACTOR, api_key_id=key.id, account_id=account_id,
                                   flags=AccountFlags(can_trade=True, can_close_position=True,
                                       allowed_functions=frozenset({"set_margin_mode",
                                                                    "set_leverage"})))  # fmt: skip
    return account_id, key.plain


async def test_tiers_fees_and_has_for_freqtrade(stack: Stack) -> None:
    account_id, key = await futures_account(stack)
    tiers = ok(await call(stack, key, account_id, "fetchLeverageTiers", [SWAP]))
    assert list(tiers) == [SWAP]
    assert [t["maxLeverage"] for t in tiers[SWAP]] == ["100", "50", "20", "10", "4"]
    assert tiers[SWAP][1]["info"]["cum"] == "1250"  # exact strings on the wire
    market = ok(await call(stack, key, account_id, "fetch_market_leverage_tiers", SWAP))
    assert market == tiers[SWAP]
    fee = ok(await call(stack, key, account_id, "fetch_trading_fee", SWAP))
    assert (fee["maker"], fee["taker"], fee["percentage"], fee["tierBased"]) == (
        "0.0002", "0.0005", True, False)
    fees = ok(await call(stack, key, account_id, "fetchTradingFees"))
    assert fees["BTC/USDT"]["taker"] == "0.001"
    markets = ok(await call(stack, key, account_id, "load_markets"))
    assert markets[SWAP]["marginModes"] == {"cross": True, "isolated": True}
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        has = (await http.get(f"/ccxt/{account_id}/has", headers={"x-api-key": key})).json()["has"]
    for name in ("setMarginMode", "fetchMarginMode", "fetchMarginModes", "fetchLeverageTiers",
                 "fetchMarketLeverageTiers", "fetchTradingFee", "fetchTradingFees"):
        assert has[name] is True, name
    history = await call(stack, key, account_id, "fetch_funding_history", SWAP)
    assert response_code(history) == "not_supported"  # the paper venue keeps no payments


def response_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def test_isolated_margin_through_the_gateway(stack: Stack) -> None:
    """freqtrade's entry sequence: set_margin_mode, set_leverage, market order; the mode stays
    while the position is open (the same mode again succeeds, another is refused with
    BadRequest) and frees up once it is closed."""
    account_id, key = await futures_account(stack)
    refused = await call(stack, stack.trader_key, stack.account_id, "set_margin_mode",
                         "isolated", SWAP)  # fmt: skip
    assert response_code(refused) == "function_not_allowed"  # restricted: needs the grant
    assert ok(await call(stack, key, account_id, "fetch_margin_mode", SWAP))["marginMode"] == "cross"
    set_mode = ok(await call(stack, key, account_id, "set_margin_mode", "isolated", SWAP))
    assert set_mode == {"info": {"symbol": SWAP, "marginMode": "isolated"}, "symbol": SWAP,
                        "marginMode": "isolated"}  # fmt: skip
    leverage = ok(await call(stack, key, account_id, "set_leverage", 5, SWAP))
    assert (leverage["longLeverage"], leverage["marginMode"]) == (5, "isolated")
    modes = ok(await call(stack, key, account_id, "fetch_margin_modes"))
    assert modes[SWAP]["marginMode"] == "isolated"
    assert modes["BTC/USDT:USDT"]["marginMode"] == "cross"
    order = ok(await call(stack, key, account_id, "create_order", SWAP, "market", "buy", "2"))
    assert order["status"] == "closed", order
    position, = ok(await call(stack, key, account_id, "fetch_positions", [SWAP]))
    entry = Decimal(position["entryPrice"])
    assert position["marginMode"] == "isolated"
    assert Decimal(position["collateral"]) == 2 * entry / 5  # its own margin, not the wallet
    expected = (2 * entry - 2 * entry / 5) / (2 * (1 - Decimal("0.005")))
    assert abs(Decimal(position["liquidationPrice"]) - expected) < Decimal("1e-15")
    again = ok(await call(stack, key, account_id, "set_margin_mode", "isolated", SWAP))
    assert again["marginMode"] == "isolated"  # what freqtrade sends before every entry
    change = await call(stack, key, account_id, "set_margin_mode", "cross", SWAP)
    assert ccxt_error(change) == "BadRequest", change.text
    assert change.status_code == 422, change.text  # a refused request, not a venue failure
    assert change.json()["error"]["code"] == "exchange_error"
    assert "position is open" in change.json()["error"]["message"]
    closed = ok(await call(stack, key, account_id, "create_order", SWAP, "market", "sell", "2"))
    assert closed["status"] == "closed", closed
    assert ok(await call(stack, key, account_id, "fetch_positions", [SWAP])) == []
    back = ok(await call(stack, key, account_id, "set_margin_mode", "cross", SWAP))
    assert back["marginMode"] == "cross"
