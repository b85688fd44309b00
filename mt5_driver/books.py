"""The gateway's books as MetaTrader shows them: orders → `TradeOrder`, positions →
`TradePosition`, deals → `TradeDeal`. Pure; the caller passes how tickets, magic numbers and
symbol names are found (`Lookup`).

Tickets: an order's ticket is its gateway order id, a deal's its deal id, and a position's is
the ticket of the order that opened it (MetaTrader's rule, on which programs rely:
`position=result.order` closes what `order_send` opened); a netting reversal keeps the ticket
of the position it reversed, as MetaTrader's netting position keeps its identifier.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mt5_driver import constants as c
from mt5_driver.convert import ms_of, num
from mt5_driver.structures import TradeDeal, TradeOrder, TradePosition


@dataclass(frozen=True)
class Lookup:
    ticket: Callable[[int | None], int]  # gateway position id → position ticket (0 for None)
    magic: Callable[[int | None], int]  # gateway strategy id → magic number
    name: Callable[[str], str]  # gateway symbol → MetaTrader name


STATES = {
    "PENDING_SUBMIT": c.ORDER_STATE_REQUEST_ADD, "SUBMITTED": c.ORDER_STATE_PLACED,
    "PARTIALLY_FILLED": c.ORDER_STATE_PARTIAL, "FILLED": c.ORDER_STATE_FILLED,
    "CANCELED": c.ORDER_STATE_CANCELED, "REJECTED": c.ORDER_STATE_REJECTED,
    "EXPIRED": c.ORDER_STATE_EXPIRED,
}  # fmt: skip
OPEN_STATES = frozenset({"PENDING_SUBMIT", "SUBMITTED", "PARTIALLY_FILLED"})
ORDER_REASONS = {"stop_loss": c.ORDER_REASON_SL, "take_profit": c.ORDER_REASON_TP,
                 "external": c.ORDER_REASON_CLIENT}  # fmt: skip
DEAL_REASONS = {"stop_loss": c.DEAL_REASON_SL, "take_profit": c.DEAL_REASON_TP,
                "external": c.DEAL_REASON_CLIENT, "funding": c.DEAL_REASON_ROLLOVER}  # fmt: skip
FILLINGS = {"IOC": c.ORDER_FILLING_IOC, "FOK": c.ORDER_FILLING_FOK, "PO": c.ORDER_FILLING_BOC}


def order_type(order: dict[str, Any]) -> int:
    """MetaTrader's order type: a trigger makes a stop (market) or a stop-limit (limit); a
    take-profit trigger waits for a favourable move, as a limit does."""
    buy = order["side"] == "buy"
    limit = order["order_type"] == "limit"
    if order.get("trigger_price") is not None or order.get("stop_price") is not None:
        if limit:
            return c.ORDER_TYPE_BUY_STOP_LIMIT if buy else c.ORDER_TYPE_SELL_STOP_LIMIT
        return c.ORDER_TYPE_BUY_STOP if buy else c.ORDER_TYPE_SELL_STOP
    if limit or order.get("take_profit_price") is not None:
        return c.ORDER_TYPE_BUY_LIMIT if buy else c.ORDER_TYPE_SELL_LIMIT
    return c.ORDER_TYPE_BUY if buy else c.ORDER_TYPE_SELL


def _filling(order: dict[str, Any]) -> int:
    if order.get("post_only"):
        return c.ORDER_FILLING_BOC
    return FILLINGS.get(str(order.get("time_in_force")), c.ORDER_FILLING_RETURN)


def _prices(order: dict[str, Any]) -> tuple[float, float]:
    """(price_open, price_stoplimit): a stop-limit opens at its trigger and limits at its
    price; a stop at its trigger; a limit at its price; a market order at its fill."""
    trigger = order.get("trigger_price") or order.get("stop_price") or order.get(
        "take_profit_price")
    if trigger is not None and order["order_type"] == "limit":
        return num(trigger), num(order.get("price"))
    if trigger is not None:
        return num(trigger), 0.0
    return num(order.get("price") or order.get("avg_fill_price")), 0.0


def trade_order(order: dict[str, Any], look: Lookup, price_current: float = 0.0) -> TradeOrder:
    setup, done = ms_of(order.get("created_at")), ms_of(order.get("closed_at"))
    state = STATES.get(str(order["status"]), c.ORDER_STATE_STARTED)
    if order.get("edit_replace_state") == "replace_pending":
        state = c.ORDER_STATE_REQUEST_MODIFY
    qty, filled = Decimal(str(order["qty"])), Decimal(str(order.get("filled_qty") or 0))
    price_open, stoplimit = _prices(order)
    return TradeOrder(
        ticket=int(order["id"]), time_setup=setup // 1000, time_setup_msc=setup,
        time_done=done // 1000, time_done_msc=done, time_expiration=0, type=order_type(order),
        type_time=c.ORDER_TIME_GTC, type_filling=_filling(order), state=state,
        magic=look.magic(order.get("strategy_id")), position_id=look.ticket(order.get("position_id")),
        position_by_id=0, reason=ORDER_REASONS.get(str(order.get("reason")), c.ORDER_REASON_EXPERT),
        volume_initial=float(qty), volume_current=float(qty - filled), price_open=price_open,
        sl=num(order.get("stop_loss")), tp=num(order.get("stop_gain")),
        price_current=price_current or num(order.get("avg_fill_price")),
        price_stoplimit=stoplimit, symbol=look.name(str(order["symbol"])),
        comment=str(order.get("comment") or ""), external_id=str(order.get("exchange_order_id") or ""),
    )  # fmt: skip


def trade_position(position: dict[str, Any], look: Lookup) -> TradePosition:
    """An open position of `GET /oms/portfolio` (with its mark and unrealised PnL)."""
    opened, updated = ms_of(position.get("opened_at")), ms_of(position.get("updated_at"))
    ticket = look.ticket(int(position["id"]))
    reason = c.POSITION_REASON_CLIENT if position.get("reason") == "external" else (
        c.POSITION_REASON_EXPERT)
    return TradePosition(
        ticket=ticket, time=opened // 1000, time_msc=opened, time_update=updated // 1000,
        time_update_msc=updated,
        type=c.POSITION_TYPE_BUY if position["side"] == "buy" else c.POSITION_TYPE_SELL,
        magic=look.magic(position.get("strategy_id")), identifier=ticket, reason=reason,
        volume=num(position["qty"]), price_open=num(position["avg_price"]),
        sl=num(position.get("stop_loss")), tp=num(position.get("stop_gain")),
        price_current=num(position.get("mark_price")), swap=0.0,
        profit=num(position.get("unrealized_pnl")), symbol=look.name(str(position["symbol"])),
        comment=str(position.get("comment") or ""), external_id=str(position["id"]),
    )  # fmt: skip


def _deal_type(deal: dict[str, Any]) -> int:
    return c.DEAL_TYPE_BUY if deal["side"] == "buy" else c.DEAL_TYPE_SELL


ENTRIES = {"in": c.DEAL_ENTRY_IN, "out": c.DEAL_ENTRY_OUT, "out_by": c.DEAL_ENTRY_OUT_BY}


def trade_deal(deal: dict[str, Any], look: Lookup, inout: dict[str, Any] | None = None
               ) -> TradeDeal:  # fmt: skip
    """One deal; with `inout` (the `in` leg of the same fill on the position it reversed to),
    MetaTrader's single reversal deal: `DEAL_ENTRY_INOUT`, both legs' volume and fees."""
    at = ms_of(deal.get("executed_at"))
    funding = deal.get("reason") == "funding"
    volume, fee = Decimal(str(deal["qty"])), Decimal(str(deal.get("fee") or 0))
    if inout is not None:
        volume += Decimal(str(inout["qty"]))
        fee += Decimal(str(inout.get("fee") or 0))
    pnl = num(deal.get("pnl"))
    return TradeDeal(
        ticket=int(deal["id"]), order=int(deal.get("order_id") or 0), time=at // 1000,
        time_msc=at, type=_deal_type(deal),
        entry=c.DEAL_ENTRY_INOUT if inout is not None else ENTRIES.get(str(deal.get("entry")), 0),
        magic=look.magic(deal.get("strategy_id")), position_id=look.ticket(deal.get("position_id")),
        reason=DEAL_REASONS.get(str(deal.get("reason")), c.DEAL_REASON_EXPERT),
        volume=float(volume), price=num(deal.get("price")), commission=-float(fee),
        swap=pnl if funding else 0.0, profit=0.0 if funding else pnl, fee=0.0,
        symbol=look.name(str(deal["symbol"])), comment=str(deal.get("comment") or ""),
        external_id=str(deal.get("exchange_trade_id") or ""),
    )  # fmt: skip


def trade_deals(deals: list[dict[str, Any]], look: Lookup) -> list[TradeDeal]:
    """Deals oldest first; a netting reversal's two legs (leg 0 `out`, leg 1 `in`, one fill,
    one position ticket) become one `DEAL_ENTRY_INOUT` deal."""
    ordered = sorted(deals, key=lambda d: int(d["id"]))
    legs = {(d.get("order_id"), d.get("exchange_trade_id")): d for d in ordered
            if int(d.get("leg") or 0) == 1 and d.get("exchange_trade_id")}  # fmt: skip
    used: set[int] = set()
    out = []
    for deal in ordered:
        if int(deal["id"]) in used:
            continue
        other = legs.get((deal.get("order_id"), deal.get("exchange_trade_id")))
        pair = (other is not None and other is not deal and int(deal.get("leg") or 0) == 0
                and look.ticket(other.get("position_id")) == look.ticket(deal.get("position_id")))
        if pair and other is not None:
            used.add(int(other["id"]))
        out.append(trade_deal(deal, look, other if pair else None))
    return out
