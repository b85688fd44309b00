"""CCXT unified structures built from paper venue values (numbers stay `Decimal`).

Every unified key CCXT's own `safe_order` / `safe_trade` / `safe_position` / `safe_ticker` /
`safe_market_structure` produce is present; `info` carries the raw paper record (strings).
`to_ccxt_numbers` gives the float view plain CCXT returns, for CCXT's validators or clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from apps.oms.domain.markets import Market
from apps.oms.domain.money import to_plain
from apps.paper.domain.book import Book, Quote
from apps.paper.domain.margin import Margins
from apps.paper.domain.state import (
    PaperOrder,
    VenueAccount,
    VenueFill,
    VenuePosition,
    average_price,
)
from apps.paper.domain.tiers import DEFAULT_TIERS, Tier

Structure = dict[str, Any]


def iso8601(ms: int | None) -> str | None:
    """CCXT's datetime text: `2026-11-22T02:11:16.123Z`."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def raw(record: object) -> dict[str, Any]:
    """The `info` payload: the paper record's fields, Decimals as plain strings."""
    fields = getattr(record, "__dataclass_fields__", {})
    out: dict[str, Any] = {}
    for name in fields:
        value = getattr(record, name)
        out[name] = to_plain(value) if isinstance(value, Decimal) else value
    return out


def market_structure(m: Market, tiers: tuple[Tier, ...] = DEFAULT_TIERS) -> Structure:
    """A CCXT market; a swap's leverage limits are those of leverage tier 1."""
    return {
        "id": m.market_id,
        "lowercaseId": m.market_id.lower(),
        "symbol": m.symbol,
        "base": m.base,
        "quote": m.quote,
        "settle": m.settle,
        "baseId": m.base,
        "quoteId": m.quote,
        "settleId": m.settle,
        "type": m.type,
        "spot": not m.is_swap,
        "margin": False,
        "swap": m.is_swap,
        "future": False,
        "option": False,
        "index": None,
        "active": True,
        "contract": m.is_swap,
        "linear": True if m.is_swap else None,
        "inverse": False if m.is_swap else None,
        "subType": "linear" if m.is_swap else None,
        "taker": m.taker_fee,
        "maker": m.maker_fee,
        "contractSize": m.contract_size if m.is_swap else None,
        "expiry": None,
        "expiryDatetime": None,
        "strike": None,
        "optionType": None,
        "created": None,
        "marginModes": {"cross": m.is_swap, "isolated": m.is_swap},
        "precision": {
            "amount": m.amount_step,
            "price": m.price_step,
            "cost": None,
            "base": None,
            "quote": None,
        },
        "limits": {
            "leverage": {
                "min": Decimal(1) if m.is_swap else None,
                "max": Decimal(tiers[0].max_leverage) if m.is_swap else None,
            },
            "amount": {"min": m.min_amount, "max": None},
            "price": {"min": m.price_step, "max": None},
            "cost": {"min": m.min_cost, "max": None},
        },
        "info": raw(m),
    }


def fee_structure(cost: Decimal, currency: str) -> dict[str, Any]:
    return {"cost": cost, "currency": currency}


def trade_structure(f: VenueFill) -> Structure:
    fee = fee_structure(f.fee, f.fee_currency)
    return {
        "info": raw(f),
        "id": f.trade_id,
        "timestamp": f.timestamp_ms,
        "datetime": iso8601(f.timestamp_ms),
        "symbol": f.symbol,
        "order": f.order_id,
        "type": None,
        "side": f.side,
        "takerOrMaker": f.taker_or_maker,
        "price": f.price,
        "amount": f.qty,
        "cost": f.cost,
        "fee": fee,
        "fees": [fee],
    }


def order_info(o: PaperOrder) -> dict[str, Any]:
    """The raw record of an order; `reserve_group` only on an order of a group (an order alone
    reads as it always has)."""
    info = raw(o)
    if o.reserve_group is None:
        del info["reserve_group"]
    return info


def order_structure(o: PaperOrder, m: Market, fills: list[VenueFill] | None = None) -> Structure:
    fee = fee_structure(o.fee, o.fee_currency)
    trigger = o.trigger_price
    return {
        "info": order_info(o),
        "id": o.order_id,
        "clientOrderId": o.client_order_id,
        "timestamp": o.created_ms,
        "datetime": iso8601(o.created_ms),
        "lastTradeTimestamp": o.last_trade_ms,
        "lastUpdateTimestamp": o.updated_ms,
        "symbol": o.symbol,
        "type": o.type,
        "timeInForce": o.time_in_force,
        "postOnly": o.post_only,
        "reduceOnly": o.reduce_only,
        "side": o.side,
        "price": o.price if o.price is not None else average_price(o, m.contract_size),
        "stopPrice": trigger,
        "triggerPrice": trigger,
        "stopLossPrice": trigger if o.trigger_direction and _is_stop(o) else None,
        "takeProfitPrice": trigger if o.trigger_direction and not _is_stop(o) else None,
        "amount": o.qty,
        "cost": o.cost,
        "average": average_price(o, m.contract_size),
        "filled": o.filled,
        "remaining": o.remaining if o.is_open else Decimal(0),
        "status": o.status,
        "fee": fee,
        "fees": [fee],
        "trades": [trade_structure(f) for f in fills or ()],
    }


def _is_stop(o: PaperOrder) -> bool:
    """A trigger that fires on the adverse move (buy on a rise, sell on a fall) is a stop."""
    return (o.side == "buy") == (o.trigger_direction == "rise")


def balance_structure(state: VenueAccount, used: Mapping[str, Decimal], now_ms: int) -> Structure:
    result: Structure = {
        "info": {c: to_plain(t) for c, t in state.balances.items()},
        "timestamp": now_ms,
        "datetime": iso8601(now_ms),
        "free": {},
        "used": {},
        "total": {},
    }
    for currency, total in sorted(state.balances.items()):
        held = used.get(currency, Decimal(0))
        entry = {"free": total - held, "used": held, "total": total}
        result[currency] = entry
        for key, value in entry.items():
            result[key][currency] = value
    return result


def position_structure(p: VenuePosition, m: Market, mark: Decimal, margins: Margins,
                       now_ms: int, hedged: bool = False) -> Structure:
    """A CCXT position (linear; one side of a hedge when `hedged`): margins at `mark` from
    `margin.margins`; `collateral` is the settle wallet (cross) or the position's own margin
    (isolated); the liquidation price is reported, not enforced."""
    contracts = abs(p.qty)
    notional = contracts * m.contract_size * mark
    return {
        "info": {**raw(p), "marginMode": margins.mode},
        "id": None,
        "symbol": p.symbol,
        "timestamp": now_ms,
        "datetime": iso8601(now_ms),
        "lastUpdateTimestamp": p.updated_ms,
        "initialMargin": margins.initial,
        "initialMarginPercentage": Decimal(1) / p.leverage,
        "maintenanceMargin": margins.maintenance,
        "maintenanceMarginPercentage": margins.maintenance_rate,
        "entryPrice": p.entry_price,
        "notional": notional,
        "leverage": Decimal(p.leverage),
        "unrealizedPnl": margins.unrealized,
        "realizedPnl": p.realized_pnl,
        "contracts": contracts,
        "contractSize": m.contract_size,
        "marginRatio": margins.ratio,
        "liquidationPrice": margins.liquidation_price,
        "markPrice": mark,
        "lastPrice": mark,
        "collateral": margins.collateral,
        "marginMode": margins.mode,
        "side": p.side,
        "percentage": margins.unrealized / margins.initial * 100 if margins.initial else None,
        "stopLossPrice": None,
        "takeProfitPrice": None,
        "hedged": hedged,
    }


def leverage_structure(symbol: str, leverage: int, margin_mode: str = "cross") -> Structure:
    """CCXT's leverage structure (`fetch_leverage`, and what `set_leverage` answers)."""
    return {"info": {"symbol": symbol, "leverage": leverage, "marginMode": margin_mode},
            "symbol": symbol, "marginMode": margin_mode, "longLeverage": leverage,
            "shortLeverage": leverage}


def position_mode_structure(hedged: bool) -> Structure:
    """What CCXT's `fetch_position_mode` answers: `hedged` True in hedge mode."""
    return {"info": {"hedged": hedged}, "hedged": hedged}


def margin_mode_structure(symbol: str, margin_mode: str) -> Structure:
    """CCXT's MarginMode structure (`fetch_margin_mode`, `set_margin_mode`)."""
    return {"info": {"symbol": symbol, "marginMode": margin_mode}, "symbol": symbol,
            "marginMode": margin_mode}


def leverage_tier_structures(m: Market, tiers: tuple[Tier, ...]) -> list[Structure]:
    """CCXT's LeverageTier list of a swap (`info` carries Binance's names, `cum` included:
    freqtrade reads the maintenance amount from it)."""
    return [{
        "tier": Decimal(t.tier),
        "symbol": m.symbol,
        "currency": m.settle or m.quote,
        "minNotional": t.min_notional,
        "maxNotional": t.max_notional,
        "maintenanceMarginRate": t.maintenance_rate,
        "maxLeverage": Decimal(t.max_leverage),
        "info": {"bracket": t.tier, "initialLeverage": t.max_leverage,
                 "notionalFloor": to_plain(t.min_notional),
                 "notionalCap": to_plain(t.max_notional),
                 "maintMarginRatio": to_plain(t.maintenance_rate),
                 "cum": to_plain(t.maintenance_amount)},
    } for t in tiers]


def trading_fee_structure(m: Market) -> Structure:
    """CCXT's TradingFeeInterface: the market's flat maker / taker rates (fractions)."""
    return {"info": {"symbol": m.symbol, "maker": to_plain(m.maker_fee),
                     "taker": to_plain(m.taker_fee)},
            "symbol": m.symbol, "maker": m.maker_fee, "taker": m.taker_fee,
            "percentage": True, "tierBased": False}


def ticker_structure(q: Quote) -> Structure:
    return {
        "symbol": q.symbol,
        "info": raw(q),
        "timestamp": q.timestamp_ms,
        "datetime": iso8601(q.timestamp_ms),
        "high": None,
        "low": None,
        "bid": q.bid,
        "bidVolume": None,
        "ask": q.ask,
        "askVolume": None,
        "vwap": None,
        "open": None,
        "close": q.last,
        "last": q.last,
        "previousClose": None,
        "change": None,
        "percentage": None,
        "average": None,
        "baseVolume": None,
        "quoteVolume": None,
        "markPrice": q.last,
        "indexPrice": None,
    }


def order_book_structure(book: Book, display: Decimal, limit: int | None, now_ms: int) -> Structure:
    """Levels as [price, amount]; an unlimited level shows `display` as its amount."""

    def side(levels: tuple[Any, ...]) -> list[list[Decimal]]:
        rows = [[lv.price, display if lv.volume is None else lv.volume] for lv in levels]
        return rows[:limit] if limit else rows

    return {
        "symbol": book.symbol,
        "bids": side(book.bids),
        "asks": side(book.asks),
        "timestamp": now_ms,
        "datetime": iso8601(now_ms),
        "nonce": None,
    }


def to_ccxt_numbers(value: Any, number: type = float) -> Any:
    """A copy with every Decimal converted by `number` (float = what plain CCXT returns).

    For display and CCXT's structure validators only: never feed the result to book-keeping.
    """
    if isinstance(value, Decimal):
        return number(value)
    if isinstance(value, dict):
        return {k: v if k == "info" else to_ccxt_numbers(v, number) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_ccxt_numbers(v, number) for v in value]
    return value
