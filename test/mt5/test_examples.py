"""Done means: MetaTrader 5's documented examples that trade and read run unmodified against a
paper account, hedging and netting, and the books show what MetaTrader would."""

from __future__ import annotations

import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import mt5_driver as mt5
from test.mt5.conftest import Stack, run_example

pytestmark = pytest.mark.mysql


@pytest.mark.parametrize("mode", ["hedge", "netting"])
def test_documented_examples_run_unmodified(stack: Stack, alias_site: Path, connect: Any,
                                            mode: str) -> None:  # fmt: skip
    stack.price("50000")
    account = connect(mode)
    out = run_example(stack, account, alias_site, "order_send.py")
    ticket = int(re.search(r"POSITION_TICKET=(\d+)", out).group(1))  # type: ignore[union-attr]
    assert f"4. position #{ticket} closed" in out, out
    assert "traderequest" in out  # result.request._asdict(): the request is a named tuple

    # the gateway's books: one position, opened by the order whose ticket the example got,
    # with the example's SL/TP (100 points = 100 ticks of 0.1 from 50000), closed by a sell
    deals = stack.deals(account)
    assert [(d["side"], d["entry"], d["qty"], d["price"]) for d in deals] == [
        ("buy", "in", "0.1", "50000"), ("sell", "out", "0.1", "50000")]
    assert deals[0]["order_id"] == ticket
    position = stack.position(deals[0]["position_id"])
    assert (position["state"], position["stop_loss"], position["stop_gain"]) == (
        "closed", "49990", "50010")
    strategy = [s for s in stack.get("/strategies")["items"]
                if s["strategy_id"] == deals[0]["strategy_id"]]
    assert strategy[0]["client_strategy_id"] == 234000  # magic = the gateway's strategy

    # MetaTrader's view of the same books
    history = mt5.history_deals_get(position=ticket)
    assert [(d.entry, d.type, d.volume, d.position_id, d.magic, d.symbol) for d in history] == [
        (mt5.DEAL_ENTRY_IN, mt5.DEAL_TYPE_BUY, 0.1, ticket, 234000, "USDJPY"),
        (mt5.DEAL_ENTRY_OUT, mt5.DEAL_TYPE_SELL, 0.1, ticket, 234000, "USDJPY")]
    orders = mt5.history_orders_get(position=ticket)
    assert [(o.ticket == ticket, o.type, o.state, o.comment) for o in orders] == [
        (True, mt5.ORDER_TYPE_BUY, mt5.ORDER_STATE_FILLED, "python script open"),
        (False, mt5.ORDER_TYPE_SELL, mt5.ORDER_STATE_FILLED, "python script close")]

    # an open position for positions_get's example, then the history and rates examples
    opened = mt5.order_send({"action": mt5.TRADE_ACTION_DEAL, "symbol": "USDJPY", "volume": 0.2,
                             "type": mt5.ORDER_TYPE_SELL if mode == "netting" else mt5.ORDER_TYPE_BUY,
                             "magic": 7})  # fmt: skip
    assert opened.retcode == mt5.TRADE_RETCODE_DONE, opened
    out = run_example(stack, account, alias_site, "positions_get.py")
    assert 'positions_get(group="*USD*")=1' in out, out
    assert "USDJPY" in out
    assert str(opened.order) in out
    out = run_example(stack, account, alias_site, "history_deals_get.py")
    assert 'group="*,!*EUR*,!*GBP*") = 3' in out, out
    assert "*GBP*" not in out.split("=")[0]  # no GBP deals: the first query prints nothing
    out = run_example(stack, account, alias_site, "copy_rates_range.py")
    # 2020 is before the paper market's history: no bars, the table has MetaTrader's columns
    assert "time  open  high  low  close  tick_volume  spread  real_volume" in " ".join(
        out.split()) or "[time, open, high, low, close, tick_volume, spread, real_volume]" in out


def test_copy_rates_range_over_the_venue_history(stack: Stack, connect: Any) -> None:
    """Bars inside the history: the venue's candles, MetaTrader's dtype, and M2 / H2 / W1
    built from the venue's 1m / 1h / 1d bars."""
    stack.price("50000")
    account = connect("hedge")
    end = int(time.time())
    rates = mt5.copy_rates_range("USDJPY", mt5.TIMEFRAME_M5, end - 3600, end)
    assert rates.dtype.names == ("time", "open", "high", "low", "close", "tick_volume", "spread",
                                 "real_volume")  # fmt: skip
    venue = stack.client.post(f"/ccxt/{account}/fetch_ohlcv",
                              json={"args": ["BTC/USDT:USDT", "5m", (end - 3600) * 1000, 100]}
                              ).json()["result"]  # fmt: skip
    assert [int(r[0]) // 1000 for r in venue if r[0] // 1000 <= end] == list(rates["time"])
    assert [float(Decimal(r[4])) for r in venue if r[0] // 1000 <= end] == list(rates["close"])
    m1 = mt5.copy_rates_range("USDJPY", mt5.TIMEFRAME_M1, end - 1200, end)
    m2 = mt5.copy_rates_range("USDJPY", mt5.TIMEFRAME_M2, end - 1200, end)
    assert all(t % 120 == 0 for t in m2["time"])
    assert len(m2) >= 9
    first = m1[m1["time"] == m2["time"][1]][0], m1[m1["time"] == m2["time"][1] + 60][0]
    assert m2[1]["open"] == first[0]["open"]
    assert m2[1]["close"] == first[1]["close"]
    assert m2[1]["high"] == max(first[0]["high"], first[1]["high"])
    h2 = mt5.copy_rates_from_pos("USDJPY", mt5.TIMEFRAME_H2, 0, 3)
    assert len(h2) == 3
    assert all(t % 7200 == 0 for t in h2["time"])
    w1 = mt5.copy_rates_from("USDJPY", mt5.TIMEFRAME_W1, end, 2)
    assert len(w1) >= 1
    assert all((t // 86400 - 3) % 7 == 0 for t in w1["time"])
