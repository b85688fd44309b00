"""A trade request (`MqlTradeRequest` as a dict) checked and turned into one gateway command.

Each action becomes one command of `POST /oms/commands`: `TRADE_ACTION_DEAL` → `send_order`
(market) or `close_position` (with `position`), `PENDING` → `send_order` (limit; a stop is a
market order with `trigger_price`, a stop-limit a limit with `trigger_price`), `SLTP` →
`position_change`, `MODIFY` → `change_order`, `REMOVE` → `cancel_order`, `CLOSE_BY` →
`close_by`. What the gateway would not honour is refused here with MetaTrader's return code
(`Refused`), never sent and dropped."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from mt5_driver import constants as c
from mt5_driver.convert import dec, on_tick, plain, seconds
from mt5_driver.errors import Failure
from mt5_driver.session import Market
from mt5_driver.structures import TradeRequest

INTS = ("action", "magic", "order", "deviation", "type", "type_filling", "type_time",
        "position", "position_by")  # fmt: skip
FLOATS = ("volume", "price", "stoplimit", "sl", "tp")
BUYS = frozenset({c.ORDER_TYPE_BUY, c.ORDER_TYPE_BUY_LIMIT, c.ORDER_TYPE_BUY_STOP,
                  c.ORDER_TYPE_BUY_STOP_LIMIT})  # fmt: skip
LIMITS = frozenset({c.ORDER_TYPE_BUY_LIMIT, c.ORDER_TYPE_SELL_LIMIT})
STOPS = frozenset({c.ORDER_TYPE_BUY_STOP, c.ORDER_TYPE_SELL_STOP})
STOP_LIMITS = frozenset({c.ORDER_TYPE_BUY_STOP_LIMIT, c.ORDER_TYPE_SELL_STOP_LIMIT})
FILLS = {c.ORDER_FILLING_FOK: "FOK", c.ORDER_FILLING_IOC: "IOC"}


class Refused(Exception):
    """The request cannot be honoured: `order_send` answers `retcode` with `comment`."""

    def __init__(self, retcode: int, comment: str) -> None:
        super().__init__(comment)
        self.retcode, self.comment = retcode, comment


@dataclass
class Plan:
    """One gateway command, and what the answer needs to be read right."""

    command: str
    payload: dict[str, Any]
    closing: bool = False  # a position was named: a refused quantity is a close volume
    order: int = 0  # the order ticket the request named (MODIFY, REMOVE)
    extra: dict[str, Any] = field(default_factory=dict)


def normalize(request: Mapping[str, Any]) -> TradeRequest:
    """The request as MetaTrader echoes it; Failure (`RES_E_INVALID_PARAMS`) for an unknown
    field or a value of the wrong kind, as the official package refuses the structure."""
    if not isinstance(request, Mapping):
        raise Failure(c.RES_E_INVALID_PARAMS, "the request must be a dict")
    unknown = sorted(set(request) - set(TradeRequest._fields))
    if unknown:
        raise Failure(c.RES_E_INVALID_PARAMS, f"unknown request field {unknown[0]!r}")
    if "action" not in request:
        raise Failure(c.RES_E_INVALID_PARAMS, "the request needs an action")
    kinds: dict[str, Callable[[Any], Any]] = {
        **dict.fromkeys(INTS, _int), **dict.fromkeys(FLOATS, float), "symbol": str,
             "comment": str, "expiration": _expiration}  # fmt: skip
    try:
        values = {name: kinds[name](value) for name, value in request.items()}
    except (TypeError, ValueError) as exc:
        raise Failure(c.RES_E_INVALID_PARAMS, f"invalid request: {exc}") from exc
    return TradeRequest(**values)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not an integer")
    return int(value)


def _expiration(value: Any) -> int:
    if isinstance(value, datetime | int | float) and not isinstance(value, bool):
        return seconds(value)
    raise ValueError(f"expiration {value!r} is not a datetime or epoch seconds")


def side(order_type: int) -> str:
    return "buy" if order_type in BUYS else "sell"


def volume(market: Market, req: TradeRequest, *, strict: bool) -> Decimal:
    """The request's volume in the market's amount (a lot is one unit); `strict` also checks
    the step and the minimum here (the gateway checks them on send)."""
    qty = dec(req.volume)
    if qty <= 0:
        raise Refused(c.TRADE_RETCODE_INVALID_VOLUME, f"volume {req.volume} must be positive")
    minimum = market.dec("limits", "amount", "min") or market.step
    if strict and (qty % market.step != 0 or qty < minimum):
        raise Refused(c.TRADE_RETCODE_INVALID_VOLUME, f"volume {plain(qty)} is not a multiple "
                      f"of {plain(market.step)} of at least {plain(minimum)}")  # fmt: skip
    return qty


def price(market: Market, value: float, what: str = "price") -> Decimal:
    if value <= 0:
        raise Refused(c.TRADE_RETCODE_INVALID_PRICE, f"{what} must be positive")
    return on_tick(dec(value), market.tick)


def stops(market: Market, req: TradeRequest) -> dict[str, str]:
    """`sl` / `tp` as the gateway's position targets (`oms_stop_loss` / `oms_stop_gain`),
    enforced by the gateway on the position the order opens; 0 is none."""
    out = {}
    if req.sl:
        out["oms_stop_loss"] = plain(price(market, req.sl, "sl"))
    if req.tp:
        out["oms_stop_gain"] = plain(price(market, req.tp, "tp"))
    return out


def filling(req: TradeRequest, *, pending: bool, limit: bool) -> dict[str, Any]:
    """`type_filling` as the venue's time in force. A market order: FOK, IOC, RETURN (the
    venue's default). A pending order rests: RETURN (filled as liquidity comes), or BOC (a
    post-only limit); FOK / IOC at its activation cannot be honoured by a resting order."""
    if req.type_filling == c.ORDER_FILLING_RETURN:
        return {}
    if req.type_filling in FILLS and not pending:
        return {"time_in_force": FILLS[req.type_filling]}
    if req.type_filling == c.ORDER_FILLING_BOC and pending and limit:
        return {"post_only": True}
    raise Refused(c.TRADE_RETCODE_INVALID_FILL,
                  f"type_filling {req.type_filling} cannot apply to this order"
                  + ("; a pending order takes ORDER_FILLING_RETURN or BOC" if pending else ""))


def expiration(req: TradeRequest) -> None:
    """Orders stay until canceled on the venues: anything but ORDER_TIME_GTC is refused."""
    if req.type_time != c.ORDER_TIME_GTC:
        raise Refused(c.TRADE_RETCODE_INVALID_EXPIRATION,
                      f"type_time {req.type_time}: the venue keeps an order until it is canceled;"
                      " only ORDER_TIME_GTC can be honoured")  # fmt: skip


def pending_price_check(order_type: int, trigger_or_limit: Decimal, bid: Decimal,
                        ask: Decimal) -> None:  # fmt: skip
    """MetaTrader's placement rule: a buy limit below the ask, a sell limit above the bid, a
    buy stop (and stop-limit) above the ask, a sell stop below the bid."""
    p = trigger_or_limit
    ok = {
        c.ORDER_TYPE_BUY_LIMIT: p < ask, c.ORDER_TYPE_SELL_LIMIT: p > bid,
        c.ORDER_TYPE_BUY_STOP: p > ask, c.ORDER_TYPE_SELL_STOP: p < bid,
        c.ORDER_TYPE_BUY_STOP_LIMIT: p > ask, c.ORDER_TYPE_SELL_STOP_LIMIT: p < bid,
    }[order_type]  # fmt: skip
    if not ok:
        raise Refused(c.TRADE_RETCODE_INVALID_PRICE, f"price {plain(p)} is on the wrong side "
                      f"of the market (bid {plain(bid)}, ask {plain(ask)})")  # fmt: skip


def pending_payload(market: Market, req: TradeRequest) -> dict[str, Any]:
    """`send_order` fields of a pending order (no strategy, stops or fill yet)."""
    at = price(market, req.price)
    body: dict[str, Any] = {"symbol": market.symbol, "side": side(req.type)}
    if req.type in LIMITS:
        return {**body, "order_type": "limit", "price": plain(at)}
    if req.type in STOPS:
        return {**body, "order_type": "market", "trigger_price": plain(at)}
    limit = price(market, req.stoplimit, "stoplimit")
    return {**body, "order_type": "limit", "price": plain(limit), "trigger_price": plain(at)}
