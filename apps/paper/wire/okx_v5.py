"""OKX v5 requests and public data as pure mappings: instruments (SPOT `BTC-USDT`, linear SWAP
`BTC-USDT-SWAP` with its `ctVal`), a place-order request to the paper engine's call, the
engine's refusals as OKX's `sCode`s, and tickers, books, candles, funding and mark prices as OKX
sends them (decimal strings).

Position modes (`POSITION_MODE`, `set-position-mode` `posMode`): a SWAP order's `posSide` is
`net` (or absent) in net mode; in long/short mode it is required, `long` (buy opens, sell
closes) or `short` (sell opens, buy closes); the other mode's is 51000 "Parameter posSide error".

No I/O: `okx_handlers` runs the calls, `okx_server` speaks HTTP and websockets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from apps.oms.domain.markets import Market, cost_problem, price_problem
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.paper.wire.binance_spot import OrderCall
from apps.paper.wire.bybit_v5 import num
from apps.paper.wire.okx_signing import OkxError
from apps.paper.wire.position_modes import PositionModeNames

Json = dict[str, Any]
#: the markets by OKX instrument id (`BTC-USDT`, `BTC-USDT-SWAP`)
Listed = dict[str, Market]
INST_TYPES = ("SPOT", "SWAP")
ZERO = Decimal(0)
MAX_LEVERAGE = 100
MAX_SZ = Decimal(9000)
#: `posMode` net_mode / long_short_mode; `posSide` net / long / short
POSITION_MODE = PositionModeNames("net_mode", "long_short_mode", "net", "long", "short")
ORDER_TYPES = ("market", "limit", "post_only", "fok", "ioc", "optimal_limit_ioc")
CLIENT_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
#: OKX's candle bars and the engine's timeframes (`utc` bars: CCXT's default from 6H up)
BARS = {"1m": "1m", "3m": "3m", "5m": "5m", "15m": "15m", "30m": "30m", "1H": "1h", "2H": "2h",
        "4H": "4h", "6H": "6h", "12H": "12h", "1D": "1d", "1W": "1w", "1M": "1M",
        "6Hutc": "6h", "12Hutc": "12h", "1Dutc": "1d", "1Wutc": "1w", "1Mutc": "1M"}  # fmt: skip
BAR_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
          "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000,
          "12h": 43_200_000, "1d": 86_400_000, "1w": 604_800_000, "1M": 2_592_000_000}  # fmt: skip
EIGHT_HOURS = 8 * 3_600_000


def inst_id(m: Market) -> str:
    return f"{m.base}-{m.quote}-SWAP" if m.is_swap else f"{m.base}-{m.quote}"


def inst_type(m: Market) -> str:
    return "SWAP" if m.is_swap else "SPOT"


def listed(markets: Iterable[Market]) -> Listed:
    return {inst_id(m): m for m in markets}


def empty(name: str) -> OkxError:
    return OkxError(50014, f"Parameter {name} can not be empty.")


def pos_side_error() -> OkxError:
    """OKX's answer to a `posSide` the account's position mode does not take (none or `net`
    in long/short mode, `long` / `short` in net mode)."""
    return OkxError(51000, "Parameter posSide error")


def param_error(name: str, detail: str = "") -> OkxError:
    return OkxError(51000, f"Parameter {name} error" + (f": {detail}" if detail else ""))


def market_of(params: Mapping[str, str], markets: Listed) -> Market:
    """The instrument `instId` names (50014 without one, 51001 for an unknown one)."""
    found = params.get("instId", "")
    if not found:
        raise empty("instId")
    if found not in markets:
        raise OkxError(51001, "Instrument ID does not exist.")
    return markets[found]


def inst_type_of(params: Mapping[str, str], required: bool = False) -> str | None:
    """`instType` (SPOT or SWAP here; FUTURES, OPTION, MARGIN list nothing: None)."""
    kind = params.get("instType", "")
    if not kind:
        if required:
            raise empty("instType")
        return None
    if kind not in ("SPOT", "SWAP", "MARGIN", "FUTURES", "OPTION", "ANY"):
        raise param_error("instType")
    return kind


def chosen(params: Mapping[str, str], markets: Listed, required_type: bool = False) -> list[Market]:
    """The instrument `instId` names, else those of `instType` (all when neither)."""
    if params.get("instId"):
        return [market_of(params, markets)]
    kind = inst_type_of(params, required_type)
    return [m for m in markets.values() if kind in (None, "ANY", inst_type(m))]


def decimal_param(params: Mapping[str, str], name: str) -> Decimal | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0 or "e" in text.lower():
        raise param_error(name)
    return value


def int_param(params: Mapping[str, str], name: str, default: int, top: int) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit() or int(text) < 1:
        raise param_error(name)
    return min(int(text), top)


def time_param(params: Mapping[str, str], name: str) -> int | None:
    text = params.get(name, "")
    if text and not text.isdigit():
        raise param_error(name)
    return int(text) if text else None


def _true(params: Mapping[str, str], name: str) -> bool:
    return str(params.get(name, "")).lower() in ("true", "1")


# --- orders ------------------------------------------------------------------------------------


#: what attaches a take-profit / stop-loss (algo) order to an OKX order: not served here
ATTACHED_KEYS = ("attachAlgoOrds", "tpTriggerPx", "slTriggerPx", "tpOrdPx", "slOrdPx")


def order_call(params: Mapping[str, str], markets: Listed,
               hedged: bool = False) -> tuple[OrderCall, str]:  # fmt: skip
    """POST /api/v5/trade/order (one entry of batch-orders): the engine's call and the order's
    `tdMode`. `sz` is in contracts for a SWAP (the engine's amount), in the base coin for a
    SPOT order (`tgtCcy` base_ccy: a market buy in the quote coin, OKX's default, is refused:
    the engine sizes orders in base); a SWAP's `posSide` the account's mode (`hedged`: long/
    short mode) does not take is refused as OKX refuses it (51000), and in long/short mode it
    is the engine's position side (a close, sell long / buy short, is reduce-only there)."""
    market = market_of(params, markets)
    side, kind, mode = _required(params)
    attached = [k for k in ATTACHED_KEYS if params.get(k)]
    if attached:  # refused, never ignored: the order would go out without its TP/SL
        raise param_error(attached[0], f"{', '.join(attached)}: attached take-profit / "
                                       "stop-loss orders are not served by this venue")
    extra: dict[str, Any] = {}
    if market.is_swap:
        _swap_rules(params, mode)
        position_side = POSITION_MODE.order_side(params.get("posSide"), hedged,
                                                 pos_side_error())  # fmt: skip
        if hedged:
            extra["positionSide"] = position_side
    else:
        _spot_rules(params, side, kind, mode)
    qty, price = decimal_param(params, "sz"), decimal_param(params, "px")
    if qty is None or qty == 0:
        raise param_error("sz")
    market_like = kind in ("market", "optimal_limit_ioc")
    if not market_like and price is None:
        raise param_error("px", "px is required for a limit order")
    extra.update(_order_params(params, kind))
    call = OrderCall(market, "market" if market_like else "limit", side, qty,
                     None if market_like else price, extra)  # fmt: skip
    check_limits(call)
    return call, mode


def _required(params: Mapping[str, str]) -> tuple[str, str, str]:
    """`side`, `ordType`, `tdMode` (and `sz` present): 50014 when missing, 51000 when wrong."""
    side, kind, mode = params.get("side", ""), params.get("ordType", ""), params.get("tdMode", "")
    for name, value in (("side", side), ("ordType", kind), ("tdMode", mode),
                        ("sz", params.get("sz", ""))):  # fmt: skip
        if not value:
            raise empty(name)
    if side not in ("buy", "sell"):
        raise param_error("side")
    if kind not in ORDER_TYPES:
        raise param_error("ordType", f"{kind} is not served ({', '.join(ORDER_TYPES)})")
    return side, kind, mode


def _order_params(params: Mapping[str, str], kind: str) -> dict[str, Any]:
    """The engine's post-only / time in force, reduce-only and client id of an order."""
    client_id = params.get("clOrdId", "")
    if client_id and not CLIENT_ID.match(client_id):
        raise param_error("clOrdId")
    extra: dict[str, Any] = {}
    if kind == "post_only":
        extra["postOnly"] = True
    elif kind in ("ioc", "fok"):
        extra["timeInForce"] = kind.upper()
    if _true(params, "reduceOnly"):
        extra["reduceOnly"] = True
    if client_id:
        extra["clientOrderId"] = client_id
    return extra


def _swap_rules(params: Mapping[str, str], mode: str) -> None:
    if mode not in ("cross", "isolated"):
        raise param_error("tdMode", "a SWAP order trades cross or isolated")


def _spot_rules(params: Mapping[str, str], side: str, kind: str, mode: str) -> None:
    if mode != "cash":
        raise param_error("tdMode", "SPOT orders trade cash here (no spot margin)")
    if _true(params, "reduceOnly"):
        raise OkxError(51205, "Reduce Only is not available.")
    unit = params.get("tgtCcy") or ("quote_ccy" if side == "buy" else "base_ccy")
    if kind == "market" and unit != "base_ccy":
        raise param_error("tgtCcy", "quote_ccy is not served by this venue: send tgtCcy "
                                    "base_ccy (sz in the base coin)")  # fmt: skip


def check_limits(call: OrderCall) -> None:
    """The instrument's lot size, minimum, tick and minimum value, as OKX refuses them."""
    m = call.market
    if call.qty % m.amount_step:
        raise OkxError(51121, f"Order quantity must be a multiple of the lot size "
                              f"{num(m.amount_step)}.")  # fmt: skip
    if call.qty < m.min_amount:
        raise OkxError(51020, "Your order should meet or exceed the minimum order amount.")
    if call.qty > MAX_SZ:
        raise OkxError(51202, "Market order amount exceeds the maximum amount.")
    if call.price is not None and price_problem(m, call.price) is not None:
        raise param_error("px", f"a multiple of the tick size {num(m.price_step)}")
    if call.price is not None and cost_problem(m, call.qty, call.price) is not None:
        raise OkxError(51020, "Your order should meet or exceed the minimum order amount.")


def order_ref(params: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """`ordId` or `clOrdId` as the engine's (id, params) lookup (51000 without either)."""
    if params.get("ordId"):
        return params["ordId"], {}
    if params.get("clOrdId"):
        return "", {"clientOrderId": params["clOrdId"]}
    raise param_error("ordId", "ordId or clOrdId is required")


#: CCXT classes the paper venue raises, as OKX's `sCode`s answer them (first match wins)
_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (ccxt.InsufficientFunds, 51008, "Order failed. Insufficient USDT margin in account"),
    (ccxt.OrderNotFound, 51603, "Order does not exist"),
    (ccxt.OrderImmediatelyFillable, 51000, "Parameter ordType error: the post_only order would "
                                           "take liquidity"),
    (ccxt.BadSymbol, 51001, "Instrument ID does not exist."),
    (ccxt.NetworkError, 50026, "System error. Try again later"),
)


def error_of(exc: Exception) -> OkxError:
    """A paper refusal (a CCXT error) as OKX's code and message (50026 for the unexpected)."""
    if isinstance(exc, OkxError):
        return exc
    text = str(exc).removeprefix("paper ")
    for cls, code, msg in _ERRORS:
        if isinstance(exc, cls):
            return OkxError(code, msg)
    if isinstance(exc, ccxt.InvalidOrder):
        if "duplicate clientOrderId" in text:
            return OkxError(51016, "Duplicated clOrdId")
        if "reduce" in text.lower():
            return OkxError(51169, "Order failed because you don't have any positions in this "
                                   "direction for this contract to reduce or close.")  # fmt: skip
        return OkxError(51000, f"Parameter error: {text}")
    if isinstance(exc, ccxt.BadRequest):
        return OkxError(51000, f"Parameter error: {text}")
    return OkxError(50026, "System error. Try again later")


def item_error(exc: OkxError, params: Mapping[str, str], now_ms: int) -> Json:
    """One failed entry of a trade request's `data` (`sCode`, `sMsg`)."""
    return {"ordId": params.get("ordId", ""), "clOrdId": params.get("clOrdId", ""),
            "tag": params.get("tag", ""), "ts": str(now_ms), "sCode": str(exc.code),
            "sMsg": exc.msg}  # fmt: skip


# --- public data -------------------------------------------------------------------------------


def _decimals(step: Decimal) -> str:
    return str(max(0, -int(step.normalize().as_tuple().exponent)))


def instrument_json(m: Market) -> Json:
    """One /api/v5/public/instruments entry (SPOT or linear SWAP, `live`)."""
    swap = m.is_swap
    family = f"{m.base}-{m.quote}" if swap else ""
    return {
        "alias": "", "auctionEndTime": "", "baseCcy": "" if swap else m.base,
        "category": "1", "ctMult": "1" if swap else "", "ctType": "linear" if swap else "",
        "ctVal": num(m.contract_size) if swap else "", "ctValCcy": m.base if swap else "",
        "contTdSwTime": "", "expTime": "", "futureSettlement": False, "instFamily": family,
        "instId": inst_id(m), "instType": inst_type(m), "lever": str(MAX_LEVERAGE) if swap else "",
        "listTime": "1585526400000", "lotSz": num(m.amount_step), "maxIcebergSz": num(MAX_SZ),
        "maxLmtAmt": "20000000", "maxLmtSz": num(MAX_SZ), "maxMktAmt": "1000000",
        "maxMktSz": num(MAX_SZ), "maxStopSz": num(MAX_SZ), "maxTriggerSz": num(MAX_SZ),
        "maxTwapSz": num(MAX_SZ), "minSz": num(m.min_amount), "optType": "", "openType": "",
        "quoteCcy": "" if swap else m.quote, "ruleType": "normal",
        "settleCcy": (m.settle or m.quote) if swap else "", "state": "live", "stk": "",
        "tickSz": num(m.price_step), "uly": family, "instIdCode": None,
    }  # fmt: skip


def currency_json(coin: str) -> Json:
    """One /api/v5/asset/currencies entry: a coin with no deposit or withdrawal."""
    return {"ccy": coin, "name": coin, "chain": f"{coin}-{coin}", "canDep": False,
            "canWd": False, "canInternal": False, "minWd": "0", "maxWd": "0",
            "wdTickSz": "8", "minFee": "0", "maxFee": "0", "fee": "0", "mainNet": True,
            "logoLink": "", "ctAddr": "", "minDep": "0"}  # fmt: skip


def ticker_json(m: Market, ticker: Mapping[str, Any], candles: Sequence[Sequence[Any]],
                now_ms: int) -> Json:  # fmt: skip
    """One /api/v5/market/ticker(s) entry from the quote and the last day's hourly candles
    (`vol24h` in contracts for a SWAP and base for a SPOT, `volCcy24h` base / quote)."""
    last = ticker["last"]
    opened = candles[0][1] if candles else last
    volume = sum((Decimal(c[5]) for c in candles), ZERO)
    contracts = volume / m.contract_size if m.is_swap else volume
    value = volume if m.is_swap else volume * last
    return {
        "instType": inst_type(m), "instId": inst_id(m), "last": num(last), "lastSz": "0",
        "askPx": num(ticker["ask"]), "askSz": "1", "bidPx": num(ticker["bid"]), "bidSz": "1",
        "open24h": num(opened), "high24h": num(max([c[2] for c in candles] + [last])),
        "low24h": num(min([c[3] for c in candles] + [last])), "volCcy24h": num(value),
        "vol24h": num(contracts), "ts": str(now_ms), "sodUtc0": num(opened),
        "sodUtc8": num(opened),
    }  # fmt: skip


def books_json(book: Mapping[str, Any], seq: int, now_ms: int) -> Json:
    """/api/v5/market/books' entry: levels [price, size, "0", orders], best first."""

    def side(levels: list[list[Decimal]]) -> list[list[str]]:
        return [[num(p), num(q), "0", "1"] for p, q in levels]

    return {"asks": side(book["asks"]), "bids": side(book["bids"]), "ts": str(now_ms),
            "seqId": seq, "prevSeqId": -1, "checksum": 0}  # fmt: skip


def candle_window(params: Mapping[str, str], timeframe: str,
                  top: int) -> tuple[int | None, int | None, int | None, int]:  # fmt: skip
    """OKX's `after` (older than) / `before` (newer than) / `limit` as the engine's `since`
    plus the bounds to keep: (since, after, before, limit)."""
    after, before = time_param(params, "after"), time_param(params, "before")
    limit = int_param(params, "limit", 100, top)
    if before is not None:
        since: int | None = before + 1
    elif after is not None:
        since = max(0, after - limit * BAR_MS[timeframe])
    else:
        since = None
    return since, after, before, limit


def candle_rows(m: Market, rows: Sequence[Sequence[Any]], timeframe: str, after: int | None,
                before: int | None, limit: int, now_ms: int) -> list[list[str]]:  # fmt: skip
    """/api/v5/market/candles' data: newest first, each [ts, o, h, l, c, vol (contracts for a
    SWAP, base for a SPOT), volCcy (base / quote), volCcyQuote, confirm]."""
    kept = [r for r in rows if (after is None or r[0] < after)
            and (before is None or r[0] > before)]  # fmt: skip
    out = []
    for r in reversed(kept[-limit:]):
        volume, close = Decimal(r[5]), Decimal(r[4])
        vol = volume / m.contract_size if m.is_swap else volume
        ccy = volume if m.is_swap else volume * close
        done = "1" if r[0] + BAR_MS[timeframe] <= now_ms else "0"
        out.append([str(r[0]), num(r[1]), num(r[2]), num(r[3]), num(r[4]), num(vol), num(ccy),
                    num(volume * close), done])  # fmt: skip
    return out


def trade_json(m: Market, trade: Mapping[str, Any]) -> Json:
    """One /api/v5/market/trades entry (the paper market's one synthetic print: side buy)."""
    return {"instId": inst_id(m), "side": trade.get("side") or "buy",
            "sz": num(trade["amount"]), "px": num(trade["price"]), "source": "0",
            "tradeId": str(trade["id"]), "ts": str(trade["timestamp"])}  # fmt: skip


def next_funding(now_ms: int) -> int:
    return (now_ms // EIGHT_HOURS + 1) * EIGHT_HOURS


def funding_json(m: Market, now_ms: int) -> Json:
    """/api/v5/public/funding-rate: no funding is charged here (rate 0), the next settlement
    at the next 8-hour boundary."""
    at = next_funding(now_ms)
    return {"instType": "SWAP", "instId": inst_id(m), "fundingRate": "0",
            "nextFundingRate": "", "fundingTime": str(at), "nextFundingTime": str(at + EIGHT_HOURS),
            "minFundingRate": "-0.00375", "maxFundingRate": "0.00375",
            "method": "current_period", "formulaType": "noRate", "premium": "0",
            "settFundingRate": "0", "settState": "settled", "sign": "", "impactValue": "",
            "interestRate": "0", "ts": str(now_ms)}  # fmt: skip


def mark_price_json(m: Market, mark: Decimal, now_ms: int) -> Json:
    return {"instType": inst_type(m), "instId": inst_id(m), "markPx": num(mark),
            "ts": str(now_ms)}  # fmt: skip
