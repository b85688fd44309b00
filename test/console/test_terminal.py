"""The console as a trading screen, in headless Chromium against the real API and worker: live
PnL that follows the market with no click and equals `/oms/portfolio`, actions on rows (close,
partial close, limit close, SL/TP, modify, cancel; by mouse and by keyboard), the order ticket
at the displayed price, candles equal to `fetch_ohlcv` with fills and position lines, what a
read-only key is offered, every label translated, and the layout fixes."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from test.console.conftest import (
    SYMBOL,
    Keys,
    Shot,
    close_all,
    goto,
    header_problems,
    login,
    wait_cells,
    wait_live,
)

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(900)]
# a chart loads the venue's last 1,000 candles; a new period that opens while the test
# watches is appended live, so 1,001 is the same history one minute later
LOADED = re.compile(r"^100[01]$")
LIVE = ["mark_price", "unrealized_pnl", "pnl_pct", "notional"]


def plain(d: Decimal) -> str:
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def portfolio(keys: Keys) -> dict[str, Any]:
    (item,) = keys.stack.get("/oms/portfolio", account_ids=keys.account_id)["items"]
    return dict(item)


def pct(position: dict[str, Any]) -> str:
    cost = Decimal(position["avg_price"]) * Decimal(position["qty"]) * Decimal(
        position["contract_size"])
    value = Decimal(position["unrealized_pnl"]) * 100 / cost
    return plain(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN))


def test_pnl_follows_the_market_with_no_click_and_equals_the_portfolio(
    page: Page, keys: Keys, shot: Shot
) -> None:
    stack, acct = keys.stack, keys.account_id
    close_all(keys)
    stack.price("100")
    stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market", qty="0.5")
    stack.cmd(acct, "send_order", symbol=SYMBOL, side="sell", order_type="market", qty="0.2")
    login(page, stack.base, stack.trader_key)
    wait_live(page)
    goto(page, "monitor")
    for price in ("103.7", "98.1", "101.35"):
        stack.price(price)  # the market moves; the page is not touched
        book = portfolio(keys)
        for p in book["positions"]:
            assert p["mark_price"] == price
            want = {"mark_price": p["mark_price"], "unrealized_pnl": p["unrealized_pnl"],
                    "notional": p["notional"], "pnl_pct": pct(p)}
            wait_cells(page, "grid-open-positions", str(p["id"]), want, f"position at {price}")
    shot(page, "monitor-open-positions-pnl")
    # the accounts view: balance, unrealised PnL and equity from the same figures, live too
    goto(page, "accounts")
    for price in ("99.05", "100.4"):
        stack.price(price)
        book = portfolio(keys)
        unrealized = sum((Decimal(p["unrealized_pnl"]) for p in book["positions"]), Decimal(0))
        usdt = next(b["total"] for b in book["balances"] if b["currency"] == "USDT")
        wait_cells(page, "grid-accounts", str(acct), {
            "balance": usdt, "unrealized_pnl": plain(unrealized),
            "equity": plain(Decimal(usdt) + unrealized), "open_positions": "2"}, f"at {price}")
    shot(page, "accounts-live")
    close_all(keys)


def open_dialog(page: Page, button: str) -> None:
    page.get_by_test_id(button).click()
    expect(page.get_by_test_id("action-dialog")).to_be_visible()


def confirm(page: Page) -> None:
    page.get_by_test_id("action-confirm").click()
    expect(page.get_by_test_id("action-dialog")).to_be_hidden()


def test_row_actions_close_partial_limit_sltp_modify_cancel(
    page: Page, keys: Keys, shot: Shot
) -> None:
    stack, acct = keys.stack, keys.account_id
    close_all(keys)
    stack.price("100")
    item = stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market",
                     qty="0.5")
    (position,) = stack.positions(acct)
    pid = str(position["id"])
    login(page, stack.base, stack.trader_key)
    wait_live(page)
    goto(page, "monitor")
    wait_cells(page, "grid-open-positions", pid, {"qty": "0.5"}, "opened")

    # partial close at market from the row, with its short confirmation
    open_dialog(page, f"act-close-{pid}")
    dialog = page.get_by_test_id("action-dialog")
    expect(dialog).to_contain_text(f"#{pid}")
    dialog.locator('[name="qty"]').fill("0.2")
    shot(page, "row-action-close")
    confirm(page)
    wait_cells(page, "grid-open-positions", pid, {"qty": "0.3"}, "partial close")
    expect(page.get_by_test_id(f"row-result-{pid}")).to_have_text("✓")
    expect(page.get_by_test_id("position-action-result")).to_contain_text("completed")

    # SL/TP by keyboard: focus a cell of the row, S, type, Enter
    page.locator(f'[data-testid="grid-open-positions"] .ag-row[row-id="{pid}"] [col-id="qty"]'
                 ).click()
    page.keyboard.press("s")
    expect(dialog).to_be_visible()
    dialog.locator('[name="oms_stop_loss"]').fill("90.5")
    dialog.locator('[name="oms_stop_gain"]').fill("121")
    dialog.locator('[name="oms_stop_gain"]').press("Enter")
    expect(dialog).to_be_hidden()
    wait_cells(page, "grid-open-positions", pid, {"stop_loss": "90.5", "stop_gain": "121"},
               "SL/TP")
    assert (stack.position(int(pid))["stop_loss"], stack.position(int(pid))["stop_gain"]) == (
        "90.5", "121")

    # close the rest with a limit above the market: it rests as an order
    open_dialog(page, f"act-close-{pid}")
    dialog.locator('[name="order_type"]').select_option("limit")
    dialog.locator('[name="price"]').fill("110")
    confirm(page)
    (order,) = stack.until(lambda: stack.open_orders(acct), what="the closing limit")
    oid = str(order["id"])
    assert (order["price"], order["qty"], order["side"]) == ("110", "0.3", "sell")
    page.get_by_test_id("tab-open-orders").click()
    wait_cells(page, "grid-open-orders", oid, {"price": "110"}, "limit shown")

    # modify the order's price from its row, then cancel it by keyboard (Delete)
    open_dialog(page, f"act-modify-{oid}")
    dialog.locator('[name="new_price"]').fill("111")
    confirm(page)
    wait_cells(page, "grid-open-orders", oid, {"price": "111"}, "modified")
    assert stack.order(int(oid))["price"] == "111"
    page.locator(f'[data-testid="grid-open-orders"] .ag-row[row-id="{oid}"] [col-id="qty"]'
                 ).click()
    page.keyboard.press("Delete")
    expect(dialog).to_be_visible()
    expect(dialog.locator("h3")).to_contain_text(f"#{oid}")
    expect(page.get_by_test_id("action-confirm")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("order-action-result")).to_contain_text("completed")
    assert stack.open_orders(acct) == [], stack.open_orders(acct)
    expect(page.locator(f'[data-testid="grid-open-orders"] .ag-row[row-id="{oid}"]')
           ).to_have_count(0)

    # a refused action shows the API's message on the row and keeps the dialog open
    page.get_by_test_id("tab-open-positions").click()
    open_dialog(page, f"act-close-{pid}")
    dialog.locator('[name="qty"]').fill("7")
    page.get_by_test_id("action-confirm").click()
    expect(page.get_by_test_id("action-result")).to_have_class("msg error")
    expect(page.get_by_test_id(f"row-result-{pid}")).to_have_text("✗")
    page.get_by_test_id("action-dismiss").click()

    # close all at market: the row goes, the outcome stays in the status line
    open_dialog(page, f"act-close-{pid}")
    confirm(page)
    expect(page.locator(f'[data-testid="grid-open-positions"] .ag-row[row-id="{pid}"]')
           ).to_have_count(0)
    expect(page.get_by_test_id("position-action-result")).to_contain_text("completed")
    assert stack.positions(acct) == []
    assert item["status"] == "completed"


def test_ticket_sends_at_the_displayed_price(page: Page, keys: Keys, shot: Shot) -> None:
    stack, acct = keys.stack, keys.account_id
    close_all(keys)
    stack.price("100")
    login(page, stack.base, stack.trader_key)
    wait_live(page)
    goto(page, "terminal")
    ticket = page.locator('form[data-form="ticket"]')
    ticket.locator('[name="account_id"]').select_option(str(acct))
    expect(ticket.locator(f'[name="symbol"] option[value="{SYMBOL}"]')).to_have_count(1)
    ticket.locator('[name="symbol"]').select_option(SYMBOL)
    expect(page.get_by_test_id("ticket-qty-hint")).to_have_text(re.compile(r"0\.0001.*0\.0001"))
    stack.price("101.3")
    ask = page.get_by_test_id("quote-ask")
    expect(ask).to_have_text("101.3")  # the live quote, with no click
    expect(page.get_by_test_id("quote-spread")).to_contain_text("bps")
    ask.click()
    shown = ask.inner_text()
    expect(ticket.locator('[name="price"]')).to_have_value(shown)
    expect(ticket.locator('[name="order_type"]')).to_have_value("limit")
    ticket.locator('[name="qty"]').fill("0.1")
    ticket.locator('[name="oms_stop_loss"]').fill("95")
    shot(page, "terminal-ticket")
    page.get_by_test_id("ticket-buy").click()
    result = page.get_by_test_id("result-ticket")
    expect(result).to_have_class(re.compile(r"msg (ok|error)"))
    assert result.get_attribute("class") == "msg ok", result.inner_text()
    found = re.search(r"order #(\d+)", result.inner_text())
    assert found, result.inner_text()
    order_id = int(found.group(1))
    order = stack.order(order_id)
    assert (order["price"], order["side"], order["order_type"], order["qty"]) == (
        shown, "buy", "limit", "0.1")
    (position,) = stack.positions(acct)
    assert (position["avg_price"], position["stop_loss"]) == (shown, "95")

    # a click on a row puts its account, symbol and qty in the ticket
    ticket.locator('[name="qty"]').fill("")
    page.locator(f'[data-testid="terminal-positions"] .ag-row[row-id="{position["id"]}"] '
                 '[col-id="symbol"]').click()
    expect(ticket.locator('[name="qty"]')).to_have_value("0.1")
    expect(ticket.locator('[name="symbol"]')).to_have_value(SYMBOL)
    # a sell from the ticket at market (the buy's stop loss would be on the wrong side)
    ticket.locator('[name="oms_stop_loss"]').fill("")
    ticket.locator('[name="order_type"]').select_option("market")
    page.get_by_test_id("ticket-sell").click()
    expect(result).to_contain_text("sell")
    stack.until(lambda: len(stack.positions(acct)) == 2, what="the sell's hedge position")
    shot(page, "terminal")
    close_all(keys)


def chart_rows(page: Page, prefix: str) -> list[list[Any]]:
    rows: list[list[Any]] = page.evaluate(
        f"(window.omsConsole.charts['{prefix}'] || {{rows: []}}).rows")
    return rows


def ohlcv(keys: Keys, timeframe: str) -> list[list[Any]]:
    response = httpx.post(f"{keys.stack.base}/ccxt/{keys.account_id}/fetch_ohlcv",
                          json={"args": [SYMBOL, timeframe]},
                          headers={"x-api-key": keys.stack.trader_key}, timeout=60)
    assert response.status_code == 200, response.text
    return list(response.json()["result"])


def same_history(shown: list[list[Any]], venue: list[list[Any]]) -> None:
    """Equal over the periods both hold that were closed when both were read."""
    end = min(int(shown[-1][0]), int(venue[-1][0]))
    a = {int(r[0]): r for r in shown if int(r[0]) < end}
    b = {int(r[0]): r for r in venue if int(r[0]) < end}
    common = sorted(set(a) & set(b))
    assert len(common) >= 900, (len(a), len(b))  # a minute may have passed between the reads
    assert [a[t] for t in common] == [b[t] for t in common]


def test_candles_match_fetch_ohlcv_with_fills_and_position_lines(
    page: Page, keys: Keys, shot: Shot
) -> None:
    stack, acct = keys.stack, keys.account_id
    close_all(keys)
    stack.price("100")
    stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market", qty="0.3",
              oms_stop_loss="92", oms_stop_gain="115")
    (position,) = stack.positions(acct)
    login(page, stack.base, stack.trader_key)
    wait_live(page)
    goto(page, "terminal")
    page.locator('form[data-form="ticket"] [name="account_id"]').select_option(str(acct))
    page.locator('form[data-form="ticket"] [name="symbol"]').select_option(SYMBOL)
    chart = page.get_by_test_id("terminal-chart")
    expect(page.get_by_test_id("terminal-candles")).to_have_attribute("data-candles", LOADED)
    same_history(chart_rows(page, "terminal"), ohlcv(keys, "1m"))
    deals = [d for d in stack.deals(acct, symbol=SYMBOL) if d["qty"] != "0"]
    expect(page.get_by_test_id("terminal-fills")).to_have_attribute("data-fills", str(len(deals)))
    expect(chart).to_have_attribute("data-lines", "3")  # average price, SL, TP
    lines = page.evaluate("window.omsConsole.charts.terminal.lines")
    assert sorted((x["kind"], x["price"]) for x in lines) == [
        ("avg", position["avg_price"]), ("sl", "92"), ("tp", "115")]
    # the market moves: the open candle follows live; SL/TP lines follow a change
    stack.price("104.2")
    page.wait_for_function("() => { const r = window.omsConsole.charts.terminal.rows; "
                           "return r.length && r[r.length - 1][4] === '104.2'; }")
    stack.cmd(acct, "position_change", position_id=position["id"], oms_stop_loss="97")
    page.wait_for_function("() => window.omsConsole.charts.terminal.lines"
                           ".some((l) => l.kind === 'sl' && l.price === '97')")
    same_history(chart_rows(page, "terminal"), ohlcv(keys, "1m"))
    # another timeframe: the venue's candles again
    page.get_by_test_id("terminal_timeframe").select_option("1h")
    page.wait_for_function("() => window.omsConsole.charts.terminal.timeframe === '1h' "
                           "&& window.omsConsole.charts.terminal.rows.length >= 1000")
    same_history(chart_rows(page, "terminal"), ohlcv(keys, "1h"))
    # a click on the chart puts its price in the ticket (on the market's tick)
    box = chart.bounding_box()
    assert box is not None
    chart.click(position={"x": box["width"] / 2, "y": box["height"] / 2})
    price = page.locator('form[data-form="ticket"] [name="price"]').input_value()
    assert re.fullmatch(r"\d+(\.\d)?", price), price
    page.get_by_test_id("terminal_timeframe").select_option("1m")
    shot(page, "terminal-chart")
    goto(page, "charts")
    page.get_by_test_id("price_symbol").fill(SYMBOL)
    page.get_by_test_id("price-apply").click()
    expect(page.get_by_test_id("price-candles")).to_have_attribute("data-candles", LOADED)
    same_history(chart_rows(page, "price"), ohlcv(keys, "1m"))
    close_all(keys)


def test_read_only_key_is_offered_no_action(page: Page, keys: Keys) -> None:
    stack, acct = keys.stack, keys.account_id
    close_all(keys)
    stack.price("100")
    stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="limit", qty="0.1",
              price="90")
    stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market", qty="0.1")
    (position,) = stack.positions(acct)
    login(page, stack.base, keys.readonly)
    wait_live(page)
    for screen, grid in (("monitor", "grid-open-positions"), ("terminal", "terminal-positions")):
        goto(page, screen)
        row = page.locator(f'[data-testid="{grid}"] .ag-row[row-id="{position["id"]}"]')
        expect(row.first).to_be_visible()
        expect(page.locator('[col-id="actions"]')).to_have_count(0)
        expect(page.locator('[data-testid^="act-"]')).to_have_count(0)
        row.first.locator('[col-id="qty"]').click()
        for key in ("c", "s", "x", "Delete", "m"):
            page.keyboard.press(key)
        expect(page.get_by_test_id("action-dialog")).to_be_hidden()
    # the terminal shows the quote and the chart, no trading control
    expect(page.locator('form[data-form="ticket"]')).to_have_count(0)
    expect(page.get_by_test_id("ticket-buy")).to_have_count(0)
    expect(page.get_by_test_id("ticket-sell")).to_have_count(0)
    expect(page.get_by_test_id("quote-ask")).to_be_visible()
    # live PnL is shown to readers too
    stack.price("102")
    book = portfolio(keys)
    wait_cells(page, "terminal-positions", str(position["id"]),
               {"unrealized_pnl": book["positions"][0]["unrealized_pnl"]}, "reader's PnL")
    close_all(keys)


SCREENS = ("accounts", "terminal", "trade", "monitor", "charts", "system", "operations",
           "strategies", "profile", "risk", "admin-users", "admin-audit", "admin-keys",
           "admin-accounts")
# labels that are the same word in that language (trading loanwords, names)
SAME_WORD = {
    "pt": {"nav_terminal", "stop_loss", "take_profit", "f_stop_loss", "f_stop_gain", "f_sl_pct",
           "f_tp_pct", "f_testnet", "status", "f_status", "act_sltp", "f_pnl_pct", "v_hedge",
           "v_testnet", "trig_stop", "v_oco", "v_oto", "v_bracket", "v_gateway"},
    "es": {"nav_terminal", "stop_loss", "take_profit", "f_stop_loss", "f_stop_gain", "f_sl_pct",
           "f_tp_pct", "f_testnet", "exchange", "f_exchange_id", "f_error", "act_sltp",
           "f_pnl_pct", "v_hedge", "v_testnet", "v_robot", "trig_stop", "v_oco", "v_oto"},
}


def visit_everything(page: Page) -> list[list[str]]:
    """Every screen the key is offered, every tab of it; the grid headers broken inside a word
    or cut short on any of them (conftest.header_problems), with where."""
    problems: list[list[str]] = []

    def check(where: str) -> None:
        problems.extend([where, *p] for p in header_problems(page))

    for screen in SCREENS:
        link = page.get_by_test_id(f"nav-{screen}")
        if link.count() == 0:
            continue
        goto(page, screen)
        check(screen)
        for tab in page.locator('main [role="tab"]').all():
            tab.click()
            check(f"{screen}/{tab.get_attribute('data-testid')}")
    return problems


@pytest.mark.parametrize("lang", ["en", "pt", "es"])
def test_every_label_is_translated(page: Page, keys: Keys, lang: str) -> None:
    stack = keys.stack
    languages = None
    for key in (stack.admin_key, keys.risk, stack.trader_key):
        login(page, stack.base, key, lang)
        wait_live(page)
        headers = visit_everything(page)
        assert headers == [], f"{lang}: grid headers broken inside a word or cut: {headers}"
        missing = page.evaluate("[...window.omsConsole.missingLabels]")
        assert missing == [], f"{lang}: API field names shown without a label: {missing}"
        values = page.evaluate("[...window.omsConsole.missingValues]")
        assert values == [], f"{lang}: API values shown without a label: {values}"
        languages = page.evaluate(
            "Object.fromEntries(Object.entries(window.omsConsole.languages)"
            ".map(([k, v]) => [k, v.labels]))")
        page.get_by_test_id("logout").click()
    assert languages is not None
    if lang != "en":
        en, mine = languages["en"], languages[lang]
        assert set(mine) == set(en)
        untranslated = {k for k, v in mine.items() if v == en[k]} - SAME_WORD[lang]
        assert untranslated == set(), f"{lang}: labels still in English: {sorted(untranslated)}"


def test_layout_fixes(page: Page, keys: Keys) -> None:
    stack, acct = keys.stack, keys.account_id
    close_all(keys)
    stack.price("100")
    for _ in range(2):
        stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market", qty="0.1")
    assert httpx.get(f"{stack.base}/favicon.ico").status_code == 200
    page.set_viewport_size({"width": 1400, "height": 900})
    login(page, stack.base, stack.admin_key)
    wait_live(page)
    # the admin's navigation is one line, every link in view
    tops = page.evaluate("[...document.querySelectorAll('header nav a')]"
                         ".map((a) => a.getBoundingClientRect().top)")
    assert len(tops) >= 10
    assert len(set(tops)) == 1, tops
    assert page.evaluate("(() => { const n = document.querySelector('header nav'); "
                         "return n.scrollWidth <= n.clientWidth; })()")
    page.get_by_test_id("logout").click()
    login(page, stack.base, stack.trader_key)
    wait_live(page)
    goto(page, "monitor")
    grid = page.get_by_test_id("grid-open-positions")
    expect(grid.locator(".ag-row").first).to_be_visible()
    # grid cells use the page's sans-serif font, never the browser's serif default
    family = grid.locator('.ag-cell[col-id="symbol"]').first.evaluate(
        "(c) => getComputedStyle(c).fontFamily")
    assert family.strip().endswith("sans-serif"), family
    # what a trader reads is in view at 1,400 px; the rest scrolls with a visible scrollbar
    right = page.evaluate("""(g) => Math.min(g.getBoundingClientRect().right,
        (g.querySelector('.ag-pinned-right-header') || g).getBoundingClientRect().left
        || g.getBoundingClientRect().right)""", grid.element_handle())
    for col in ("symbol", "qty", "avg_price", "mark_price", "unrealized_pnl", "stop_loss",
                "stop_gain", "fee", "state"):
        header = grid.locator(f'.ag-header-cell[col-id="{col}"]')
        box = header.bounding_box()
        assert box is not None, col
        assert box["x"] + box["width"] <= right, col
        expect(header).not_to_have_text(col)  # a label, not the API's name
    # the horizontal scrollbar's strip is always there (alwaysShowHorizontalScroll; headless
    # Chromium hides the native bar itself) and the rest of the row scrolls into view
    scrollbar = grid.locator(".ag-body-horizontal-scroll")
    assert scrollbar.evaluate("(s) => s.getBoundingClientRect().height") > 0
    grid.locator(".ag-body-horizontal-scroll-viewport").evaluate("(v) => { v.scrollLeft = 1e6; }")
    expect(grid.locator('.ag-header-cell[col-id="comment"]')).to_be_in_viewport()
    # close-by offers two different positions; optional create fields have no "null" box
    goto(page, "trade")
    form = page.locator('form[data-form="close_by"]')
    a = form.locator('[name="position_id_a"]').input_value()
    b = form.locator('[name="position_id_b"]').input_value()
    assert a
    assert b
    assert a != b
    page.get_by_test_id("logout").click()
    login(page, stack.base, stack.admin_key)
    wait_live(page)
    goto(page, "admin-keys")
    expect(page.locator('form[data-form="create_key"] input[type="checkbox"]')).to_have_count(0)
    edit = page.locator('form[data-form="edit_key"]')
    expect(edit.get_by_test_id("expires_at.null")).to_have_count(1)
    expect(edit.get_by_test_id("label.null")).to_have_count(0)
    close_all(keys)
