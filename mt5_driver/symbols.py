"""Symbols: a gateway market (CCXT's market structure) and its ticker as MetaTrader's
`SymbolInfo` and `Tick`, and the depth of market as `BookInfo` rows. Pure."""

from __future__ import annotations

import typing
from decimal import Decimal
from typing import Any

from mt5_driver import constants as c
from mt5_driver.convert import digits, num
from mt5_driver.session import Market
from mt5_driver.structures import BookInfo, SymbolInfo, Tick

# MetaTrader's symbol flags (the official package does not export them)
FILLING_FOK, FILLING_IOC, FILLING_BOC = 1, 2, 4
EXPIRATION_GTC = 1
ORDER_MARKET, ORDER_LIMIT, ORDER_STOP, ORDER_STOP_LIMIT, ORDER_SL, ORDER_TP, ORDER_CLOSEBY = (
    1, 2, 4, 8, 16, 32, 64)  # fmt: skip
VOLUME_MAX = 1e9  # markets without a maximum amount
BOOK_DEPTH = 10
# the float properties with no meaning on a crypto venue (sessions, options, swaps, margins)
ZEROS = {name: 0.0 for name, kind in typing.get_type_hints(SymbolInfo).items() if kind is float}


def tick_of(ticker: dict[str, Any]) -> Tick:
    """The last quote: bid, ask, last, its time; flags say which prices it carries."""
    time_ms = int(ticker.get("timestamp") or 0)
    flags = ((c.TICK_FLAG_BID if ticker.get("bid") is not None else 0)
             | (c.TICK_FLAG_ASK if ticker.get("ask") is not None else 0)
             | (c.TICK_FLAG_LAST if ticker.get("last") is not None else 0))  # fmt: skip
    return Tick(time=time_ms // 1000, bid=num(ticker.get("bid")), ask=num(ticker.get("ask")),
                last=num(ticker.get("last")), volume=0, time_msc=time_ms, flags=flags,
                volume_real=0.0)  # fmt: skip


def _order_mode(hedging: bool) -> int:
    flags = ORDER_MARKET | ORDER_LIMIT | ORDER_STOP | ORDER_STOP_LIMIT | ORDER_SL | ORDER_TP
    return flags | ORDER_CLOSEBY if hedging else flags


def _calc_mode(market: Market) -> int:
    # spot: the full value is paid (exchange stocks); linear swaps: leveraged like a CFD
    return c.SYMBOL_CALC_MODE_EXCH_STOCKS if market.spot else c.SYMBOL_CALC_MODE_CFDLEVERAGE


def _trade_mode(market: Market) -> int:
    if market.raw.get("active") is False:
        return c.SYMBOL_TRADE_MODE_DISABLED
    # spot holds coins: selling what is not held (a short) is not possible
    return c.SYMBOL_TRADE_MODE_LONGONLY if market.spot else c.SYMBOL_TRADE_MODE_FULL


def _prices(ticker: dict[str, Any]) -> dict[str, float]:
    high, low = num(ticker.get("high")), num(ticker.get("low"))
    return {"bid": num(ticker.get("bid")), "ask": num(ticker.get("ask")),
            "last": num(ticker.get("last")), "bidhigh": high, "bidlow": low, "askhigh": high,
            "asklow": low, "lasthigh": high, "lastlow": low}  # fmt: skip


def _spread(ticker: dict[str, Any], tick: Decimal) -> int:
    bid, ask = ticker.get("bid"), ticker.get("ask")
    if bid is None or ask is None:
        return 0
    return int((Decimal(str(ask)) - Decimal(str(bid))) / tick)


def _volumes(market: Market) -> dict[str, float]:
    step = market.step
    minimum = market.dec("limits", "amount", "min") or step
    maximum = market.dec("limits", "amount", "max")
    return {"volume_min": float(minimum), "volume_step": float(step),
            "volume_max": float(maximum) if maximum else VOLUME_MAX, "volume_limit": 0.0}


def _texts(market: Market, exchange_id: str) -> dict[str, str]:
    raw = market.raw
    quote = str(raw.get("quote") or "")
    kind = str(raw.get("type") or "spot").capitalize()
    return {
        "basis": "", "category": kind, "currency_base": str(raw.get("base") or ""),
        "currency_profit": quote, "currency_margin": str(raw.get("settle") or quote),
        "bank": "", "description": f"{raw.get('base')}/{quote} {kind.lower()} on {exchange_id}",
        "exchange": exchange_id, "formula": "", "isin": "", "name": market.name, "page": "",
        "path": f"{kind}\\{market.name}",
    }  # fmt: skip


def symbol_info(market: Market, ticker: dict[str, Any], *, visible: bool, hedging: bool,
                exchange_id: str) -> SymbolInfo:  # fmt: skip
    """MetaTrader's view of one market: a lot is one unit of the market's amount (a coin on
    spot, a contract on swaps), `point` the price tick, prices and tick values in the quote."""
    tick, size = market.tick, market.contract_size
    tick_value = float(tick * size)
    fields: dict[str, Any] = {
        **ZEROS, **_prices(ticker), **_volumes(market), **_texts(market, exchange_id),
        "custom": False, "chart_mode": c.SYMBOL_CHART_MODE_LAST, "select": visible,
        "visible": visible, "session_deals": 0, "session_buy_orders": 0,
        "session_sell_orders": 0, "volume": 0, "volumehigh": 0, "volumelow": 0,
        "time": int(ticker.get("timestamp") or 0) // 1000, "digits": digits(tick),
        "spread": _spread(ticker, tick), "spread_float": True, "ticks_bookdepth": BOOK_DEPTH,
        "trade_calc_mode": _calc_mode(market), "trade_mode": _trade_mode(market),
        "start_time": 0, "expiration_time": 0, "trade_stops_level": 0,
        "trade_freeze_level": 0, "trade_exemode": c.SYMBOL_TRADE_EXECUTION_EXCHANGE,
        "swap_mode": c.SYMBOL_SWAP_MODE_DISABLED if market.spot
        else c.SYMBOL_SWAP_MODE_CURRENCY_DEPOSIT,
        "swap_rollover3days": c.DAY_OF_WEEK_SUNDAY, "margin_hedged_use_leg": False,
        "expiration_mode": EXPIRATION_GTC, "filling_mode": FILLING_FOK | FILLING_IOC | FILLING_BOC,
        "order_mode": _order_mode(hedging), "order_gtc_mode": c.SYMBOL_ORDERS_GTC,
        "option_mode": 0, "option_right": 0, "volume_real": num(ticker.get("baseVolume")),
        "point": float(tick), "trade_tick_value": tick_value,
        "trade_tick_value_profit": tick_value, "trade_tick_value_loss": tick_value,
        "trade_tick_size": float(tick), "trade_contract_size": float(size),
        "price_change": num(ticker.get("percentage")),
    }  # fmt: skip
    return SymbolInfo(**fields)


def book_rows(book: dict[str, Any]) -> tuple[BookInfo, ...]:
    """The depth of market as MetaTrader lists it: sells from the highest price down to the
    best ask, then buys from the best bid down; volumes in lots."""
    asks = sorted(((Decimal(str(p)), Decimal(str(v))) for p, v, *_ in book.get("asks") or []),
                  reverse=True)  # fmt: skip
    bids = sorted(((Decimal(str(p)), Decimal(str(v))) for p, v, *_ in book.get("bids") or []),
                  reverse=True)  # fmt: skip
    rows = [BookInfo(c.BOOK_TYPE_SELL, float(p), int(v), float(v)) for p, v in asks]
    rows += [BookInfo(c.BOOK_TYPE_BUY, float(p), int(v), float(v)) for p, v in bids]
    return tuple(rows)
