"""Two bots on one account, each with a key restricted to its own strategy (issue 37), over real
uvicorn and a real worker on both stores: allocations set/read/cleared and audited, the
restricted key's `fetch_balance` answering its allocation, acceptance refusing an order beyond
it (`insufficient_funds`, also within one batch), closing orders never refused, each bot seeing
only its own orders, deals and positions, and the `/ccxt` functions a futures bot needs.
The tests share one account of their own and run in file order (a bot's books carry over)."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ccxt
import httpx
import pytest
from sqlalchemy import select

from apps.oms.clock import utcnow
from apps.oms.domain.access import AccountFlags, Role
from apps.oms.service import admin
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.strategies import create_strategy
from apps.oms.store.tables import audit_log
from ccxt_driver import OmsCcxtProExchange
from test.api.live.conftest import PEPPER, Stack

pytestmark = pytest.mark.mysql
D = Decimal


@dataclass
class Bots:
    account_id: int
    strategy_a: int
    strategy_b: int
    pm_key: str
    trader_key: str  # may trade, not a portfolio manager
    bot_a: str  # trader key restricted to strategy a, granted set_leverage / set_margin_mode
    bot_b: str  # trader key restricted to strategy b, no grant


@pytest.fixture(scope="module")
async def bots(stack: Stack) -> Bots:
    """An account of its own (netting) with two strategies and their bots' keys."""
    tag = secrets.token_hex(3)
    async with stack.store.transaction() as conn:
        account_id = await admin.add_account(
            conn, CLI_ACTOR, user_id=None, exchange_id="paper", label=f"bots{tag}",
            position_mode="netting", testnet=False, live=False,
        )  # fmt: skip
        a, b = [
            await create_strategy(conn, name=f"{n}{tag}", client_strategy_id=None,
                                  account_ids=[account_id], user_id=None, now=utcnow())
            for n in ("a", "b")
        ]  # fmt: skip
        trading = {"can_trade": True, "can_close_position": True}
        granted = frozenset({"set_leverage", "set_margin_mode"})
        keys = {}
        for label, role, flags in (
            ("pm", Role.PORTFOLIO_MANAGER, AccountFlags(**trading)),
            ("tr", Role.TRADER, AccountFlags(**trading)),
            ("ba", Role.TRADER, AccountFlags(**trading, restrict_to_strategies=True,
                                             strategy_ids=frozenset({a}),
                                             allowed_functions=granted)),
            ("bb", Role.TRADER, AccountFlags(**trading, restrict_to_strategies=True,
                                             strategy_ids=frozenset({b}))),
        ):  # fmt: skip
            user_id = await admin.create_user(conn, CLI_ACTOR, name=f"{label}{tag}", role=role)
            key = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=user_id,
                                             label=label)  # fmt: skip
            await admin.set_permission(conn, CLI_ACTOR, api_key_id=key.id, account_id=account_id,
                                       flags=flags)  # fmt: skip
            keys[label] = key.plain
    return Bots(account_id, a, b, keys["pm"], keys["tr"], keys["ba"], keys["bb"])


async def call(stack: Stack, key: str, method: str, path: str, body: Any = None,
               **params: Any) -> httpx.Response:  # fmt: skip
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        return await http.request(method, path, json=body, params=params,
                                  headers={"x-api-key": key})  # fmt: skip


def error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    assert set(body) >= {"code", "message", "details", "trace_id"}
    return body


async def allocate(stack: Stack, bots: Bots, strategy_id: int, amount: str) -> None:
    body = {"strategy_id": strategy_id, "currency": "USDT", "amount": amount, "comment": "test"}
    response = await call(stack, bots.pm_key, "PUT",
                          f"/oms/risk/{bots.account_id}/allocations", body)  # fmt: skip
    assert response.status_code == 200, response.text


async def balance(stack: Stack, key: str, bots: Bots, **params: Any) -> httpx.Response:
    return await call(stack, key, "POST", f"/ccxt/{bots.account_id}/fetch_balance",
                      {"args": [params]} if params else {})  # fmt: skip


def order(bots: Bots, strategy_id: int, **payload: Any) -> dict[str, Any]:
    base = {"symbol": "BTC/USDT", "side": "buy", "order_type": "limit", "qty": "0.01",
            "price": "40000", "strategy_id": strategy_id}  # fmt: skip
    return {"account_id": bots.account_id, "command": "send_order", "payload": {**base, **payload}}


async def send(stack: Stack, key: str, body: Any, **params: Any) -> httpx.Response:
    return await call(stack, key, "POST", "/oms/commands", body, **params)


async def test_allocations_set_read_clear_by_pm_only_and_audited(stack: Stack, bots: Bots) -> None:
    path = f"/oms/risk/{bots.account_id}/allocations"
    body = {"strategy_id": bots.strategy_b, "currency": "USDT", "amount": "250.5",
            "comment": "bot b budget"}  # fmt: skip
    refused = await call(stack, bots.trader_key, "PUT", path, body)
    assert (refused.status_code, error(refused)["code"]) == (403, "permission_denied")
    refused = await call(stack, bots.bot_b, "PUT", path, body)  # never its own budget
    assert error(refused)["code"] == "permission_denied"
    for bad in ({**body, "amount": "-1"}, {**body, "amount": "ten"}, {**body, "amount": True},
                {**body, "currency": "usdt"}, {**body, "extra": 1},
                {k: v for k, v in body.items() if k != "comment"}):
        response = await call(stack, bots.pm_key, "PUT", path, bad)
        assert (response.status_code, error(response)["code"]) == (422, "validation_error"), bad
    unknown = await call(stack, bots.pm_key, "PUT", path, {**body, "strategy_id": 2**62})
    assert (unknown.status_code, error(unknown)["code"]) == (404, "strategy_not_found")
    done = await call(stack, bots.pm_key, "PUT", path, body)
    assert done.status_code == 200, done.text
    assert done.json()["allocation"]["amount"] == "250.5"
    admin_set = await call(stack, stack.admin_key, "PUT", path, {**body, "amount": "300"})
    assert admin_set.status_code == 200, admin_set.text
    seen_b = (await call(stack, bots.bot_b, "GET", path)).json()["items"]
    assert [(i["strategy_id"], i["amount"], i["currency"]) for i in seen_b] == [
        (bots.strategy_b, "300", "USDT")
    ]
    assert (await call(stack, bots.bot_a, "GET", path)).json()["items"] == []  # not its strategy
    clear = f"{path}/clear"
    cleared = await call(stack, bots.pm_key, "POST", clear, {"strategy_id": bots.strategy_b,
                                                             "comment": "done"})  # fmt: skip
    assert cleared.status_code == 200, cleared.text
    again = await call(stack, bots.pm_key, "POST", clear, {"strategy_id": bots.strategy_b,
                                                           "comment": "done"})  # fmt: skip
    assert (again.status_code, error(again)["code"]) == (404, "allocation_not_found")
    async with stack.store.read() as conn:
        rows = (await conn.execute(
            select(audit_log.c.action, audit_log.c.after).where(
                audit_log.c.target_type == "account",
                audit_log.c.target_id == str(bots.account_id),
                audit_log.c.action.like("%strategy_allocation"),
            ).order_by(audit_log.c.id)
        )).all()  # fmt: skip
    assert [r[0] for r in rows] == ["set_strategy_allocation", "set_strategy_allocation",
                                    "clear_strategy_allocation"]  # fmt: skip
    assert rows[0][1] == {"strategy_id": bots.strategy_b, "currency": "USDT", "amount": "250.5"}


async def test_restricted_balance_is_the_allocation_and_orders_beyond_it_are_refused(
    stack: Stack, bots: Bots
) -> None:
    no_allocation = await balance(stack, bots.bot_a, bots)
    assert (no_allocation.status_code, error(no_allocation)["code"]) == (
        403, "strategy_permission_denied")  # fmt: skip
    assert error(no_allocation)["details"]["reason"] == "no_allocation"
    await allocate(stack, bots, bots.strategy_a, "1000")
    fresh = (await balance(stack, bots.bot_a, bots)).json()["result"]
    assert fresh["USDT"] == {"free": "1000", "used": "0", "total": "1000"}
    assert fresh["free"] == {"USDT": "1000"}
    other = await balance(stack, bots.bot_a, bots, strategy_id=bots.strategy_b)
    assert error(other)["code"] == "strategy_permission_denied"
    # 0.02 at 40,000 holds 800 x 1.001 = 800.8 (the paper venue's reservation, fee included)
    first = await send(stack, bots.bot_a, order(bots, bots.strategy_a, qty="0.02"))
    assert first.status_code == 200, first.text
    held = (await balance(stack, bots.bot_a, bots)).json()["result"]["USDT"]
    assert held == {"free": "199.2", "used": "800.8", "total": "1000"}
    # a batch of two 160.16 orders: the second meets the first (free 39.04)
    batch = [order(bots, bots.strategy_a, qty="0.004"), order(bots, bots.strategy_a, qty="0.004")]
    response = await send(stack, bots.bot_a, batch)
    assert response.status_code == 207, response.text
    first_item, second_item = response.json()["results"]
    assert first_item["ok"] is True
    assert second_item["error"]["code"] == "insufficient_funds"
    assert second_item["error"]["details"] == {
        "rule": "strategy_allocation", "scope": "strategy", "currency": "USDT",
        "needed": "160.16", "free": "39.04",
    }  # fmt: skip
    alone = await send(stack, bots.bot_a, order(bots, bots.strategy_a, qty="0.001", price="45000"))
    assert alone.status_code == 422, alone.text
    assert error(alone)["code"] == "insufficient_funds"
    # strategy b has no allocation: unchanged behaviour, any size is accepted
    big = await send(stack, bots.bot_b, order(bots, bots.strategy_b, qty="0.05"))
    assert big.status_code == 200, big.text
    cancel = {"account_id": bots.account_id, "command": "cancel_all_orders",
              "payload": {"strategy_ids": [bots.strategy_a, bots.strategy_b]}}  # fmt: skip
    assert (await send(stack, bots.pm_key, cancel, wait="completed")).status_code == 200


async def test_spot_holding_and_closing_orders_are_never_refused(stack: Stack, bots: Bots) -> None:
    await allocate(stack, bots, bots.strategy_a, "1000")
    bought = await send(stack, bots.bot_a, order(bots, bots.strategy_a, order_type="market",
                                                 price=None, qty="0.01"), wait="completed")
    assert bought.status_code == 200, bought.text
    result = (await balance(stack, bots.bot_a, bots)).json()["result"]
    assert result["BTC"] == {"free": "0.01", "used": "0", "total": "0.01"}
    spent = D(result["USDT"]["total"])
    assert D(0) < spent < D(1000)  # cost and fee out of the quote
    await allocate(stack, bots, bots.strategy_a, "1")  # far below what it holds
    refused = await send(stack, bots.bot_a, order(bots, bots.strategy_a, qty="0.001"))
    assert error(refused)["code"] == "insufficient_funds"
    sell = order(bots, bots.strategy_a, side="sell", order_type="market", price=None, qty="0.01")
    closed = await send(stack, bots.bot_a, sell, wait="completed")
    assert closed.status_code == 200, closed.text
    after = (await balance(stack, bots.bot_a, bots)).json()["result"]
    assert "BTC" not in after or after["BTC"]["total"] == "0"


async def test_each_bot_sees_only_its_own_books(stack: Stack, bots: Bots) -> None:
    """Two restricted keys on one account: lists, by-id reads and the strategy filter show each
    bot its own orders, deals and positions only (a portfolio manager sees both)."""
    await allocate(stack, bots, bots.strategy_a, "1000")
    await allocate(stack, bots, bots.strategy_b, "1000")
    order_ids, deal_ids = {}, {}
    for key, sid in ((bots.bot_a, bots.strategy_a), (bots.bot_b, bots.strategy_b)):
        placed = await send(stack, key, order(bots, sid, qty="0.001", price="30000"))
        assert placed.status_code == 200, placed.text
        order_ids[key] = placed.json()["results"][0]["order_id"]
        filled = await send(stack, key, order(bots, sid, order_type="market", price=None,
                                              qty="0.001"), wait="completed")  # fmt: skip
        assert filled.status_code == 200, filled.text
    ids = str(bots.account_id)
    pairs = ((bots.bot_a, bots.strategy_a, bots.bot_b, bots.strategy_b),
             (bots.bot_b, bots.strategy_b, bots.bot_a, bots.strategy_a))  # fmt: skip
    for key, mine, other_key, theirs in pairs:
        for path in ("/oms/orders/open", "/oms/orders/history", "/oms/deals",
                     "/oms/positions/open", "/oms/positions/history"):
            items = (await call(stack, key, "GET", path, account_ids=ids)).json()["items"]
            assert {int(i["strategy_id"]) for i in items} <= {mine}, (path, items)
        deals = (await call(stack, key, "GET", "/oms/deals", account_ids=ids)).json()["items"]
        assert deals, "its own fill is listed"
        deal_ids[key] = deals[0]["deal_id"]
        by_id = await call(stack, key, "GET", f"/oms/orders/{order_ids[other_key]}")
        assert by_id.json()["items"] == []
        asked = await call(stack, key, "GET", "/oms/orders/open", account_ids=ids,
                           strategy_id=theirs)  # fmt: skip
        assert (asked.status_code, error(asked)["code"]) == (403, "strategy_permission_denied")
    for key, other_key in ((bots.bot_a, bots.bot_b), (bots.bot_b, bots.bot_a)):
        by_id = await call(stack, key, "GET", f"/oms/deals/{deal_ids[other_key]}")
        assert by_id.json()["items"] == []
    everything = (await call(stack, bots.pm_key, "GET", "/oms/orders/open",
                             account_ids=ids)).json()["items"]  # fmt: skip
    assert {int(i["strategy_id"]) for i in everything} >= {bots.strategy_a, bots.strategy_b}
    cancel = {"account_id": bots.account_id, "command": "cancel_all_orders",
              "payload": {"strategy_ids": [bots.strategy_a, bots.strategy_b]}}  # fmt: skip
    assert (await send(stack, bots.pm_key, cancel, wait="completed")).status_code == 200


STRATEGY_READS = ["fetch_trading_fee", "fetch_trading_fees", "fetch_leverage_tiers",
                  "fetch_market_leverage_tiers", "fetch_leverage", "fetch_leverages",
                  "fetch_margin_mode", "fetch_margin_modes", "fetch_position_mode"]
PRIVATE = ["fetch_positions", "fetch_position", "fetch_my_trades", "fetch_orders",
           "fetch_open_orders", "fetch_closed_orders", "fetch_order", "fetch_ledger",
           "fetch_deposits", "fetch_withdrawals", "fetch_accounts", "fetch_transfers"]
NEVER = ["withdraw", "transfer", "set_position_mode", "add_margin", "private_post_order",
         "create_order", "cancel_order", "edit_order"]


@pytest.mark.parametrize("func", STRATEGY_READS)
async def test_restricted_key_may_make_the_futures_reads(
    stack: Stack, bots: Bots, func: str
) -> None:
    args = [] if func.endswith("s") and func != "fetch_trading_fees" else ["BTC/USDT:USDT"]
    response = await call(stack, bots.bot_b, "POST", f"/ccxt/{bots.account_id}/{func}",
                          {"args": args})  # fmt: skip
    # allowed through: answered by the venue, or `not_supported` where it lacks the function
    assert response.status_code != 403, response.text
    if response.status_code != 200:
        assert error(response)["code"] in ("not_supported", "validation_error", "exchange_error",
                                           "venue_rejected", "bad_request"), response.text


@pytest.mark.parametrize("func", PRIVATE + NEVER)
async def test_restricted_key_still_reads_nothing_private_and_moves_no_funds(
    stack: Stack, bots: Bots, func: str
) -> None:
    response = await call(stack, bots.bot_a, "POST", f"/ccxt/{bots.account_id}/{func}", {})
    assert (response.status_code, error(response)["code"]) == (403, "strategy_permission_denied")


async def test_restricted_key_sets_leverage_only_with_a_grant(stack: Stack, bots: Bots) -> None:
    path = f"/ccxt/{bots.account_id}/set_leverage"
    body = {"args": [3, "BTC/USDT:USDT"]}
    refused = await call(stack, bots.bot_b, "POST", path, body)
    assert (refused.status_code, error(refused)["code"]) == (403, "function_not_allowed")
    granted = await call(stack, bots.bot_a, "POST", path, body)
    assert granted.status_code == 200, granted.text
    read = await call(stack, bots.bot_b, "POST", f"/ccxt/{bots.account_id}/fetch_leverage",
                      {"args": ["BTC/USDT:USDT"]})  # fmt: skip
    assert str(read.json()["result"]["longLeverage"]) == "3", read.text


async def test_restricted_funding_history_comes_from_its_own_deals(
    stack: Stack, bots: Bots
) -> None:
    path = f"/ccxt/{bots.account_id}/fetch_funding_history"
    mine = await call(stack, bots.bot_a, "POST", path, {"args": ["BTC/USDT:USDT"]})
    assert mine.status_code == 200, mine.text
    assert mine.json()["result"] == []  # no funding deal booked for strategy a
    other = await call(stack, bots.bot_a, "POST", path,
                       {"args": [None, None, None, {"strategy_id": bots.strategy_b}]})
    assert error(other)["code"] == "strategy_permission_denied"


async def test_the_driver_reads_the_allocation_and_raises_insufficient_funds(
    stack: Stack, bots: Bots
) -> None:
    """What freqtrade meets through `ccxt_driver`: its balance is the allocation, an order beyond
    it raises CCXT `InsufficientFunds` (the bot carries on)."""
    await allocate(stack, bots, bots.strategy_b, "500")
    ex = OmsCcxtProExchange(api_key=bots.bot_b, account_id=bots.account_id, base_url=stack.url,
                            strategy_id=bots.strategy_b, timeout_seconds=20)  # fmt: skip
    try:
        wire = (await balance(stack, bots.bot_b, bots)).json()["result"]["USDT"]
        fetched = await ex.fetch_balance()
        for key in ("free", "used", "total"):
            assert D(str(fetched["USDT"][key])) == D(wire[key]), key
        with pytest.raises(ccxt.InsufficientFunds):
            await ex.create_order("BTC/USDT", "limit", "buy", "0.02", "40000")
    finally:
        await ex.close()


async def test_concurrent_orders_cannot_both_spend_the_same_free_balance(
    stack: Stack, bots: Bots
) -> None:
    """Two requests at once, each needing more than half of the free balance: the allocation row
    lock serialises them, exactly one is accepted."""
    await allocate(stack, bots, bots.strategy_a, "0")
    total = D((await balance(stack, bots.bot_a, bots)).json()["result"]["USDT"]["total"])
    await allocate(stack, bots, bots.strategy_a, str(D(1000) - total))  # total 1000 exactly
    assert (await balance(stack, bots.bot_a, bots)).json()["result"]["USDT"]["free"] == "1000"
    one = order(bots, bots.strategy_a, qty="0.015")  # 600.6 each
    answers = await asyncio.gather(*(send(stack, bots.bot_a, one) for _ in range(2)))
    assert sorted(r.status_code for r in answers) == [200, 422], [r.text for r in answers]
    cancel = {"account_id": bots.account_id, "command": "cancel_all_orders",
              "payload": {"strategy_ids": [bots.strategy_a]}}  # fmt: skip
    assert (await send(stack, bots.pm_key, cancel, wait="completed")).status_code == 200


async def test_swap_orders_hold_margin_at_the_accounts_leverage(stack: Stack, bots: Bots) -> None:
    await allocate(stack, bots, bots.strategy_a, "0")
    total = D((await balance(stack, bots.bot_a, bots)).json()["result"]["USDT"]["total"])
    await allocate(stack, bots, bots.strategy_a, str(D(1000) - total))
    leverage = await call(stack, bots.bot_a, "POST", f"/ccxt/{bots.account_id}/set_leverage",
                          {"args": [4, "BTC/USDT:USDT"]})  # fmt: skip
    assert leverage.status_code == 200, leverage.text
    placed = await send(stack, bots.bot_a, order(bots, bots.strategy_a, symbol="BTC/USDT:USDT",
                                                 qty="0.01", price="40000"))  # fmt: skip
    assert placed.status_code == 200, placed.text
    # 400 / 4 + 400 x 0.0005 (the swap's highest fee rate) = 100.2
    usdt = (await balance(stack, bots.bot_a, bots)).json()["result"]["USDT"]
    assert usdt == {"free": "899.8", "used": "100.2", "total": "1000"}
    cancel = {"account_id": bots.account_id, "command": "cancel_all_orders",
              "payload": {"strategy_ids": [bots.strategy_a]}}  # fmt: skip
    assert (await send(stack, bots.pm_key, cancel, wait="completed")).status_code == 200


async def test_amending_an_order_beyond_the_allocation_is_refused(
    stack: Stack, bots: Bots
) -> None:
    await allocate(stack, bots, bots.strategy_a, "0")
    total = D((await balance(stack, bots.bot_a, bots)).json()["result"]["USDT"]["total"])
    await allocate(stack, bots, bots.strategy_a, str(D(1000) - total))
    placed = await send(stack, bots.bot_a, order(bots, bots.strategy_a, qty="0.02"))  # 800.8
    assert placed.status_code == 200, placed.text
    order_id = placed.json()["results"][0]["order_id"]

    def change(**payload: str) -> dict[str, Any]:
        return {"account_id": bots.account_id, "command": "change_order",
                "payload": {"order_id": order_id, **payload}}  # fmt: skip

    bigger = await send(stack, bots.bot_a, change(new_qty="0.025"))  # +200.2 > 199.2 free
    assert (bigger.status_code, error(bigger)["code"]) == (422, "insufficient_funds")
    smaller = await send(stack, bots.bot_a, change(new_qty="0.01"))
    assert smaller.status_code == 200, smaller.text
    cancel = {"account_id": bots.account_id, "command": "cancel_all_orders",
              "payload": {"strategy_ids": [bots.strategy_a]}}  # fmt: skip
    assert (await send(stack, bots.pm_key, cancel, wait="completed")).status_code == 200
