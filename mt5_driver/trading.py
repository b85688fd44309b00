"""`order_send` and `order_check`: a checked request (`requests.py`) planned against the
account's books, sent as one command (`?wait=completed`, exactly once by its `request_id`),
and answered as MetaTrader answers: `OrderSendResult` with a `TRADE_RETCODE_*`."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from mt5_driver import constants as c
from mt5_driver import ledger
from mt5_driver import requests as rq
from mt5_driver.books import OPEN_STATES, order_type
from mt5_driver.convert import dec, num, plain
from mt5_driver.errors import RETCODE_TEXT, Failure, retcode_of, retcode_of_status
from mt5_driver.requests import Plan, Refused
from mt5_driver.session import Market, Session
from mt5_driver.structures import OrderSendResult, TradeRequest
from mt5_driver.wire import GatewayError, Unreachable


def market_of(s: Session, req: TradeRequest) -> Market:
    if not req.symbol:
        raise Refused(c.TRADE_RETCODE_INVALID, "the request needs a symbol")
    market = s.markets.get(req.symbol)
    if market is None:
        raise Refused(c.TRADE_RETCODE_INVALID, f"unknown symbol {req.symbol!r}")
    if market.raw.get("active") is False:
        raise Refused(c.TRADE_RETCODE_MARKET_CLOSED, f"{req.symbol} is not trading now")
    return market


def quote(s: Session, market: Market) -> tuple[Decimal, Decimal]:
    ticker = s.gateway.post(f"/ccxt/{s.login}/fetch_ticker", {"args": [market.symbol]})["result"]
    last = ticker.get("last")
    bid, ask = ticker.get("bid") or last, ticker.get("ask") or last
    if bid is None or ask is None:
        raise Refused(c.TRADE_RETCODE_PRICE_OFF, f"no quote for {market.name}")
    return Decimal(str(bid)), Decimal(str(ask))


def strategy(s: Session, req: TradeRequest, *, resolve: bool) -> dict[str, int]:
    if not req.magic:
        return {}
    return {"strategy_id": ledger.strategy_for(s, req.magic) if resolve else req.magic}


def _long_only(s: Session, market: Market, req: TradeRequest, qty: Decimal) -> None:
    """Spot holds coins: a sell that would open a short is refused (`LONG_ONLY`). On a hedging
    account every sell without `position` opens one; on netting it must not exceed the long."""
    if not market.spot or rq.side(req.type) != "sell":
        return
    if not s.hedging:
        longs = [p for p in ledger.open_positions(s)
                 if p["symbol"] == market.symbol and p["side"] == "buy"]  # fmt: skip
        if sum((Decimal(str(p["qty"])) for p in longs), Decimal(0)) >= qty:
            return
    raise Refused(c.TRADE_RETCODE_LONG_ONLY,
                  f"{market.name} is spot: selling opens no short; close a long with its ticket"
                  if s.hedging else f"{market.name} is spot: the sell exceeds the long")


def _closed_or_unknown(s: Session, ticket: int) -> Refused:
    if ledger.positions_of_ticket(s, ticket):
        return Refused(c.TRADE_RETCODE_POSITION_CLOSED, f"position {ticket} is closed")
    return Refused(c.TRADE_RETCODE_INVALID, f"no position with ticket {ticket}")


def open_position(s: Session, ticket: int) -> dict[str, Any]:
    try:
        return ledger.open_position(s, ticket)
    except Failure:
        raise _closed_or_unknown(s, ticket) from None


def plan_deal(s: Session, req: TradeRequest, *, strict: bool) -> Plan:
    if req.type not in (c.ORDER_TYPE_BUY, c.ORDER_TYPE_SELL):
        raise Refused(c.TRADE_RETCODE_INVALID_ORDER, "TRADE_ACTION_DEAL takes ORDER_TYPE_BUY or "
                      "ORDER_TYPE_SELL")  # fmt: skip
    fill = rq.filling(req, pending=False, limit=False)
    if req.position:
        return _plan_close(s, req, fill)
    market = market_of(s, req)
    qty = rq.volume(market, req, strict=strict)
    _long_only(s, market, req, qty)
    payload = {"symbol": market.symbol, "side": rq.side(req.type), "order_type": "market",
               "qty": plain(qty), **rq.stops(market, req), **fill,
               **strategy(s, req, resolve=not strict)}  # fmt: skip
    if req.comment:
        payload["comment"] = req.comment
    return Plan("send_order", payload)


def _plan_close(s: Session, req: TradeRequest, fill: dict[str, Any]) -> Plan:
    position = open_position(s, req.position)
    market = s.by_symbol[str(position["symbol"])]
    if req.symbol and req.symbol != market.name:
        raise Refused(c.TRADE_RETCODE_INVALID, f"position {req.position} is on {market.name}")
    if rq.side(req.type) == position["side"]:
        raise Refused(c.TRADE_RETCODE_INVALID, f"position {req.position} is a {position['side']}:"
                      " it closes with the opposite type")  # fmt: skip
    if req.sl or req.tp:
        raise Refused(c.TRADE_RETCODE_INVALID_STOPS, "a closing request carries no sl/tp")
    qty = rq.volume(market, req, strict=False)
    if qty > Decimal(str(position["qty"])):
        raise Refused(c.TRADE_RETCODE_INVALID_CLOSE_VOLUME,
                      f"volume {plain(qty)} exceeds position {req.position}'s {position['qty']}")
    payload = {"position_id": int(position["id"]), "order_type": "market", "qty": plain(qty),
               **fill}  # fmt: skip
    if req.comment:
        payload["comment"] = req.comment
    return Plan("close_position", payload, closing=True)


def plan_pending(s: Session, req: TradeRequest, *, strict: bool) -> Plan:
    if req.type not in rq.LIMITS | rq.STOPS | rq.STOP_LIMITS:
        raise Refused(c.TRADE_RETCODE_INVALID_ORDER, f"type {req.type} is no pending order type")
    if req.position:
        raise Refused(c.TRADE_RETCODE_INVALID, "a pending order opens; close a position with "
                      "TRADE_ACTION_DEAL")  # fmt: skip
    rq.expiration(req)
    market = market_of(s, req)
    qty = rq.volume(market, req, strict=strict)
    payload = rq.pending_payload(market, req)
    bid, ask = quote(s, market)
    rq.pending_price_check(req.type, rq.price(market, req.price), bid, ask)
    fill = rq.filling(req, pending=True, limit=req.type in rq.LIMITS)
    _long_only(s, market, req, qty)
    payload.update({"qty": plain(qty), **rq.stops(market, req), **fill,
                    **strategy(s, req, resolve=not strict)})  # fmt: skip
    if req.comment:
        payload["comment"] = req.comment
    return Plan("send_order", payload)


def _target(value: float, market: Market) -> str | None:
    return plain(rq.price(market, value, "sl/tp")) if value else None


def plan_sltp(s: Session, req: TradeRequest) -> Plan:
    """New sl and tp of a position (0 removes one); the same values are `NO_CHANGES`. On a
    netting account the symbol alone names the position, as in MetaTrader."""
    if req.position:
        position = open_position(s, req.position)
    else:
        market = market_of(s, req)
        mine = [p for p in ledger.open_positions(s) if p["symbol"] == market.symbol]
        if s.hedging or len(mine) != 1:
            raise Refused(c.TRADE_RETCODE_INVALID, "TRADE_ACTION_SLTP needs the position ticket")
        position = mine[0]
    market = s.by_symbol[str(position["symbol"])]
    sl, tp = _target(req.sl, market), _target(req.tp, market)
    now = [None if position.get(k) is None else plain(Decimal(str(position[k])))
           for k in ("stop_loss", "stop_gain")]  # fmt: skip
    if [sl, tp] == now:
        raise Refused(c.TRADE_RETCODE_NO_CHANGES, "sl and tp are already these")
    return Plan("position_change", {"position_id": int(position["id"]), "oms_stop_loss": sl,
                                    "oms_stop_gain": tp})  # fmt: skip


def _open_order(s: Session, ticket: int) -> dict[str, Any]:
    if ticket <= 0:
        raise Refused(c.TRADE_RETCODE_INVALID, "the request needs the order ticket")
    items = s.gateway.get(f"/oms/orders/{ticket}", account_ids=s.login)["items"]
    if not items or items[0]["status"] not in OPEN_STATES:
        raise Refused(c.TRADE_RETCODE_INVALID, f"order {ticket} is not an open order")
    return dict(items[0])


def plan_modify(s: Session, req: TradeRequest) -> Plan:
    """A pending order's price (a stop-limit's `stoplimit`); its trigger, sl/tp and expiry
    are not changed by the gateway's `change_order` and are refused if they differ."""
    order = _open_order(s, req.order)
    market = s.by_symbol[str(order["symbol"])]
    kind = order_type(order)
    rq.expiration(req)
    if _target(req.sl, market) != _plain_or_none(order.get("stop_loss")) or _target(
            req.tp, market) != _plain_or_none(order.get("stop_gain")):
        raise Refused(c.TRADE_RETCODE_INVALID_STOPS, "the gateway keeps a pending order's sl/tp:"
                      " remove the order and place another")  # fmt: skip
    trigger = _plain_or_none(order.get("trigger_price") or order.get("stop_price"))
    if kind in rq.LIMITS:
        new = plain(rq.price(market, req.price))
    else:
        if plain(rq.price(market, req.price)) != trigger:
            raise Refused(c.TRADE_RETCODE_INVALID_PRICE, "the gateway keeps a stop order's "
                          "trigger price: remove the order and place another")  # fmt: skip
        if kind in rq.STOPS:
            raise Refused(c.TRADE_RETCODE_NO_CHANGES, "nothing to change")
        new = plain(rq.price(market, req.stoplimit, "stoplimit"))
    if new == _plain_or_none(order.get("price")):
        raise Refused(c.TRADE_RETCODE_NO_CHANGES, "the order already has this price")
    return Plan("change_order", {"order_id": req.order, "new_price": new}, order=req.order)


def _plain_or_none(value: Any) -> str | None:
    return None if value is None else plain(Decimal(str(value)))


def plan_remove(s: Session, req: TradeRequest) -> Plan:
    order = _open_order(s, req.order)
    return Plan("cancel_order", {"order_id": int(order["id"])}, order=req.order)


def plan_close_by(s: Session, req: TradeRequest) -> Plan:
    if not s.hedging:
        raise Refused(c.TRADE_RETCODE_INVALID_ORDER, "close-by needs a hedging account")
    a, b = open_position(s, req.position), open_position(s, req.position_by)
    return Plan("close_by", {"position_id_a": int(a["id"]), "position_id_b": int(b["id"])},
                closing=True)  # fmt: skip


def plan(s: Session, req: TradeRequest, *, strict: bool = False) -> Plan:
    """The command of a request; `strict` (order_check) checks volumes here and leaves magic
    numbers unresolved (a check creates nothing)."""
    if req.action == c.TRADE_ACTION_DEAL:
        return plan_deal(s, req, strict=strict)
    if req.action == c.TRADE_ACTION_PENDING:
        return plan_pending(s, req, strict=strict)
    if req.action == c.TRADE_ACTION_SLTP:
        return plan_sltp(s, req)
    if req.action == c.TRADE_ACTION_MODIFY:
        return plan_modify(s, req)
    if req.action == c.TRADE_ACTION_REMOVE:
        return plan_remove(s, req)
    if req.action == c.TRADE_ACTION_CLOSE_BY:
        return plan_close_by(s, req)
    raise Refused(c.TRADE_RETCODE_INVALID, f"action {req.action} is no TRADE_ACTION_*")


def result(req: TradeRequest, retcode: int, comment: str = "", *, order: int = 0, deal: int = 0,
           volume: float = 0.0, price: float = 0.0, request_id: int = 0) -> OrderSendResult:
    text = RETCODE_TEXT.get(retcode, "")
    # the official package's answer carries the request as a named tuple (its documentation
    # calls `result.request._asdict()`); the published stubs type it as a dict
    echoed: Any = req
    return OrderSendResult(retcode=retcode, deal=deal, order=order, volume=volume, price=price,
                           bid=0.0, ask=0.0, comment=(comment or text)[:255],
                           request_id=request_id, retcode_external=0, request=echoed)  # fmt: skip


def send(s: Session, req: TradeRequest) -> OrderSendResult:
    try:
        step = plan(s, req)
    except Refused as refused:
        return result(req, refused.retcode, refused.comment, order=req.order)
    body = {"account_id": s.login, "command": step.command, "payload": step.payload,
            "request_id": "mt5" + secrets.token_hex(12)}  # fmt: skip
    try:
        answer = s.gateway.post("/oms/commands", body, wait="completed")
    except Unreachable as exc:
        code = c.TRADE_RETCODE_TIMEOUT if exc.timed_out else c.TRADE_RETCODE_CONNECTION
        return result(req, code, str(exc))
    except GatewayError as exc:
        if exc.status == 401:
            raise
        item = exc.details.get("item") or {}
        code = (retcode_of(exc.code, exc.message, exc.details, closing=step.closing)
                if not exc.code.startswith("http_") else retcode_of_status(exc.status))
        return result(req, code, exc.message, order=int(item.get("order_id") or step.order),
                      request_id=int(item.get("command_id") or 0))  # fmt: skip
    return _answered(s, req, step, answer["results"][0])


def _answered(s: Session, req: TradeRequest, step: Plan, item: dict[str, Any]) -> OrderSendResult:
    command_id = int(item.get("command_id") or 0)
    order_id = int(item.get("order_id") or step.order)
    if item.get("status") != "completed":
        return result(req, c.TRADE_RETCODE_TIMEOUT, f"command {command_id} is still "
                      f"{item.get('status')}: see orders_get", order=order_id,
                      request_id=command_id)  # fmt: skip
    if step.command not in ("send_order", "close_position"):
        return result(req, c.TRADE_RETCODE_DONE, order=order_id, request_id=command_id)
    (order,) = s.gateway.get(f"/oms/orders/{order_id}", account_ids=s.login)["items"]
    filled = dec(num(order.get("filled_qty")))
    deals = ledger.deals(s, order_id=order_id)
    deal = min((int(d["id"]) for d in deals), default=0)
    status = str(order["status"])
    retcode = _order_retcode(status, filled, order, req, step)
    at = num(order.get("avg_fill_price")) or num(order.get("price"))
    placed = req.action == c.TRADE_ACTION_PENDING and status in OPEN_STATES
    volume = float(filled) if filled else (num(order["qty"]) if placed else 0.0)
    return result(req, retcode, str(order.get("error_message") or ""), order=order_id, deal=deal,
                  volume=volume, price=at, request_id=command_id)  # fmt: skip


def _order_retcode(status: str, filled: Decimal, order: dict[str, Any], req: TradeRequest,
                   step: Plan) -> int:  # fmt: skip
    qty = Decimal(str(order["qty"]))
    if status == "FILLED" or (status == "PARTIALLY_FILLED" and filled >= qty):
        return c.TRADE_RETCODE_DONE
    if status == "REJECTED":
        return retcode_of(str(order.get("error_code") or ""), str(order.get("error_message") or ""),
                          closing=step.closing)  # fmt: skip
    if filled > 0:
        return c.TRADE_RETCODE_DONE_PARTIAL
    if status in ("CANCELED", "EXPIRED"):
        return c.TRADE_RETCODE_PRICE_OFF  # an IOC / FOK order found nothing to take
    # resting: a pending order is placed (MetaTrader answers DONE); a market order whose fill
    # the venue has not reported yet is only placed
    return c.TRADE_RETCODE_DONE if req.action == c.TRADE_ACTION_PENDING else c.TRADE_RETCODE_PLACED
