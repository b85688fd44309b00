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

from apps.paper.exchange.structures import to_ccxt_numbers

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


# --- CCXT's ticker and position validators (test_ticker.py / test_position.py), mirrored -------

TICKER_FORMAT = ("info", "symbol", "timestamp", "datetime", "high", "low", "bid", "bidVolume",
                 "ask", "askVolume", "vwap", "open", "close", "last", "previousClose", "change",
                 "percentage", "average", "baseVolume", "quoteVolume")  # fmt: skip
# test_ticker.py: what may be None (bid/ask may not: the paper quote is the bids-asks source too)
TICKER_MAY_BE_EMPTY = {"timestamp", "datetime", "open", "high", "low", "close", "last",
                       "baseVolume", "quoteVolume", "previousClose", "bidVolume", "askVolume",
                       "vwap", "change", "percentage", "average"}  # fmt: skip
POSITION_FORMAT = ("info", "symbol", "timestamp", "datetime", "initialMargin",
                   "initialMarginPercentage", "maintenanceMargin", "maintenanceMarginPercentage",
                   "entryPrice", "notional", "leverage", "unrealizedPnl", "contracts",
                   "contractSize", "marginRatio", "liquidationPrice", "markPrice", "collateral",
                   "marginMode", "side", "percentage")  # fmt: skip
POSITION_MAY_BE_EMPTY = {"liquidationPrice", "initialMargin", "initialMarginPercentage",
                         "maintenanceMargin", "maintenanceMarginPercentage", "marginRatio"}


def assert_structure(entry: dict[str, Any], keys: tuple[str, ...], empty: set[str]) -> None:
    """CCXT's `assert_structure`: every key present, not None unless allowed to be empty."""
    for key in keys:
        assert key in entry, key
        assert entry[key] is not None or key in empty, f"{key} is None"


def greater(entry: dict[str, Any], key: str, than: Any, or_equal: bool = False) -> None:
    """CCXT's `assert_greater(_or_equal)`: checked only when the value is set."""
    if entry.get(key) is not None:
        compare = Precise.string_ge if or_equal else Precise.string_gt
        assert compare(str(entry[key]), str(than)), f"{key} {entry[key]} vs {than}"


def check_ticker_rules(ticker: dict[str, Any], symbol: str) -> None:
    assert_structure(ticker, TICKER_FORMAT, TICKER_MAY_BE_EMPTY)
    check_time(ticker)
    for key in ("open", "high", "low", "close", "ask", "bid", "average"):
        greater(ticker, key, "0")
    for key in ("askVolume", "bidVolume", "vwap", "baseVolume", "quoteVolume"):
        greater(ticker, key, "0", or_equal=True)
    assert ticker["last"] == ticker["close"]
    greater(ticker, "ask", ticker["bid"])  # the spread rule: bid = ask fails CCXT's validator
    assert ticker["symbol"] == symbol


def check_position_rules(position: dict[str, Any], symbol: str) -> None:
    assert_structure(position, POSITION_FORMAT, POSITION_MAY_BE_EMPTY)
    check_time(position)
    assert position["symbol"] == symbol
    assert position["side"] in ("long", "short")
    assert position["marginMode"] in ("cross", "isolated")
    greater(position, "leverage", "0")
    assert Precise.string_le(str(position["leverage"]), "200")
    for key in ("initialMargin", "initialMarginPercentage", "maintenanceMargin",
                "maintenanceMarginPercentage", "entryPrice", "notional", "contracts",
                "contractSize", "marginRatio", "liquidationPrice", "markPrice", "collateral"):
        greater(position, key, "0")


async def test_ticker_and_position_pass_ccxt_validators(engine, new_account, clock) -> None:  # type: ignore[no-untyped-def]
    """With the market's default quote (`make run`: 2 bps spread, finite depth) the ticker has
    bid < ask; a leveraged perpetual position reports every field CCXT's validator requires,
    the margins and liquidation price included."""
    from apps.oms.config import PaperSettings
    from apps.paper.exchange.factory import build_paper_venue, market_book

    venue = build_paper_venue(await new_account(), engine, {}, clock=clock,
                              shared=market_book(PaperSettings()))  # fmt: skip
    for symbol in ("BTC/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"):
        await venue.set_price(symbol, D(50000) if symbol.startswith("BTC") else D(3000))
    for symbol in ("BTC/USDT", "BTC/USDT:USDT"):
        ticker = await venue.fetch_ticker(symbol)
        check_ticker_rules(ticker, symbol)
        no_floats(ticker)
    answer = await venue.set_leverage(5, "BTC/USDT:USDT")
    assert (answer["longLeverage"], answer["marginMode"]) == (5, "cross")
    assert (await venue.fetch_leverage("ETH/USDT:USDT"))["longLeverage"] == 10  # the default
    await venue.create_order("BTC/USDT:USDT", "market", "buy", D(5))  # 250,000 notional
    await venue.create_order("ETH/USDT:USDT", "market", "sell", D(2))
    long, short = sorted(await venue.fetch_positions(), key=lambda p: p["symbol"])
    check_position_rules(long, "BTC/USDT:USDT")
    check_position_rules(short, "ETH/USDT:USDT")
    assert (long["leverage"], short["leverage"]) == (5, 10)
    assert long["initialMargin"] == long["notional"] / 5
    assert long["maintenanceMargin"] == long["notional"] * D("0.005")
    assert 0 < long["liquidationPrice"] < long["entryPrice"]  # ~30,000: wallet ~100,000
    assert short["liquidationPrice"] > short["entryPrice"]
    for position in (long, short):
        view = to_ccxt_numbers(position)
        assert {k: v for k, v in EX.safe_position(dict(view)).items() if k in view} == view
    with pytest.raises(ccxt.InvalidOrder):
        await venue.set_leverage(5, "BTC/USDT")  # spot has no leverage
    with pytest.raises(ccxt.InvalidOrder):
        await venue.set_leverage(500, "BTC/USDT:USDT")
    with pytest.raises(ccxt.InsufficientFunds):  # 5 BTC at 1x: 250,000 of margin
        await venue.set_leverage(1, "BTC/USDT:USDT")
    assert (await venue.fetch_leverage("BTC/USDT:USDT"))["longLeverage"] == 5  # unchanged
