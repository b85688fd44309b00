"""The Charts screen in headless Chromium against the real API and worker: it opens on the
symbol the account last traded (the quick start trades spot, not the default perpetual), and
its fill markers and position lines stay readable: one marker per candle and side with the
summed qty, labels thinned so that two of one side never overlap; the lines named beside the
chart, not over its newest candles, and one price label per spot of the axis."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from test.console.conftest import SYMBOL, Keys, close_all, goto, login, wait_live

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(900)]
SPOT = "BTC/USDT"


def fills(keys: Keys, symbol: str) -> list[dict[str, Any]]:
    return [d for d in keys.stack.deals(keys.account_id, symbol=symbol) if d["qty"] != "0"]


def test_charts_open_on_the_symbol_last_traded(page: Page, keys: Keys) -> None:
    stack, acct = keys.stack, keys.account_id
    close_all(keys)
    stack.price("100")
    stack.price("100", SPOT)
    stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market", qty="0.1")
    stack.cmd(acct, "send_order", symbol=SPOT, side="buy", order_type="market", qty="0.1")
    login(page, stack.base, stack.trader_key)
    wait_live(page)
    goto(page, "charts")
    expect(page.get_by_test_id("price_symbol")).to_have_value(SPOT)
    spot = fills(keys, SPOT)
    assert spot
    expect(page.get_by_test_id("price-fills")).to_have_attribute("data-fills", str(len(spot)))
    expect(page.get_by_test_id("price-candles")).not_to_have_attribute("data-candles", "0")
    # a symbol the user types is kept, and applied
    page.get_by_test_id("price_symbol").fill(SYMBOL)
    page.get_by_test_id("price-apply").click()
    expect(page.get_by_test_id("price-fills")).to_have_attribute(
        "data-fills", str(len(fills(keys, SYMBOL))))
    close_all(keys)


def minute(iso: str) -> int:
    seconds = int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
    return seconds - seconds % 60


def test_fill_markers_merge_per_candle_and_keep_labels_apart(page: Page, keys: Keys) -> None:
    stack, acct = keys.stack, keys.account_id
    close_all(keys)
    stack.price("100")
    for side, qty in (("buy", "0.1"), ("buy", "0.25"), ("sell", "0.1"), ("buy", "0.05"),
                      ("sell", "0.3"), ("buy", "0.1")):
        stack.cmd(acct, "send_order", symbol=SYMBOL, side=side, order_type="market", qty=qty)
    login(page, stack.base, stack.trader_key)
    wait_live(page)
    goto(page, "charts")
    page.get_by_test_id("price_symbol").fill(SYMBOL)
    page.get_by_test_id("price-apply").click()
    deals = fills(keys, SYMBOL)
    expect(page.get_by_test_id("price-fills")).to_have_attribute("data-fills", str(len(deals)))
    want: dict[tuple[int, str], list[Decimal]] = defaultdict(list)
    for d in deals:
        want[(minute(d["executed_at"]), d["side"])].append(Decimal(d["qty"]))
    page.wait_for_function("() => window.omsConsole.charts.price.marks.length > 0")
    state = page.evaluate("window.omsConsole.charts.price")
    marks = state["marks"]
    # one marker per (candle, side), with the exact sum of its fills and their number
    assert sorted((m["time"], m["side"]) for m in marks) == sorted(want)
    for m in marks:
        group = want[(m["time"], m["side"])]
        assert (Decimal(m["qty"]), m["fills"]) == (sum(group, Decimal(0)), len(group)), m
        if m["text"]:
            assert m["text"] == (f"{m['qty']} ({m['fills']})" if m["fills"] > 1 else m["qty"])
    # every position's line is named beside the chart; of the six average prices at 100 on the
    # price axis, one label shows (the others would cover it)
    positions = stack.positions(acct)
    assert len(positions) == 6
    names = page.get_by_test_id("price-lines").locator("span")
    expect(names).to_have_count(6)
    assert sorted(int(n) for n in names.evaluate_all("(s) => s.map((e) => e.dataset.position)")
                  ) == sorted(p["id"] for p in positions)
    page.wait_for_function("() => window.omsConsole.charts.price.lines.some((l) => l.label)")
    lines = page.evaluate("window.omsConsole.charts.price.lines")
    assert [(x["kind"], x["price"]) for x in lines] == [("avg", "100")] * 6
    assert sum(x["label"] for x in lines) == 1, lines
    # labels of one side keep `labelBars` candles apart; the newest of each side is labelled
    for side in ("buy", "sell"):
        labelled = sorted(m["time"] for m in marks if m["side"] == side and m["text"])
        assert labelled, side
        assert labelled[-1] == max(m["time"] for m in marks if m["side"] == side)
        assert all((b - a) // 60 >= state["labelBars"] for a, b in pairwise(labelled))
    close_all(keys)
