"""Every driver method written once, as a plan: a generator that yields gateway `Call`s and gets
their decoded JSON back (sans-I/O). The sync and the asyncio exchange only differ in how they
run a plan (`OmsCcxtExchange._run` / `OmsCcxtProExchange._run`).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import ccxt

from ccxt_driver import identity, structures
from ccxt_driver.errors import exception_for

T = TypeVar("T")
Structure = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    order: bool = False  # an order command: error codes map to order errors


Plan = Generator[Call, Any, T]
# OMS fields of send_order taken out of CCXT `params` (CCXT spelling → OMS field)
ORDER_FIELDS = {
    "strategy_id": "strategy_id", "strategyId": "strategy_id",
    "position_id": "position_id", "positionId": "position_id",
    "reason": "reason", "comment": "comment",
    "oms_stop_loss": "oms_stop_loss", "oms_stop_gain": "oms_stop_gain",
    "reduce_only": "reduce_only", "reduceOnly": "reduce_only",
    "clientOrderId": "client_order_id", "client_order_id": "client_order_id",
    "postOnly": "post_only", "post_only": "post_only",
    "timeInForce": "time_in_force", "time_in_force": "time_in_force",
    "triggerPrice": "trigger_price", "trigger_price": "trigger_price",
    "stopPrice": "stop_price", "stop_price": "stop_price",
    "takeProfitPrice": "take_profit_price", "take_profit_price": "take_profit_price",
    "trailingAmount": "trailing_amount", "trailing_amount": "trailing_amount",
    "trailingPercent": "trailing_percent", "trailing_percent": "trailing_percent",
    "trailingTriggerPrice": "trailing_trigger_price",
    "trailing_trigger_price": "trailing_trigger_price",
    "triggerPriceType": "trigger_price_type", "trigger_price_type": "trigger_price_type",
    "expireAt": "expire_at", "expire_at": "expire_at", "emulation": "emulation",
    "stopLoss": "bracket_stop_loss", "bracket_stop_loss": "bracket_stop_loss",
    "takeProfit": "bracket_take_profit", "bracket_take_profit": "bracket_take_profit",
    "timeLimit": "bracket_time_limit", "bracket_time_limit": "bracket_time_limit",
    "oco_orders": "oco_orders", "oto_orders": "oto_orders",
}  # fmt: skip
BRACKET_FIELDS = frozenset({"bracket_stop_loss", "bracket_take_profit"})
DECIMAL_FIELDS = frozenset({
    "oms_stop_loss", "oms_stop_gain", "trigger_price", "stop_price", "take_profit_price",
    "trailing_amount", "trailing_percent", "trailing_trigger_price", "qty", "price", "new_qty", "new_price",
})  # fmt: skip
PAGE_SIZE = 500


def decimal_text(value: Any) -> str | None:
    """An exact decimal string for the wire (floats through their shortest repr)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("a number is expected, not a boolean")
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def bracket_exit(value: Any) -> dict[str, Any]:
    """CCXT's `stopLoss` / `takeProfit`: a trigger price, or `{triggerPrice, price?}`."""
    if not isinstance(value, dict):
        return {"trigger_price": decimal_text(value)}
    trigger = value.get("triggerPrice", value.get("trigger_price", value.get("stopPrice")))
    unknown = set(value) - {"triggerPrice", "trigger_price", "stopPrice", "price", "type"}
    if unknown:
        raise ccxt.NotSupported(f"the gateway's bracket exit takes triggerPrice and price; "
                                f"{', '.join(sorted(unknown))} would be dropped")
    if value.get("type") not in (None, "market", "limit"):
        raise ccxt.NotSupported("a bracket exit is a market or limit order")
    exit_ = {"trigger_price": decimal_text(trigger), "price": decimal_text(value.get("price"))}
    return {k: v for k, v in exit_.items() if v is not None}


def split_params(params: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(OMS fields, venue params) of a CCXT `params` dict."""
    oms: dict[str, Any] = {}
    venue: dict[str, Any] = {}
    for key, value in (params or {}).items():
        name = ORDER_FIELDS.get(key)
        if name is None:
            venue[key] = value
        elif value is None:
            continue
        elif name in BRACKET_FIELDS:
            oms[name] = bracket_exit(value)
        else:
            oms[name] = decimal_text(value) if name in DECIMAL_FIELDS else value
    return oms, venue


# --- primitives --------------------------------------------------------------------------------


def command(ex: Any, name: str, payload: Structure) -> Plan[Structure]:
    """One OMS command with `wait=completed`; returns its result item (raises on failure)."""
    body = {"account_id": ex.account_id, "command": name,
            "payload": {k: v for k, v in payload.items() if v is not None}}
    answer = yield Call("POST", "/oms/commands", {"wait": "completed"}, body, order=True)
    item: Structure = answer["results"][0]
    if not item.get("ok"):
        raise exception_for(None, {"error": item.get("error")}, prefix=ex.id, order=True)
    return item


def gateway(ex: Any, func: str, *args: Any, **kwargs: Any) -> Plan[Any]:
    """`POST /ccxt/{account_id}/{func}`: the venue's (or paper venue's) CCXT function."""
    body = {"args": list(args), "kwargs": {k: v for k, v in kwargs.items() if v is not None}}
    answer = yield Call("POST", f"/ccxt/{ex.account_id}/{func}", {}, body)
    return answer.get("result") if isinstance(answer, dict) else answer


def by_ids(ex: Any, kind: str, ids: list[Any]) -> Plan[list[Structure]]:
    csv = ",".join(str(int(i)) for i in ids)
    answer = yield Call("GET", f"/oms/{kind}/{csv}", {"account_ids": ex.account_id})
    items: list[Structure] = answer["items"]
    return items


def _scope(ex: Any, symbol: str | None, params: Structure | None) -> Structure:
    params = params or {}
    query: Structure = {"account_ids": ex.account_id}
    if symbol is not None:
        query["symbol"] = symbol
    strategy = params.get("strategy_id", params.get("strategyId"))
    if strategy is not None:
        query["strategy_id"] = strategy
    return query


def paged(ex: Any, path: str, query: Structure, since: int | None, limit: int | None
          ) -> Plan[list[Structure]]:
    """Rows of a paged list (newest first), enough for `limit` and back to `since`."""
    query = dict(query, page_size=PAGE_SIZE)
    if since is not None:
        start = datetime.fromtimestamp(since / 1000, tz=UTC).date()
        query["start_date"] = start.isoformat()
        query["end_date"] = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    rows: list[Structure] = []
    for page in range(1, int(ex.options.get("maxPages", 20)) + 1):
        answer = yield Call("GET", path, dict(query, page=page))
        rows.extend(answer["items"])
        if len(rows) >= int(answer.get("total", 0)) or not answer["items"]:
            break
        if limit is not None and since is None and len(rows) >= limit:
            break
    return rows


def account(ex: Any) -> Plan[Structure]:
    """The account row (`/oms/accounts`), read once per object."""
    if ex.oms_account is None:
        answer = yield Call("GET", "/oms/accounts", {"account_ids": ex.account_id})
        ex.oms_account = answer["items"][0] if answer.get("items") else {}
    return dict(ex.oms_account)


def _orders_out(ex: Any, rows: list[Structure], symbol: str | None, since: int | None,
                limit: int | None) -> list[Structure]:
    parsed = ex.sort_by([structures.order(ex, r) for r in rows], "timestamp")
    return ex.filter_by_symbol_since_limit(parsed, symbol, since, limit, since is None)  # type: ignore[no-any-return]


# --- markets and market data (through /ccxt) -------------------------------------------------


def fetch_markets(ex: Any, params: Structure | None) -> Plan[list[Structure]]:
    raw = yield from gateway(ex, "fetch_markets", params or {})
    if ex.oms_venue_has is None:  # once per object: merge the venue's `has` (load_markets)
        yield from load_venue_has(ex)
    return [structures.market(ex, m) for m in raw]


def load_venue_has(ex: Any) -> Plan[Structure]:
    """`GET /ccxt/{account_id}/has` merged into `ex.has` (a gateway without that read leaves
    `has` as it is); returns `ex.has`."""
    try:
        answer = yield Call("GET", f"/ccxt/{ex.account_id}/has")
    except (ccxt.BadRequest, ccxt.NotSupported, ccxt.ExchangeError) as exc:
        if isinstance(exc, ccxt.PermissionDenied | ccxt.AuthenticationError):
            raise
        return ex._set_venue_has(None)  # type: ignore[no-any-return]
    venue = answer.get("has") if isinstance(answer, dict) else None
    timeframes = answer.get("timeframes") if isinstance(answer, dict) else None
    return ex._set_venue_has(venue if isinstance(venue, dict) else None,  # type: ignore[no-any-return]
                             timeframes if isinstance(timeframes, dict) else None)


def fetch_ticker(ex: Any, symbol: str, params: Structure | None) -> Plan[Structure]:
    raw = yield from gateway(ex, "fetch_ticker", symbol, params or {})
    return structures.ticker(ex, raw)


def fetch_tickers(ex: Any, symbols: list[str] | None, params: Structure | None
                  ) -> Plan[dict[str, Structure]]:
    raw = yield from gateway(ex, "fetch_tickers", symbols, params or {})
    return {s: structures.ticker(ex, t) for s, t in raw.items()}


def fetch_order_book(ex: Any, symbol: str, limit: int | None, params: Structure | None
                     ) -> Plan[Structure]:
    raw = yield from gateway(ex, "fetch_order_book", symbol, limit, params or {})
    return structures.order_book(ex, raw)


def fetch_trades(ex: Any, symbol: str, since: int | None, limit: int | None,
                 params: Structure | None) -> Plan[list[Structure]]:
    raw = yield from gateway(ex, "fetch_trades", symbol, since, limit, params or {})
    return [structures.public_trade(ex, t) for t in raw]


def fetch_ohlcv(ex: Any, symbol: str, timeframe: str, since: int | None, limit: int | None,
                params: Structure | None) -> Plan[list[list[Any]]]:
    raw = yield from gateway(ex, "fetch_ohlcv", symbol, timeframe, since, limit, params or {})
    return structures.ohlcv(ex, raw)


def fetch_balance(ex: Any, params: Structure | None) -> Plan[Structure]:
    raw = yield from gateway(ex, "fetch_balance", params or {})
    return structures.balance(ex, raw)


# --- orders (OMS first) ----------------------------------------------------------------------


def create_order(ex: Any, symbol: str, type: str, side: str, amount: Any, price: Any,
                 params: Structure | None) -> Plan[Structure]:
    oms, venue = split_params(params)
    payload: Structure = {"symbol": symbol, "side": side, "order_type": type,
                          "qty": decimal_text(amount), "price": decimal_text(price), **oms}
    payload.setdefault("strategy_id", ex.strategy_id)
    if venue:
        payload["params"] = venue
    item = yield from command(ex, "send_order", payload)
    return (yield from fetch_order(ex, item["order_id"], None, None))


def create_orders(ex: Any, orders: list[Structure], params: Structure | None
                  ) -> Plan[list[Structure]]:  # fmt: skip
    """CCXT's `createOrders`: one order after the other (not atomic); with
    `params={"oco": True}` the orders are the legs of one OCO (one symbol, side and amount;
    each with its trigger, held by the gateway, but one plain limit that rests on the venue),
    placed as the first with the others in its `oco_orders`; with `"emulation": "venue"` as
    well, the venue's own OCO (Binance spot's order list: a limit or take-profit and a stop)."""
    if not (params or {}).get("oco"):
        placed = []
        for o in orders:
            placed.append((yield from create_order(
                ex, o["symbol"], o.get("type", "market"), o["side"], o["amount"],
                o.get("price"), o.get("params"))))  # fmt: skip
        return placed
    first, *others = orders
    legs = []
    for o in others:
        if (o["symbol"], o["side"], decimal_text(o["amount"])) != (
                first["symbol"], first["side"], decimal_text(first["amount"])):
            raise ccxt.InvalidOrder("an OCO's legs share one symbol, side and amount")
        leg_fields, leg_venue = split_params(o.get("params"))
        leg = {"order_type": o.get("type", "market"), "price": decimal_text(o.get("price")),
               **{k: v for k, v in leg_fields.items()
                  if k in ("stop_price", "take_profit_price")}}  # fmt: skip
        if leg_venue or set(leg_fields) - {"stop_price", "take_profit_price"}:
            raise ccxt.NotSupported("an OCO leg takes a type, a price and one trigger "
                                    "(stopPrice or takeProfitPrice)")
        legs.append({k: v for k, v in leg.items() if v is not None})
    first_params = {**(first.get("params") or {}), "oco_orders": legs}
    if (params or {}).get("emulation") is not None:
        first_params["emulation"] = (params or {})["emulation"]
    return [(yield from create_order(ex, first["symbol"], first.get("type", "market"),
                                     first["side"], first["amount"], first.get("price"),
                                     first_params))]  # fmt: skip


def edit_order(ex: Any, id: Any, type: str | None, side: str | None, amount: Any, price: Any,
               params: Structure | None) -> Plan[Structure]:
    """Amend amount and price (OMS `change_order`). What it cannot change is refused, never
    dropped: venue params, or another type or side than the order's (cancel and create)."""
    if params:
        raise ccxt.NotSupported(f"{ex.id} edit_order changes amount and price only; params "
                                f"{', '.join(sorted(params))} would be dropped")
    if type is not None or side is not None:
        current = yield from fetch_order(ex, id, None, None)
        if type not in (None, current["type"]) or side not in (None, current["side"]):
            raise ccxt.NotSupported(f"{ex.id} edit_order cannot change an order's type or side "
                                    "(cancel it and create another)")
    payload = {"order_id": int(id), "new_qty": decimal_text(amount),
               "new_price": decimal_text(price)}
    item = yield from command(ex, "change_order", payload)
    return (yield from fetch_order(ex, item.get("order_id") or id, None, None))


def cancel_order(ex: Any, id: Any, params: Structure | None) -> Plan[Structure]:
    item = yield from command(ex, "cancel_order", {"order_id": int(id)})
    return (yield from fetch_order(ex, item.get("order_id") or id, None, None))


def cancel_all_orders(ex: Any, symbol: str | None, params: Structure | None
                      ) -> Plan[list[Structure]]:
    params = params or {}
    strategy = params.get("strategy_id", params.get("strategyId", ex.strategy_id))
    item = yield from command(ex, "cancel_all_orders",
                              {"symbol": symbol, "strategy_ids": [int(strategy)]})
    (cmd,) = yield from by_ids(ex, "commands", [item["command_id"]])
    ids = [i["order_id"] for i in (cmd.get("result") or {}).get("items", []) if i.get("ok")]
    rows = (yield from by_ids(ex, "orders", ids)) if ids else []
    return [structures.order(ex, r) for r in rows]


def fetch_order(ex: Any, id: Any, symbol: str | None, params: Structure | None
                ) -> Plan[Structure]:
    if not str(id).isdigit():
        raise exception_for(404, {"error": {"code": "order_not_found",
                                            "message": f"order {id} not found"}}, prefix=ex.id)
    rows = yield from by_ids(ex, "orders", [id])
    if not rows:
        raise exception_for(404, {"error": {"code": "order_not_found",
                                            "message": f"order {id} not found"}}, prefix=ex.id)
    return structures.order(ex, rows[0])


def fetch_open_orders(ex: Any, symbol: str | None, since: int | None, limit: int | None,
                      params: Structure | None) -> Plan[list[Structure]]:
    query = dict(_scope(ex, symbol, params), limit=5000)
    answer = yield Call("GET", "/oms/orders/open", query)
    return _orders_out(ex, answer["items"], symbol, since, limit)


def fetch_history(ex: Any, symbol: str | None, since: int | None, limit: int | None,
                  params: Structure | None, status: str | None) -> Plan[list[Structure]]:
    query = _scope(ex, symbol, params)
    if status is not None:
        query["status"] = structures.OMS_STATUS[status]
    rows = yield from paged(ex, "/oms/orders/history", query, since, limit)
    return _orders_out(ex, rows, symbol, since, limit)


def fetch_my_trades(ex: Any, symbol: str | None, since: int | None, limit: int | None,
                    params: Structure | None) -> Plan[list[Structure]]:
    params = params or {}
    query = _scope(ex, symbol, params)
    for key in ("order_id", "position_id"):
        if params.get(key) is not None:
            query[key] = params[key]
    rows = yield from paged(ex, "/oms/deals", query, since, limit)
    rows = [r for r in rows if r.get("reason") != "funding"]  # fetch_funding_history has them
    if not params.get("include_internal"):
        rows = [r for r in rows if r.get("exchange_trade_id") is not None]
    parsed = ex.sort_by([structures.trade(ex, r) for r in rows], "timestamp")
    return ex.filter_by_symbol_since_limit(parsed, symbol, since, limit, since is None)  # type: ignore[no-any-return]


def fetch_funding_history(ex: Any, symbol: str | None, since: int | None, limit: int | None,
                          params: Structure | None) -> Plan[list[Structure]]:
    """Funding payments of the key's books (the OMS funding deals: one per position and
    funding time), CCXT's FundingHistory structure, oldest first."""
    query = _scope(ex, symbol, params or {})
    rows = yield from paged(ex, "/oms/deals", query, since, limit)
    settle: dict[str, str | None] = {}
    out = []
    for row in rows:
        if row.get("reason") != "funding":
            continue
        sym = str(row.get("symbol"))
        if sym not in settle:
            market = (ex.markets or {}).get(sym) or {}
            settle[sym] = market.get("settle") or market.get("quote")
        out.append(structures.funding_payment(ex, row, settle[sym]))
    parsed = ex.sort_by(out, "timestamp")
    return ex.filter_by_symbol_since_limit(parsed, symbol, since, limit, since is None)  # type: ignore[no-any-return]


def fetch_trading_fee(ex: Any, symbol: str, params: Structure | None) -> Plan[Structure]:
    raw = yield from gateway(ex, "fetch_trading_fee", symbol, params or {})
    return structures.trading_fee(ex, raw)


def fetch_trading_fees(ex: Any, params: Structure | None) -> Plan[Structure]:
    raw = yield from gateway(ex, "fetch_trading_fees", params or {})
    return {sym: structures.trading_fee(ex, fee) for sym, fee in (raw or {}).items()}


def _tiers(ex: Any, raw: list[Structure]) -> list[Structure]:
    standing_for = (getattr(ex, "oms_identity", None) or ("",))[0]
    cum = identity.binance_cum(raw) if standing_for in identity.ANSWERS else None
    return structures.leverage_tiers(ex, raw, cum)


def fetch_leverage_tiers(ex: Any, symbols: list[str] | None, params: Structure | None
                         ) -> Plan[Structure]:
    raw = yield from gateway(ex, "fetch_leverage_tiers", symbols, params or {})
    return {sym: _tiers(ex, tiers) for sym, tiers in (raw or {}).items()}


def fetch_market_leverage_tiers(ex: Any, symbol: str, params: Structure | None
                                ) -> Plan[list[Structure]]:
    raw = yield from gateway(ex, "fetch_market_leverage_tiers", symbol, params or {})
    return _tiers(ex, raw or [])


# --- positions -------------------------------------------------------------------------------


def fetch_positions(ex: Any, symbols: list[str] | None, params: Structure | None
                    ) -> Plan[list[Structure]]:
    params = params or {}
    acct = yield from account(ex)
    answer = yield Call("GET", "/oms/portfolio", {"account_ids": ex.account_id})
    rows = [p for item in answer["items"] for p in item["positions"]]
    strategy = params.get("strategy_id", params.get("strategyId"))
    if strategy is not None:
        rows = [r for r in rows if int(r["strategy_id"]) == int(strategy)]
    if symbols:
        rows = [r for r in rows if r["symbol"] in symbols]
    hedged = acct.get("position_mode") == "hedge"
    return [structures.position(ex, r, r, hedged) for r in sorted(rows, key=lambda r: r["id"])]


def fetch_position(ex: Any, symbol: Any, params: Structure | None) -> Plan[Structure]:
    """By OMS position id (any state), or the first open position of a CCXT symbol."""
    acct = yield from account(ex)
    hedged = acct.get("position_mode") == "hedge"
    if isinstance(symbol, int) or str(symbol).isdigit():
        marked = yield from fetch_positions(ex, None, {})
        found = [p for p in marked if p["id"] == str(symbol)]
        if found:  # open: with its mark and margin
            return found[0]
        rows = yield from by_ids(ex, "positions", [symbol])
        if not rows:
            raise exception_for(404, {"error": {"code": "position_not_found",
                                                "message": f"position {symbol} not found"}},
                                prefix=ex.id)
        return structures.position(ex, rows[0], None, hedged)
    found = yield from fetch_positions(ex, [symbol], params)
    if found:
        return found[0]
    empty = dict.fromkeys(structures.POSITION_KEYS)
    empty.update({"info": {}, "symbol": symbol, "contracts": ex.parse_number("0"),
                  "hedged": hedged})
    return empty


def close_position(ex: Any, position: Any, side: str | None, params: Structure | None
                   ) -> Plan[Structure]:
    """Close one OMS position (id), or every open position of a symbol (CCXT signature:
    `close_position(symbol, side=None)`); returns the (last) closing order."""
    params = dict(params or {})
    if isinstance(position, int) or str(position).isdigit():
        ids = [int(position)]
    else:
        open_rows = yield from fetch_positions(ex, [position], params)
        wanted = {"long": "long", "short": "short", "buy": "long", "sell": "short"}.get(side or "")
        ids = [int(p["id"]) for p in open_rows if wanted is None or p["side"] == wanted]
        if not ids:
            raise exception_for(404, {"error": {"code": "position_not_found",
                                                "message": f"no open {position} position"}},
                                prefix=ex.id)
    oms, venue = split_params({k: v for k, v in params.items()
                               if k not in ("type", "order_type", "price", "qty", "amount")})
    oms.pop("position_id", None)
    payload: Structure = {
        **oms,
        "order_type": params.get("type", params.get("order_type")),
        "price": decimal_text(params.get("price")),
        "qty": decimal_text(params.get("qty", params.get("amount"))),
    }
    if venue:
        payload["params"] = venue
    result: Structure = {}
    for position_id in ids:
        item = yield from command(ex, "close_position", {**payload, "position_id": position_id})
        result = yield from fetch_order(ex, item["order_id"], None, None)
    return result


def close_by(ex: Any, a: Any, b: Any, qty: Any, params: Structure | None
             ) -> Plan[list[Structure]]:
    params = params or {}
    yield from command(ex, "close_by", {"position_id_a": int(a), "position_id_b": int(b),
                                        "qty": decimal_text(qty),
                                        "strategy_id": params.get("strategy_id")})
    return (yield from _positions(ex, [a, b]))


def merge_positions(ex: Any, source: Any, target: Any, params: Structure | None
                    ) -> Plan[Structure]:
    params = params or {}
    yield from command(ex, "merge_positions", {
        "source_position_id": int(source), "target_position_id": int(target),
        "stop_mode": params.get("stop_mode"),
        "oms_stop_loss": decimal_text(params.get("oms_stop_loss")),
        "oms_stop_gain": decimal_text(params.get("oms_stop_gain")),
    })
    return (yield from _positions(ex, [target]))[0]


def set_position_targets(ex: Any, position_id: Any, stop_loss: Any, stop_gain: Any,
                         params: Structure | None) -> Plan[Structure]:
    """Set (a value), keep (`...`, the default for an omitted argument) or clear (`None`) the
    OMS stop loss / stop gain of a position."""
    payload: Structure = {"position_id": int(position_id)}
    for name, value in (("oms_stop_loss", stop_loss), ("oms_stop_gain", stop_gain)):
        if value is not Ellipsis:
            payload[name] = decimal_text(value)
    if (params or {}).get("comment") is not None:
        payload["comment"] = params["comment"]  # type: ignore[index]
    body = {"account_id": ex.account_id, "command": "position_change", "payload": payload}
    answer = yield Call("POST", "/oms/commands", {"wait": "completed"}, body, order=True)
    item = answer["results"][0]
    if not item.get("ok"):
        raise exception_for(None, {"error": item.get("error")}, prefix=ex.id, order=True)
    return (yield from _positions(ex, [position_id]))[0]


def _positions(ex: Any, ids: list[Any]) -> Plan[list[Structure]]:
    acct = yield from account(ex)
    rows = yield from by_ids(ex, "positions", ids)
    order = {int(i): n for n, i in enumerate(ids)}
    rows.sort(key=lambda r: order.get(int(r["id"]), 0))
    return [structures.position(ex, r, None, acct.get("position_mode") == "hedge") for r in rows]
