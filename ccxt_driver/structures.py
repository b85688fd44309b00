"""OMS wire views and gateway results → CCXT unified structures (pure: no I/O).

`ex` is the driver object (a CCXT `Exchange`): its `safe_*` helpers fill every unified key and
turn the gateway's exact decimal strings into `ex.number` (float by default, `str` or `Decimal`
when set), so the numbers are what CCXT itself would return. `info` is always the OMS object.
"""

from __future__ import annotations

from typing import Any

from ccxt.base.precise import Precise

Structure = dict[str, Any]
ORDER_STATUS = {
    "PENDING_SUBMIT": "open",
    "SUBMITTED": "open",
    "PARTIALLY_FILLED": "open",
    "FILLED": "closed",
    "CANCELED": "canceled",
    "REJECTED": "rejected",
    "EXPIRED": "expired",
}
OMS_STATUS = {"closed": "FILLED", "canceled": "CANCELED", "rejected": "REJECTED",
              "expired": "EXPIRED"}  # fmt: skip
POSITION_SIDE = {"buy": "long", "sell": "short"}
POSITION_KEYS = (
    "info", "id", "symbol", "timestamp", "datetime", "lastUpdateTimestamp", "initialMargin",
    "initialMarginPercentage", "maintenanceMargin", "maintenanceMarginPercentage", "entryPrice",
    "notional", "leverage", "unrealizedPnl", "realizedPnl", "contracts", "contractSize",
    "marginRatio", "liquidationPrice", "markPrice", "lastPrice", "collateral", "marginMode",
    "side", "percentage", "stopLossPrice", "takeProfitPrice", "hedged",
)  # fmt: skip


def ms(ex: Any, iso: Any) -> int | None:
    """Milliseconds of an ISO 8601 time (None stays None)."""
    return ex.parse8601(iso) if isinstance(iso, str) and iso else None


def _num(ex: Any, value: Any) -> Any:
    return None if value is None else ex.parse_number(str(value))


def _int(value: Any) -> int | None:
    """Gateway results carry numbers as strings, timestamps included."""
    try:
        return None if value is None else int(str(value).split(".")[0])
    except ValueError:
        return None


def _contract_size(ex: Any, symbol: str | None, given: Any = None) -> str:
    if given not in (None, ""):
        return str(given)
    market = (ex.markets or {}).get(symbol) if symbol else None
    size = market.get("contractSize") if market else None
    return ex.number_to_string(size) if size is not None else "1"


def _fee(ex: Any, cost: Any, currency: Any) -> dict[str, Any] | None:
    if cost is None:
        return None
    return {"cost": _num(ex, cost), "currency": currency}


def order(ex: Any, row: Structure) -> Structure:
    """A CCXT order from an OMS order view."""
    symbol = row.get("symbol")
    filled = str(row.get("filled_qty") or "0")
    amount = row.get("qty")
    average = row.get("avg_fill_price")
    status = ORDER_STATUS.get(str(row.get("status")))
    cost = None
    if average is not None:
        cost = Precise.string_mul(Precise.string_mul(filled, str(average)),
                                  _contract_size(ex, symbol))
    remaining = Precise.string_sub(str(amount), filled) if amount is not None else None
    trigger = row.get("trigger_price") or row.get("stop_price")
    updated = ms(ex, row.get("updated_at"))
    built = ex.safe_order({
        "info": row,
        "id": str(row["id"]),
        "clientOrderId": row.get("client_order_id"),
        "timestamp": ms(ex, row.get("created_at")),
        "datetime": row.get("created_at") and ex.iso8601(ms(ex, row.get("created_at"))),
        "lastTradeTimestamp": updated if Precise.string_gt(filled, "0") else None,
        "lastUpdateTimestamp": updated,
        "status": status,
        "symbol": symbol,
        "type": row.get("order_type"),
        "timeInForce": row.get("time_in_force"),
        "postOnly": bool(row.get("post_only")),
        "reduceOnly": bool(row.get("reduce_only")),
        "side": row.get("side"),
        "price": row.get("price") if row.get("price") is not None else average,
        "average": average,
        "amount": amount,
        "filled": filled,
        "remaining": remaining,
        "cost": cost,
        "trades": [],
        "fee": None,
        "fees": [],
        "stopPrice": trigger,
        "triggerPrice": trigger,
        "stopLossPrice": row.get("stop_loss"),
        "takeProfitPrice": row.get("stop_gain") or row.get("take_profit_price"),
    })
    fee = _fee(ex, row.get("fee"), row.get("fee_currency"))
    built["fee"], built["fees"] = fee, [fee] if fee else []
    return built  # type: ignore[no-any-return]


def trade(ex: Any, row: Structure) -> Structure:
    """A CCXT trade from an OMS deal view."""
    qty, price = str(row.get("qty")), str(row.get("price"))
    cost = Precise.string_mul(Precise.string_mul(qty, price),
                              _contract_size(ex, row.get("symbol"), row.get("contract_size")))
    when = ms(ex, row.get("executed_at"))
    fee = _fee(ex, row.get("fee"), row.get("fee_currency"))
    built = ex.safe_trade({
        "info": row,
        "id": str(row["id"]),
        "order": None if row.get("order_id") is None else str(row["order_id"]),
        "timestamp": when,
        "datetime": ex.iso8601(when) if when is not None else None,
        "symbol": row.get("symbol"),
        "type": None,
        "side": row.get("side"),
        "takerOrMaker": row.get("taker_or_maker"),
        "price": price,
        "amount": qty,
        "cost": cost,
        "fee": None,
        "fees": [],
    })
    built["fee"], built["fees"] = fee, [fee] if fee else []
    return built  # type: ignore[no-any-return]


def _margin(mark: Structure) -> Structure:
    """CCXT's margin keys from a `/oms/portfolio` entry (exact string arithmetic): initial
    margin = notional / leverage, percentage = unrealised PnL / initial margin x 100."""
    leverage, notional = mark.get("leverage"), mark.get("notional")
    unrealized = mark.get("unrealized_pnl")
    usable = leverage is not None and Precise.string_gt(str(leverage), "0")
    initial = (Precise.string_div(str(notional), str(leverage))
               if usable and notional is not None else None)  # fmt: skip
    percentage = None
    if initial is not None and unrealized is not None and Precise.string_gt(initial, "0"):
        percentage = Precise.string_mul(Precise.string_div(str(unrealized), initial), "100")
    return {
        "leverage": leverage, "marginMode": mark.get("margin_mode"),
        "collateral": mark.get("collateral"), "initialMargin": initial,
        "initialMarginPercentage": Precise.string_div("1", str(leverage)) if usable else None,
        "percentage": percentage,
    }  # fmt: skip


def position(ex: Any, row: Structure, mark: Structure | None = None, hedged: bool | None = None
             ) -> Structure:
    """A CCXT position from an OMS position view; `mark` = its `/oms/portfolio` entry (mark
    price, PnL and the margin fields CCXT requires)."""
    mark = mark or {}
    margin = _margin(mark)
    opened, updated = ms(ex, row.get("opened_at")), ms(ex, row.get("updated_at"))
    out: Structure = dict.fromkeys(POSITION_KEYS)
    out.update({
        "info": row,
        "id": str(row["id"]),
        "symbol": row.get("symbol"),
        "timestamp": opened,
        "datetime": ex.iso8601(opened) if opened is not None else None,
        "lastUpdateTimestamp": updated,
        "side": POSITION_SIDE.get(str(row.get("side"))),
        "contracts": _num(ex, row.get("qty")),
        "contractSize": _num(ex, row.get("contract_size")),
        "entryPrice": _num(ex, row.get("avg_price")),
        "realizedPnl": _num(ex, row.get("realized_pnl")),
        "markPrice": _num(ex, mark.get("mark_price")),
        "lastPrice": _num(ex, mark.get("mark_price")),
        "notional": _num(ex, mark.get("notional")),
        "unrealizedPnl": _num(ex, mark.get("unrealized_pnl")),
        "stopLossPrice": _num(ex, row.get("stop_loss")),
        "takeProfitPrice": _num(ex, row.get("stop_gain")),
        "hedged": hedged,
        **{key: _num(ex, value) for key, value in margin.items() if key != "marginMode"},
        "marginMode": margin["marginMode"],
    })
    return out


# --- gateway (/ccxt) results: numbers arrive as exact strings --------------------------------


def market(ex: Any, raw: Structure) -> Structure:
    out = dict(raw)
    for key in ("taker", "maker", "contractSize"):
        out[key] = _num(ex, raw.get(key))
    out["precision"] = {k: _num(ex, v) for k, v in (raw.get("precision") or {}).items()}
    out["limits"] = {
        name: {k: _num(ex, v) for k, v in (entry or {}).items()}
        for name, entry in (raw.get("limits") or {}).items()
    }
    return out


def ticker(ex: Any, raw: Structure) -> Structure:
    strings = {k: (str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v)
               for k, v in raw.items()}
    strings["timestamp"] = _int(raw.get("timestamp"))
    return ex.safe_ticker(strings)  # type: ignore[no-any-return]


def order_book(ex: Any, raw: Structure) -> Structure:
    out = dict(raw, timestamp=_int(raw.get("timestamp")), nonce=_int(raw.get("nonce")))
    for side in ("bids", "asks"):
        out[side] = [[_num(ex, v) for v in level] for level in raw.get(side) or []]
    return out


def balance(ex: Any, raw: Structure) -> Structure:
    skip = {"info", "timestamp", "datetime", "free", "used", "total", "debt"}
    accounts = {
        currency: {k: None if v is None else str(v) for k, v in entry.items()}
        for currency, entry in raw.items()
        if currency not in skip and isinstance(entry, dict)
    }
    built = ex.safe_balance({"info": raw.get("info", raw), "timestamp": _int(raw.get("timestamp")),
                             "datetime": raw.get("datetime"), **accounts})
    return built  # type: ignore[no-any-return]


def public_trade(ex: Any, raw: Structure) -> Structure:
    strings = {k: (str(v) if k in ("price", "amount", "cost") and v is not None else v)
               for k, v in raw.items()}
    fee = raw.get("fee")
    built = ex.safe_trade({**strings, "fee": None, "timestamp": _int(raw.get("timestamp"))})
    built["fee"] = _fee(ex, fee.get("cost"), fee.get("currency")) if isinstance(fee, dict) else None
    return built  # type: ignore[no-any-return]


def ohlcv(ex: Any, rows: list[list[Any]]) -> list[list[Any]]:
    return [[int(r[0]), *(_num(ex, v) for v in r[1:6])] for r in rows]


def trading_fee(ex: Any, raw: Structure) -> Structure:
    """CCXT's TradingFeeInterface from the venue's (numbers as strings on the wire)."""
    return {
        "info": raw.get("info", raw), "symbol": raw.get("symbol"),
        "maker": _num(ex, raw.get("maker")), "taker": _num(ex, raw.get("taker")),
        "percentage": raw.get("percentage", True), "tierBased": raw.get("tierBased", False),
    }  # fmt: skip


def leverage_tiers(ex: Any, raw: list[Structure], cum: list[str] | None = None
                   ) -> list[Structure]:
    """CCXT's LeverageTier list of one market; `cum` adds Binance's maintenance amount to each
    tier's `info` (the driver standing for Binance, `identity.binance_cum`)."""
    out = []
    for index, tier in enumerate(raw):
        info = dict(tier.get("info") or {})
        if cum is not None and "cum" not in info:
            info["cum"] = cum[index]
        out.append({
            "tier": _num(ex, tier.get("tier")), "symbol": tier.get("symbol"),
            "currency": tier.get("currency"),
            **{key: _num(ex, tier.get(key)) for key in
               ("minNotional", "maxNotional", "maintenanceMarginRate", "maxLeverage")},
            "info": info,
        })  # fmt: skip
    return out


def funding_payment(ex: Any, row: Structure, currency: str | None) -> Structure:
    """CCXT's FundingHistory entry from an OMS funding deal (`pnl` = the payment, negative
    when paid)."""
    when = ms(ex, row.get("executed_at"))
    return {
        "info": row, "symbol": row.get("symbol"), "code": currency, "timestamp": when,
        "datetime": ex.iso8601(when) if when is not None else None,
        "id": str(row.get("exchange_trade_id") or row["id"]), "amount": _num(ex, row.get("pnl")),
    }  # fmt: skip
