"""The books as MetaTrader shows them where hedging and netting differ: a netting reversal is
one position (one ticket) and one `DEAL_ENTRY_INOUT` deal; close-by on a hedging account books
two `DEAL_ENTRY_OUT_BY` deals; a pending stop-limit rests, moves and is removed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import mt5_driver as mt5
from test.mt5.conftest import Stack

pytestmark = pytest.mark.mysql


def send(**request: Any) -> Any:
    result = mt5.order_send({"symbol": "USDJPY", "action": mt5.TRADE_ACTION_DEAL, **request})
    assert result is not None, mt5.last_error()
    return result


def test_a_netting_reversal_keeps_the_ticket(stack: Stack, connect: Callable[..., int]) -> None:
    stack.price("50000")
    connect("netting")
    first = send(volume=0.1, type=mt5.ORDER_TYPE_BUY)
    stack.price("50100")
    reverse = send(volume=0.3, type=mt5.ORDER_TYPE_SELL)
    assert reverse.retcode == mt5.TRADE_RETCODE_DONE
    (position,) = mt5.positions_get(symbol="USDJPY")
    assert (position.ticket, position.identifier, position.type, position.volume) == (
        first.order, first.order, mt5.POSITION_TYPE_SELL, 0.2)
    deals = mt5.history_deals_get(position=first.order)
    assert [(d.entry, d.volume, d.profit, d.order) for d in deals] == [
        (mt5.DEAL_ENTRY_IN, 0.1, 0.0, first.order),
        (mt5.DEAL_ENTRY_INOUT, 0.3, 10.0, reverse.order)]  # (50100 - 50000) × 0.1
    assert mt5.positions_total() == 1


def test_close_by_on_a_hedging_account(stack: Stack, connect: Callable[..., int]) -> None:
    stack.price("50000")
    connect("hedge")
    long = send(volume=0.1, type=mt5.ORDER_TYPE_BUY)
    stack.price("50200")
    short = send(volume=0.1, type=mt5.ORDER_TYPE_SELL)
    assert mt5.positions_total() == 2
    done = mt5.order_send({"action": mt5.TRADE_ACTION_CLOSE_BY, "position": long.order,
                           "position_by": short.order})  # fmt: skip
    assert done.retcode == mt5.TRADE_RETCODE_DONE, done
    assert mt5.positions_get() == ()
    by = [d for d in mt5.history_deals_get(position=long.order) if d.entry == mt5.DEAL_ENTRY_OUT_BY]
    assert [(d.volume, d.price, d.profit) for d in by] == [(0.1, 50200.0, 20.0)]


def test_a_pending_stop_limit_rests_moves_and_is_removed(stack: Stack,
                                                        connect: Callable[..., int]) -> None:
    stack.price("50000")
    connect("hedge")
    placed = mt5.order_send({"action": mt5.TRADE_ACTION_PENDING, "symbol": "USDJPY",
                             "volume": 0.1, "type": mt5.ORDER_TYPE_BUY_STOP_LIMIT,
                             "price": 50500.0, "stoplimit": 50400.0, "sl": 49000.0,
                             "type_filling": mt5.ORDER_FILLING_RETURN, "magic": 42})  # fmt: skip
    assert (placed.retcode, placed.volume) == (mt5.TRADE_RETCODE_DONE, 0.1), placed
    (order,) = mt5.orders_get(ticket=placed.order)
    assert (order.type, order.price_open, order.price_stoplimit, order.sl, order.magic,
            order.state) == (mt5.ORDER_TYPE_BUY_STOP_LIMIT, 50500.0, 50400.0, 49000.0, 42,
                             mt5.ORDER_STATE_PLACED)  # fmt: skip
    assert stack.order(placed.order)["trigger_price"] == "50500"
    moved = mt5.order_send({"action": mt5.TRADE_ACTION_MODIFY, "order": placed.order,
                            "price": 50500.0, "stoplimit": 50450.0, "sl": 49000.0})  # fmt: skip
    assert moved.retcode == mt5.TRADE_RETCODE_DONE, moved
    assert mt5.orders_get(ticket=placed.order)[0].price_stoplimit == 50450.0
    gone = mt5.order_send({"action": mt5.TRADE_ACTION_REMOVE, "order": placed.order})
    assert gone.retcode == mt5.TRADE_RETCODE_DONE
    assert mt5.orders_total() == 0
    (history,) = mt5.history_orders_get(ticket=placed.order)
    assert history.state == mt5.ORDER_STATE_CANCELED
