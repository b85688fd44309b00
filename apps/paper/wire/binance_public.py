"""Binance spot public data as pure mappings: exchangeInfo from the paper markets, ticker, depth
and klines from the engine's CCXT-shaped results."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from apps.oms.domain.markets import Market
from apps.paper.wire.binance_spot import (
    DEPTH_LIMITS,
    INTERVALS,
    MAX_PRICE,
    MAX_QTY,
    Json,
    market_id,
    num,
)
from apps.paper.wire.signing import WireError

#: request weights of the spot endpoints (Binance's, for the `X-MBX-USED-WEIGHT-1M` header)
WEIGHT_LIMIT_1M = 6000
INTERVAL_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000,
               "M": 2_592_000_000}  # fmt: skip


def _places(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(0, -int(exponent))


def symbol_json(m: Market) -> Json:
    """One `symbols` entry of exchangeInfo, with the filters Binance sends (and CCXT reads)."""
    return {
        "symbol": market_id(m), "status": "TRADING",
        "baseAsset": m.base, "baseAssetPrecision": 8,
        "quoteAsset": m.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT",
                       "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": False, "ocoAllowed": True, "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": False, "allowTrailingStop": False,
        "cancelReplaceAllowed": False, "amendAllowed": False,
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": num(m.price_step),
             "maxPrice": num(MAX_PRICE), "tickSize": num(m.price_step)},
            {"filterType": "LOT_SIZE", "minQty": num(m.min_amount), "maxQty": num(MAX_QTY),
             "stepSize": num(m.amount_step)},
            {"filterType": "MARKET_LOT_SIZE", "minQty": num(m.min_amount),
             "maxQty": num(MAX_QTY), "stepSize": num(m.amount_step)},
            {"filterType": "NOTIONAL", "minNotional": num(m.min_cost), "applyMinToMarket": True,
             "maxNotional": num(Decimal(9000000)), "applyMaxToMarket": False,
             "avgPriceMins": 5},
        ],
        "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }  # fmt: skip


def exchange_info(markets: Mapping[str, Market], now_ms: int,
                  wanted: Iterable[str] | None = None) -> Json:  # fmt: skip
    """GET /api/v3/exchangeInfo (all spot markets, or the `symbol`/`symbols` asked)."""
    chosen = list(markets) if wanted is None else list(wanted)
    if any(s not in markets for s in chosen):
        raise WireError(400, -1121, "Invalid symbol.")
    return {
        "timezone": "UTC",
        "serverTime": now_ms,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": WEIGHT_LIMIT_1M},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
        ],
        "exchangeFilters": [],
        "symbols": [symbol_json(markets[s]) for s in chosen],
    }  # fmt: skip


def wanted_symbols(params: Mapping[str, str]) -> list[str] | None:
    """`symbol=BTCUSDT` or `symbols=["BTCUSDT","ETHUSDT"]`, None for all."""
    if params.get("symbol"):
        return [params["symbol"].upper()]
    raw = params.get("symbols")
    if not raw:
        return None
    names = raw.strip("[]").replace('"', "").split(",")
    return [n.strip().upper() for n in names if n.strip()]


def ticker_price_json(m: Market, ticker: Mapping[str, Any]) -> Json:
    return {"symbol": market_id(m), "price": num(ticker["last"])}


def ticker_24hr_json(m: Market, ticker: Mapping[str, Any], candles: Sequence[Sequence[Any]],
                     now_ms: int) -> Json:  # fmt: skip
    """GET /api/v3/ticker/24hr from the quote and the last day's hourly candles."""
    last = ticker["last"]
    opened = candles[0][1] if candles else last
    high = max([c[2] for c in candles] + [last])
    low = min([c[3] for c in candles] + [last])
    volume = sum((Decimal(c[5]) for c in candles), Decimal(0))
    change = last - opened
    return {
        "symbol": market_id(m), "priceChange": num(change),
        "priceChangePercent": f"{(change * 100 / opened).quantize(Decimal('0.001'))}",
        "weightedAvgPrice": num(last), "prevClosePrice": num(opened), "lastPrice": num(last),
        "lastQty": num(m.min_amount), "bidPrice": num(ticker["bid"]), "bidQty": num(Decimal(1)),
        "askPrice": num(ticker["ask"]), "askQty": num(Decimal(1)), "openPrice": num(opened),
        "highPrice": num(high), "lowPrice": num(low), "volume": num(volume),
        "quoteVolume": num(volume * last), "openTime": now_ms - 86_400_000,
        "closeTime": now_ms, "firstId": -1, "lastId": -1, "count": 0,
    }  # fmt: skip


def depth_limit(params: Mapping[str, str]) -> int:
    text = params.get("limit") or "100"
    if not text.isdigit() or int(text) not in DEPTH_LIMITS:
        raise WireError(400, -1100, "Illegal characters found in parameter 'limit'; legal range "
                                    "is '5, 10, 20, 50, 100, 500, 1000, 5000'.")  # fmt: skip
    return int(text)


def depth_json(book: Mapping[str, Any], update_id: int) -> Json:
    def side(levels: list[list[Decimal]]) -> list[list[str]]:
        return [[num(p), num(q)] for p, q in levels]

    return {"lastUpdateId": update_id, "bids": side(book["bids"]), "asks": side(book["asks"])}


def interval_ms(interval: str) -> int:
    if interval not in INTERVALS:
        raise WireError(400, -1120, "Invalid interval.")
    return int(interval[:-1]) * INTERVAL_MS[interval[-1]]


def kline_json(row: Sequence[Any], span_ms: int) -> list[Any]:
    """One kline: open time, OHLC, volume, close time, quote volume, trades, taker volumes."""
    opened, o, h, lo, c, v = row[:6]
    volume = Decimal(v)
    return [opened, num(o), num(h), num(lo), num(c), num(volume), opened + span_ms - 1,
            num(volume * Decimal(c)), 0, num(Decimal(0)), num(Decimal(0)), "0"]  # fmt: skip


def book_ticker_json(m: Market, ticker: Mapping[str, Any], now_ms: int) -> Json:
    """/api/v3/ticker/bookTicker and /fapi/v1/ticker/bookTicker: the best bid and ask."""
    return {"symbol": market_id(m), "bidPrice": num(ticker["bid"]), "bidQty": num(Decimal(1)),
            "askPrice": num(ticker["ask"]), "askQty": num(Decimal(1)), "time": now_ms}  # fmt: skip


def premium_index_json(m: Market, ticker: Mapping[str, Any], now_ms: int) -> Json:
    """/fapi/v1/premiumIndex: mark = index = last (the paper has one price); the served venue
    charges no funding, so its rate is 0, next time the next 8-hour boundary."""
    eight_hours = 8 * 3_600_000
    return {"symbol": market_id(m), "markPrice": num(ticker["last"]),
            "indexPrice": num(ticker["last"]), "estimatedSettlePrice": num(ticker["last"]),
            "lastFundingRate": num(Decimal(0)), "interestRate": num(Decimal(0)),
            "nextFundingTime": (now_ms // eight_hours + 1) * eight_hours, "time": now_ms}  # fmt: skip
