"""Every driver method against the real app, results checked field by field against CCXT's
unified structures (key sets from CCXT itself, see `shapes.py`) and against the OMS rows."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import replace
from decimal import Decimal

import ccxt
import pytest
from sqlalchemy import select

from apps.oms.domain.access import FULL_TRADING_FLAGS
from apps.oms.service import admin
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.store import Store
from apps.oms.store.tables import api_keys
from ccxt_driver import OmsCcxtExchange
from test.driver.conftest import SYMBOL, Stack, make_sync
from test.driver.shapes import BOOK_KEYS, MARKET_KEYS, check, check_ccxt_position

pytestmark = pytest.mark.mysql


def test_markets_and_market_data(ex: OmsCcxtExchange, stack: Stack) -> None:
    assert SYMBOL in ex.markets
    assert "BTC/USDT" in ex.markets
    market = ex.market(SYMBOL)
    assert set(market) >= MARKET_KEYS, MARKET_KEYS - set(market)
    assert market["contract"]
    assert market["swap"]
    assert market["precision"]["amount"] > 0
    step = Decimal(str(market["precision"]["amount"]))
    rounded = Decimal(ex.amount_to_precision(SYMBOL, 0.123456789))
    assert rounded % step == 0
    assert Decimal("0.123456789") - step < rounded <= Decimal("0.123456789")
    assert Decimal(ex.price_to_precision(SYMBOL, 100.123456)) <= Decimal("100.123456")
    assert len(ex.fetch_markets()) == len(ex.markets)
    stack.price("101.5")
    ticker = ex.fetch_ticker(SYMBOL)
    check("ticker", ticker)
    assert (ticker["symbol"], ticker["last"]) == (SYMBOL, 101.5)
    tickers = ex.fetch_tickers([SYMBOL, "BTC/USDT"])
    assert set(tickers) == {SYMBOL, "BTC/USDT"}
    check("ticker", tickers[SYMBOL])
    book = ex.fetch_order_book(SYMBOL, 5)
    assert set(book) == BOOK_KEYS
    assert len(book["bids"]) == 5
    assert book["bids"][0][0] <= book["asks"][0][0]
    assert all(isinstance(v, float) for level in book["bids"] for v in level)
    trades = ex.fetch_trades(SYMBOL)
    assert trades
    assert trades[-1]["price"] == 101.5
    candles = ex.fetch_ohlcv(SYMBOL, "1m", limit=3)
    assert len(candles) == 3
    assert candles[-1][4] == 101.5  # the candle open now closes at the last price
    balance = ex.fetch_balance()
    assert {"info", "free", "used", "total", "USDT"} <= set(balance)
    assert balance["USDT"]["total"] == balance["total"]["USDT"] > 0
    assert ex.fetch_free_balance()["USDT"] == balance["USDT"]["free"]
    assert ex.ccxt_call("fetch_ticker", SYMBOL)["last"] == "101.5"  # raw, exact


def test_ohlcv_is_ccxts_shape_built_from_the_paper_path(ex: OmsCcxtExchange,
                                                         stack: Stack) -> None:
    """Candles as CCXT returns them ([int ms, float o, h, l, c, v]), a true time axis (one per
    period, none missing), a history before the market moved, `since`/`limit` as CCXT
    documents them; the same numbers as the gateway's exact strings."""
    stack.price("102.3")
    for timeframe, period in (("1m", 60_000), ("5m", 300_000), ("15m", 900_000),
                              ("1h", 3_600_000), ("4h", 14_400_000), ("1d", 86_400_000)):
        before = int(time.time() * 1000)
        candles = ex.fetch_ohlcv(SYMBOL, timeframe)
        after = int(time.time() * 1000)
        assert len(candles) == 1000, timeframe  # the default limit: history fills it
        for c in candles:
            assert isinstance(c[0], int)
            assert all(isinstance(v, float) for v in c[1:])
            assert c[3] <= min(c[1], c[4]) <= max(c[1], c[4]) <= c[2]
        assert [b[0] - a[0] for a, b in itertools.pairwise(candles)] == [period] * 999
        assert before - before % period <= candles[-1][0] <= after - after % period  # open now
        assert candles[-1][4] == 102.3
    newest = ex.fetch_ohlcv(SYMBOL, "1m", limit=5)
    since = newest[0][0]
    assert ex.fetch_ohlcv(SYMBOL, "1m", since=since, limit=2) == newest[:2]
    assert ex.fetch_ohlcv(SYMBOL, "1m", since=since + 1, limit=1) == newest[1:2]
    raw = ex.ccxt_call("fetch_ohlcv", SYMBOL, "1m", since, 5)
    assert all(isinstance(v, str) for row in raw for v in row[1:])  # exact on the wire
    assert [[int(r[0]), *(float(v) for v in r[1:])] for r in raw] == newest
    with pytest.raises(ccxt.BadRequest):
        ex.fetch_ohlcv(SYMBOL, "7m")


def test_describe_and_has(ex: OmsCcxtExchange) -> None:
    assert ex.id == "oms"
    assert ex.describe()["pro"] is True
    for name in ("createOrder", "editOrder", "cancelOrder", "cancelAllOrders", "fetchOrder",
                 "fetchOpenOrders", "fetchClosedOrders", "fetchCanceledOrders", "fetchMyTrades",
                 "fetchPositions", "fetchTicker", "fetchBalance", "omsCloseBy"):
        assert ex.has[name] is True, name


def test_order_lifecycle_and_oms_params(ex: OmsCcxtExchange, stack: Stack, account: int) -> None:
    strategy = stack.strategy(f"drv-{account}", [account])
    order = ex.create_order(SYMBOL, "limit", "buy", 0.5, 95, {
        "strategy_id": strategy, "clientOrderId": f"cli{account}", "comment": "driver",
        "oms_stop_loss": "80", "oms_stop_gain": 150})
    check("order", order)
    assert (order["status"], order["type"], order["side"], order["amount"], order["price"],
            order["filled"], order["remaining"]) == ("open", "limit", "buy", 0.5, 95.0, 0.0, 0.5)
    assert order["clientOrderId"] == f"cli{account}"
    row = stack.order(int(order["id"]))
    assert order["info"] == row
    assert (row["strategy_id"], row["comment"], row["stop_loss"], row["stop_gain"]) == (
        strategy, "driver", "80", "150")
    assert (order["stopLossPrice"], order["takeProfitPrice"]) == (80.0, 150.0)
    # repeat with the same client order id: idempotent, same order
    again = ex.create_order(SYMBOL, "limit", "buy", 0.5, 95, {
        "strategy_id": strategy, "clientOrderId": f"cli{account}", "comment": "driver",
        "oms_stop_loss": "80", "oms_stop_gain": 150})
    assert again["id"] == order["id"]
    edited = ex.edit_order(order["id"], SYMBOL, "limit", "buy", 0.6, 96)
    check("order", edited)
    assert (edited["amount"], edited["price"], edited["status"]) == (0.6, 96.0, "open")
    assert [o["id"] for o in ex.fetch_open_orders(SYMBOL)] == [edited["id"]]
    canceled = ex.cancel_order(edited["id"], SYMBOL)
    check("order", canceled)
    assert (canceled["status"], canceled["remaining"]) == ("canceled", 0.6)
    assert ex.fetch_open_orders() == []
    assert [o["id"] for o in ex.fetch_canceled_orders(SYMBOL)] == [canceled["id"]]
    fetched = ex.fetch_order(canceled["id"])
    assert fetched == canceled


def test_market_orders_trades_positions(ex: OmsCcxtExchange, stack: Stack) -> None:
    buy = ex.create_market_buy_order(SYMBOL, 0.5)
    check("order", buy)
    assert (buy["status"], buy["filled"], buy["average"], buy["cost"]) == ("closed", 0.5, 100.0,
                                                                           50.0)
    assert buy["fee"] == {"cost": 0.025, "currency": "USDT"}
    assert buy["fees"] == [buy["fee"]]
    (trade,) = ex.fetch_my_trades(SYMBOL)
    check("trade", trade)
    assert (trade["order"], trade["side"], trade["amount"], trade["price"], trade["cost"]) == (
        buy["id"], "buy", 0.5, 100.0, 50.0)
    assert trade["fee"] == {"cost": 0.025, "currency": "USDT"}
    assert trade["takerOrMaker"] == trade["info"]["taker_or_maker"] == "taker"
    stack.price("110")
    (position,) = ex.fetch_positions()
    check("position", position)
    check_ccxt_position(position)
    assert (position["side"], position["contracts"], position["entryPrice"],
            position["markPrice"], position["unrealizedPnl"], position["notional"],
            position["hedged"]) == ("long", 0.5, 100.0, 110.0, 5.0, 55.0, True)
    assert ex.fetch_position(SYMBOL)["id"] == position["id"]
    assert ex.fetch_position(position["id"]) == position
    assert ex.fetch_positions(["ETH/USDT:USDT"]) == []
    closing = ex.close_position(position["id"])
    check("order", closing)
    assert (closing["side"], closing["reduceOnly"], closing["status"]) == ("sell", True,
                                                                           "closed")
    assert ex.fetch_positions() == []
    closed = ex.fetch_position(position["id"])
    assert (closed["contracts"], closed["realizedPnl"]) == (0.0, 5.0)
    assert [o["id"] for o in ex.fetch_closed_orders()] == [buy["id"], closing["id"]]
    assert [o["id"] for o in ex.fetch_orders(SYMBOL)] == [buy["id"], closing["id"]]
    assert len(ex.fetch_my_trades(limit=1)) == 1
    assert ex.fetch_my_trades(since=ex.milliseconds() + 86_400_000) == []


def test_close_by_merge_targets_and_internal_deals(ex: OmsCcxtExchange) -> None:
    a = ex.create_order(SYMBOL, "market", "buy", 1)
    b = ex.create_order(SYMBOL, "market", "buy", 0.5)
    c = ex.create_order(SYMBOL, "market", "sell", 0.4)
    pa, pb, pc = (str(ex.fetch_order(o["id"])["info"]["position_id"]) for o in (a, b, c))
    merged = ex.merge_positions(pb, pa)
    check("position", merged)
    assert (merged["id"], merged["contracts"]) == (pa, 1.5)
    targeted = ex.set_position_targets(pa, stop_loss=90, stop_gain="130")
    assert (targeted["stopLossPrice"], targeted["takeProfitPrice"]) == (90.0, 130.0)
    cleared = ex.set_position_targets(pa, stop_loss=None)
    assert (cleared["stopLossPrice"], cleared["takeProfitPrice"]) == (None, 130.0)
    after = ex.close_by(pa, pc)
    assert [(p["id"], p["contracts"]) for p in after] == [(pa, 1.1), (pc, 0.0)]
    venue = ex.fetch_my_trades()
    everything = ex.fetch_my_trades(params={"include_internal": True})
    assert len(venue) == 3
    assert len(everything) > len(venue)
    for trade in everything:
        check("trade", trade)
    assert {t["takerOrMaker"] for t in venue} == {"taker"}
    internal = [t for t in everything if t["id"] not in {v["id"] for v in venue}]
    assert {t["takerOrMaker"] for t in internal} == {None}  # close-by / merge: no venue fill


def test_resting_limit_fill_is_maker(ex: OmsCcxtExchange, stack: Stack) -> None:
    order = ex.create_limit_buy_order(SYMBOL, 0.2, 95)
    assert order["status"] == "open"
    stack.price("94")  # trades through the limit: it fills at 95 as maker
    deadline = time.monotonic() + 20
    while ex.fetch_order(order["id"])["status"] != "closed":
        assert time.monotonic() < deadline, "the resting limit did not fill"
        time.sleep(0.05)
    (trade,) = ex.fetch_my_trades(SYMBOL, params={"order_id": order["id"]})
    check("trade", trade)
    assert (trade["price"], trade["takerOrMaker"]) == (95.0, "maker")
    (deal,) = stack.get("/oms/deals", account_ids=ex.account_id, order_id=order["id"])["items"]
    assert deal["taker_or_maker"] == "maker"


def test_cancel_all_orders_is_scoped_to_strategy_and_symbol(
    ex: OmsCcxtExchange, stack: Stack, account: int
) -> None:
    mine = stack.strategy(f"mine-{account}", [account])
    other = stack.strategy(f"other-{account}", [account])
    scoped = make_sync(stack, account, strategyId=mine)
    scoped.load_markets()
    first = scoped.create_limit_buy_order(SYMBOL, 0.1, 90)
    second = scoped.create_limit_buy_order("ETH/USDT:USDT", 1, 10)
    foreign = ex.create_limit_buy_order(SYMBOL, 0.1, 90, {"strategy_id": other})
    canceled = scoped.cancel_all_orders(SYMBOL)
    assert [o["id"] for o in canceled] == [first["id"]]
    assert canceled[0]["status"] == "canceled"
    assert {o["id"] for o in ex.fetch_open_orders()} == {second["id"], foreign["id"]}


def test_numbers_as_strings_or_decimals(stack: Stack, account: int) -> None:
    for number in (str, Decimal):
        ex = make_sync(stack, account)
        ex.number = number
        ex.load_markets()
        order = ex.create_order(SYMBOL, "market", "buy", "0.123")
        check("order", order, number)
        assert order["amount"] == number("0.123")
        assert order["cost"] == number("12.3")
        check("ticker", ex.fetch_ticker(SYMBOL), number)
        for position in ex.fetch_positions():
            check("position", position, number)
        for trade in ex.fetch_my_trades():
            check("trade", trade, number)


def test_constructor_forms(stack: Stack, account: int) -> None:
    spec = OmsCcxtExchange(api_key=stack.trader_key, account_id=account, base_url=stack.base,
                           timeout_seconds=5)
    assert (spec.timeout, spec.account_id, spec.strategy_id) == (5000, account, 0)
    config = OmsCcxtExchange({"apiKey": stack.trader_key, "accountId": account,
                              "base_url": stack.base, "timeout": 7000, "strategyId": 3})
    assert (config.timeout, config.strategy_id, config.base_url) == (7000, 3, stack.base)
    assert spec.fetch_ticker(SYMBOL)["symbol"] == config.fetch_ticker(SYMBOL)["symbol"]
    with pytest.raises(ccxt.ArgumentsRequired):
        OmsCcxtExchange({"apiKey": "x"})


def test_positions_carry_the_accounts_leverage_and_pass_ccxts_validator(
    ex: OmsCcxtExchange, stack: Stack, account: int
) -> None:
    """Regression (issue 36, item 3): `leverage` was null. Paper swaps: the account's leverage
    of the symbol (`set_leverage`), cross margin on the USDT wallet; spot: 1, isolated."""
    grant_restricted(stack, account, "set_leverage")
    assert str(ex.ccxt_call("set_leverage", 5, SYMBOL)["longLeverage"]) == "5"
    ex.create_order(SYMBOL, "market", "buy", 0.5)
    ex.create_order("BTC/USDT", "market", "buy", 0.01)
    stack.price("110")
    swap, spot = ex.fetch_positions([SYMBOL]), ex.fetch_positions(["BTC/USDT"])
    for position in swap + spot:
        check("position", position)
        check_ccxt_position(position)
    ((swap,), (spot,)) = (swap, spot)
    wallet = ex.fetch_balance()["total"]["USDT"]
    assert (swap["leverage"], swap["marginMode"], swap["collateral"]) == (5.0, "cross", wallet)
    assert (swap["initialMargin"], swap["initialMarginPercentage"]) == (11.0, 0.2)  # 55 / 5
    assert swap["percentage"] == pytest.approx(5.0 / 11.0 * 100)
    assert (spot["leverage"], spot["marginMode"]) == (1.0, "isolated")
    assert spot["collateral"] == spot["initialMargin"] == 0.01 * spot["entryPrice"]


def grant_restricted(stack: Stack, account_id: int, function: str) -> None:
    """Grant the trader's key a restricted CCXT function on the account (in the store)."""

    async def run() -> None:
        store = Store.from_url(stack.url)
        try:
            async with store.transaction() as conn:
                key_id = (await conn.execute(select(api_keys.c.id).where(
                    api_keys.c.user_id == stack.user_id, api_keys.c.label == "trader"))).scalar_one()
                flags = replace(FULL_TRADING_FLAGS, allowed_functions=frozenset({function}))
                await admin.set_permission(conn, CLI_ACTOR, api_key_id=key_id,
                                           account_id=account_id, flags=flags)
        finally:
            await store.close()

    asyncio.run(run())
