"""Drive the paper venue only through CCXT-style calls and check every structure is a genuine
CCXT unified structure.

The key sets come from CCXT itself at run time (`safe_order({})`, `safe_trade({})`,
`safe_ticker({})`, `safe_market_structure({})`), and each structure's float view must survive
CCXT's own `safe_order` / `safe_trade` / `safe_position` / `safe_balance` unchanged. The value
rules mirror CCXT's test validators (`ccxt/test/exchange/base/test_*.py` in the CCXT repository;
the pip package does not ship them): enums, sign rules, amount >= filled/remaining, datetime ==
iso8601(timestamp), balances free + used == total.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt
import pytest
from ccxt.base.precise import Precise

from apps.oms.exchange.paper.structures import to_ccxt_numbers

D = Decimal
EX = ccxt.Exchange()
ORDER_KEYS = set(EX.safe_order({})) | {"info", "id", "clientOrderId", "datetime", "timestamp"}
TRADE_KEYS = {"info", "id", "timestamp", "datetime", "symbol", "order", "type", "side",
              "takerOrMaker", "price", "amount", "cost", "fee", "fees"}
POSITION_KEYS = {"info", "symbol", "timestamp", "datetime", "initialMargin",
                 "initialMarginPercentage", "maintenanceMargin", "maintenanceMarginPercentage",
                 "entryPrice", "notional", "leverage", "unrealizedPnl", "contracts",
                 "contractSize", "marginRatio", "liquidationPrice", "markPrice", "collateral",
                 "marginMode", "side", "percentage"}
TICKER_KEYS = set(EX.safe_ticker({})) | {"symbol", "info", "timestamp", "datetime"}
MARKET_KEYS = set(EX.safe_market_structure({}))


def no_floats(value: Any) -> None:
    assert not isinstance(value, float), "a float leaked into a paper structure"
    if isinstance(value, dict):
        for v in value.values():
            no_floats(v)
    elif isinstance(value, list):
        for v in value:
            no_floats(v)


def check_time(entry: dict[str, Any]) -> None:
    assert isinstance(entry["timestamp"], int)
    assert 1230940800000 < entry["timestamp"] < 2147483648000
    assert entry["datetime"] == EX.iso8601(entry["timestamp"])


def check_fee(fee: dict[str, Any] | None) -> None:
    if fee is not None:
        assert Precise.string_ge(str(fee["cost"]), "0")
        assert fee["currency"] == "USDT"


def check_order(order: dict[str, Any], symbol: str) -> None:
    assert set(order) >= ORDER_KEYS, ORDER_KEYS - set(order)
    no_floats(order)
    assert isinstance(order["id"], str)
    assert isinstance(order["info"], dict)
    check_time(order)
    assert order["symbol"] == symbol
    assert order["status"] in ("open", "closed", "canceled")
    assert order["side"] in ("buy", "sell")
    assert order["timeInForce"] in ("GTC", "IOC", "FOK", "PO")
    assert order["postOnly"] in (True, False)
    for key in ("amount", "filled", "remaining", "cost"):
        assert order[key] >= 0
    assert order["amount"] >= order["filled"]
    assert order["amount"] >= order["remaining"]
    for key in ("price", "average", "stopPrice"):
        assert order[key] is None or order[key] > 0
    check_fee(order["fee"])
    for trade in order["trades"]:
        check_trade(trade, symbol)
    view = {k: v for k, v in to_ccxt_numbers(order).items() if k != "trades"}
    assert {k: v for k, v in EX.safe_order(dict(view)).items() if k in view} == view


def check_trade(trade: dict[str, Any], symbol: str) -> None:
    assert set(trade) >= TRADE_KEYS, TRADE_KEYS - set(trade)
    assert set(EX.safe_trade({})) <= set(trade)
    no_floats(trade)
    check_time(trade)
    assert trade["symbol"] == symbol
    assert trade["side"] in ("buy", "sell")
    assert trade["takerOrMaker"] in ("taker", "maker")
    assert trade["price"] > 0
    assert trade["amount"] > 0
    assert trade["cost"] == trade["price"] * trade["amount"] * (
        EX_MARKETS[symbol]["contractSize"] or 1
    )
    check_fee(trade["fee"])
    view = to_ccxt_numbers(trade)
    assert {k: v for k, v in EX.safe_trade(dict(view)).items() if k in view} == view


def check_balance(balance: dict[str, Any]) -> None:
    assert {"info", "free", "used", "total"} <= set(balance)
    no_floats(balance)
    assert set(balance["total"]) == set(balance["free"]) == set(balance["used"])
    for code, total in balance["total"].items():
        free, used = balance["free"][code], balance["used"][code]
        assert total >= 0
        assert free >= 0
        assert used >= 0
        assert free + used == total
        assert balance[code] == {"free": free, "used": used, "total": total}
    view = to_ccxt_numbers(balance)
    assert EX.safe_balance(dict(view))["total"] == view["total"]


def check_position(position: dict[str, Any], symbol: str) -> None:
    assert set(position) >= POSITION_KEYS, POSITION_KEYS - set(position)
    no_floats(position)
    check_time(position)
    assert position["symbol"] == symbol
    assert position["side"] in ("long", "short")
    assert position["marginMode"] in ("cross", "isolated")
    assert 0 < position["leverage"] <= 200
    for key in ("initialMargin", "initialMarginPercentage", "entryPrice", "notional",
                "contracts", "contractSize", "markPrice", "collateral"):
        assert position[key] > 0, key
    view = to_ccxt_numbers(position)
    assert {k: v for k, v in EX.safe_position(dict(view)).items() if k in view} == view


EX_MARKETS: dict[str, dict[str, Any]] = {}


@pytest.fixture
async def venue(new_account, make_venue):  # type: ignore[no-untyped-def]
    venue = make_venue(await new_account())
    for symbol in ("BTC/USDT", "BTC/USDT:USDT"):
        await venue.set_price(symbol, D(50000))
    return venue


async def test_ccxt_calls_return_unified_structures(venue) -> None:  # type: ignore[no-untyped-def]
    markets = await venue.load_markets()
    EX_MARKETS.update(markets)
    for market in markets.values():
        assert set(market) >= MARKET_KEYS
        no_floats(market)
    assert {"BTC/USDT", "ETH/USDT", "SOL/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT",
            "SOL/USDT:USDT"} <= set(markets)
    assert markets["BTC/USDT:USDT"]["contractSize"] == 1
    ticker = await venue.fetch_ticker("BTC/USDT")
    assert set(ticker) >= TICKER_KEYS
    check_time(ticker)
    book = await venue.fetch_order_book("BTC/USDT", 5)
    assert len(book["asks"]) == 5
    assert book["bids"][0][0] <= book["asks"][0][0]

    bought = await venue.create_order("BTC/USDT", "market", "buy", D("0.2"), None,
                                      {"clientOrderId": "shape-1"})
    check_order(bought, "BTC/USDT")
    assert bought["status"] == "closed"
    resting = await venue.create_order("BTC/USDT", "limit", "sell", D("0.1"), D(51000))
    check_order(resting, "BTC/USDT")
    check_order(await venue.fetch_order(resting["id"], "BTC/USDT"), "BTC/USDT")
    check_order(await venue.fetch_order("", "BTC/USDT", {"clientOrderId": "shape-1"}),
                "BTC/USDT")
    (open_order,) = await venue.fetch_open_orders("BTC/USDT")
    check_order(open_order, "BTC/USDT")
    edited = await venue.edit_order(resting["id"], "BTC/USDT", "limit", "sell", D("0.15"),
                                    D(51500))
    check_order(edited, "BTC/USDT")
    assert (edited["amount"], edited["price"]) == (D("0.15"), D(51500))
    canceled = await venue.cancel_order(resting["id"], "BTC/USDT")
    check_order(canceled, "BTC/USDT")
    assert canceled["status"] == "canceled"
    short = await venue.create_order("BTC/USDT:USDT", "market", "sell", D("0.5"))
    check_order(short, "BTC/USDT:USDT")
    for trade in await venue.fetch_my_trades():
        check_trade(trade, trade["symbol"])
    check_balance(await venue.fetch_balance())
    (position,) = await venue.fetch_positions()
    check_position(position, "BTC/USDT:USDT")
    assert position["side"] == "short"
    for order in await venue.fetch_orders():
        check_order(order, order["symbol"])


async def test_bad_input_raises_ccxt_errors(venue) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ccxt.BadSymbol):
        await venue.create_order("DOGE/USDT", "market", "buy", D(1))
    with pytest.raises(ccxt.BadSymbol):
        await venue.fetch_ticker("DOGE/USDT")
    with pytest.raises(ccxt.InvalidOrder):  # below the minimum
        await venue.create_order("BTC/USDT", "market", "buy", D("0.00001"))
    with pytest.raises(ccxt.InvalidOrder):  # off the amount step
        await venue.create_order("BTC/USDT", "market", "buy", D("0.00015"))
    with pytest.raises(ccxt.InvalidOrder):  # off the price tick
        await venue.create_order("BTC/USDT", "limit", "buy", D("0.001"), D("40000.05"))
    with pytest.raises(ccxt.OrderNotFound):
        await venue.cancel_order("no-such-order", "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound):
        await venue.fetch_order("no-such-order", "BTC/USDT")
    with pytest.raises(ccxt.InsufficientFunds):
        await venue.create_order("BTC/USDT", "market", "buy", D(3))
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        await venue.create_order("BTC/USDT", "limit", "buy", D("0.01"), D(50000),
                                 {"postOnly": True})


async def test_float_view_passes_ccxt_number_parsing(venue) -> None:  # type: ignore[no-untyped-def]
    order = await venue.create_order("BTC/USDT", "market", "buy", D("0.01"))
    view = to_ccxt_numbers(order)
    assert isinstance(view["amount"], float)
    assert EX.safe_string(view, "amount") == "0.01"
