"""The trades of a venue's order report (`booking.with_order_fields`): Binance spot's order response
carries its `fills`, which CCXT parses without side, order id or time; each takes them from its
order, so the placement's own answer books them (it failed with `None is not a valid Side`, and
the order ended FILLED with nothing booked)."""

from __future__ import annotations

from decimal import Decimal
from typing import cast

from apps.oms.service.execution.booking import fill_of, with_order_fields
from apps.oms.store.order_rows import OrderRow

D = Decimal
#: the order row the trades belong to (what a trade without its order structure falls back on)
ROW = cast(OrderRow, {"symbol": "BTC/USDT", "side": "sell"})


def test_a_fill_of_an_order_response_takes_its_orders_fields() -> None:
    order = {"id": "7", "symbol": "BTC/USDT", "side": "buy", "timestamp": 1795780404305,
             "lastTradeTimestamp": None, "status": "closed", "filled": D("0.002"),
             "trades": [{"id": "2", "order": None, "side": None, "symbol": "BTC/USDT",
                         "amount": D("0.002"), "price": D("49990.3"), "timestamp": None,
                         "fee": {"currency": "USDT", "cost": D("0.0999806")}}]}  # fmt: skip
    trade = with_order_fields(order["trades"][0], order)
    assert (trade["side"], trade["order"], trade["timestamp"]) == ("buy", "7", 1795780404305)
    fill = fill_of(trade, ROW)
    assert (fill.side.value, fill.qty, fill.price, fill.exchange_trade_id, fill.fee) == (
        "buy", D("0.002"), D("49990.3"), "2", D("0.0999806"))


def test_a_trades_own_fields_stand() -> None:
    order = {"id": "7", "symbol": "BTC/USDT", "side": "buy", "timestamp": 1,
             "lastTradeTimestamp": 5,
             "trades": [{"id": "2", "order": "7", "side": "buy", "symbol": "BTC/USDT",
                         "timestamp": 3}, {"id": "3"}]}  # fmt: skip
    first, second = (with_order_fields(t, order) for t in order["trades"])
    assert first["timestamp"] == 3
    assert (second["side"], second["symbol"], second["timestamp"]) == ("buy", "BTC/USDT", 5)
    assert with_order_fields({"id": "4"}, None) == {"id": "4"}  # a trade report on its own


def test_a_trade_reported_without_its_order_takes_the_order_rows_side() -> None:
    fill = fill_of({"id": "9", "amount": D(1), "price": D(2), "side": None, "symbol": None},
                   ROW)  # fmt: skip
    assert (fill.side.value, fill.symbol) == ("sell", "BTC/USDT")
