"""The console's grids in headless Chromium against the real API and worker, as a new user reads
them on a 1,400 px screen: decimals whole (no cut "99998.750…", no "0E-18"), times readable in
the browser's time zone, values of the API's vocabularies in the chosen language, the columns a
trader reads first clear of the pinned actions; and leaving a screen while its answers are on
their way logs no AG Grid warning (#26, a destroyed grid)."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import ConsoleMessage, Page, Route, expect

from test.console.conftest import (
    SYMBOL,
    WAIT_MS,
    Keys,
    close_all,
    goto,
    login,
    wait_cells,
    wait_live,
)

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(900)]
PRICE = "97938.0691"  # a price with digits: fees and balances get long
# the columns whose values are fitted (grid.ts `fitted`): never cut
FITTED = re.compile(r"^(id|seq|symbol|currency|time|last_run|side|order_type|status|state|entry|"
                    r"taker_or_maker|position_mode|environment|role|kind|.*_id|.*_at|.*qty|.*price|"
                    r".*pnl.*|fee|notional|balance|equity|stop_loss|stop_gain|contract_size|"
                    r"amount|cost|filled)$")


def plain(value: str) -> str:
    """The API's decimal as the console shows it: every digit, no exponent, no trailing zero."""
    text = format(Decimal(value), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def cut_cells(page: Page, testid: str) -> list[list[str]]:
    """The fitted cells of a grid whose text is wider than the cell (shown cut, with …)."""
    out: list[list[str]] = page.evaluate(
        """([testid, pattern]) => {
          const re = new RegExp(pattern);
          const grid = document.querySelector(`[data-testid="${testid}"]`);
          if (!grid) return [['missing', testid]];
          return [...grid.querySelectorAll('.ag-row .ag-cell')]
            .filter((c) => re.test(c.getAttribute('col-id') || '') && c.scrollWidth > c.clientWidth + 1)
            .map((c) => [c.getAttribute('col-id'), c.textContent]);
        }""",
        [testid, FITTED.pattern],
    )
    return out


def wait_uncut(page: Page, testid: str) -> None:
    """Polls until no fitted cell of the grid is cut (columns grow a moment after the data)."""
    for _ in range(WAIT_MS // 100):
        if not cut_cells(page, testid):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"{testid}: cells cut: {cut_cells(page, testid)}")


def local_time(page: Page, iso: str) -> str:
    zone = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    when = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo(zone))
    return when.strftime("%Y-%m-%d %H:%M:%S")


def labels(page: Page, lang: str) -> dict[str, str]:
    found: dict[str, str] = page.evaluate(f"window.omsConsole.languages['{lang}'].labels")
    return found


def trade(keys: Keys) -> dict[str, Any]:
    """A position with a stop loss, a resting order and a venue refusal, at a price with digits."""
    stack, acct = keys.stack, keys.account_id
    close_all(keys)
    stack.price(PRICE)
    stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market", qty="0.0123",
              oms_stop_loss="90000.5")
    stack.cmd(acct, "send_order", symbol=SYMBOL, side="sell", order_type="limit", qty="0.0123",
              price="99999.5")
    (position,) = stack.positions(acct)
    return position


@pytest.mark.parametrize("lang", ["en", "pt", "es"])
def test_grids_at_1400px_whole_readable_and_in_the_language(
    page: Page, keys: Keys, lang: str
) -> None:
    stack, acct = keys.stack, keys.account_id
    position = trade(keys)
    pid = str(position["id"])
    page.set_viewport_size({"width": 1400, "height": 900})
    login(page, stack.base, stack.trader_key, lang)
    wait_live(page)
    words = labels(page, lang)

    # accounts: balance and equity whole, in view
    (item,) = stack.get("/oms/portfolio", account_ids=acct)["items"]
    usdt = next(b["total"] for b in item["balances"] if b["currency"] == "USDT")
    assert len(plain(usdt)) > 12, usdt  # long enough to have been cut at 96 px
    wait_cells(page, "grid-accounts", str(acct),
               {"balance": plain(usdt), "position_mode": words["v_hedge"],
                "environment": words["v_paper"], "status": words["v_active"]}, "account")
    wait_uncut(page, "grid-accounts")

    # open positions: values in the language, times readable, the trader's columns in view
    goto(page, "monitor")
    wait_cells(page, "grid-open-positions", pid, {
        "side": words["v_buy"], "state": words["v_open"], "qty": "0.0123",
        "stop_loss": "90000.5", "opened_at": local_time(page, position["opened_at"])}, "position")
    wait_uncut(page, "grid-open-positions")
    grid = page.get_by_test_id("grid-open-positions")
    actions = grid.locator(".ag-pinned-right-header").bounding_box()
    assert actions is not None
    for col in ("symbol", "side", "qty", "avg_price", "mark_price", "unrealized_pnl", "pnl_pct",
                "stop_loss", "stop_gain", "fee", "state", "notional"):
        box = grid.locator(f'.ag-header-cell[col-id="{col}"]').bounding_box()
        assert box is not None, col
        assert box["x"] + box["width"] <= actions["x"] + 1, (col, box, actions)
    tooltip = grid.locator(f'.ag-row[row-id="{pid}"] [col-id="opened_at"]')
    tooltip.hover()
    expect(page.locator(".ag-tooltip")).to_have_text(position["opened_at"])

    # open orders and the order history: statuses and types in the language
    page.get_by_test_id("tab-open-orders").click()
    (order,) = stack.open_orders(acct)
    wait_cells(page, "grid-open-orders", str(order["id"]), {
        "side": words["v_sell"], "order_type": words["v_limit"], "status": words["v_SUBMITTED"],
        "price": "99999.5", "created_at": local_time(page, order["created_at"])}, "order")
    wait_uncut(page, "grid-open-orders")
    page.get_by_test_id("tab-orders-history").click()
    filled = next(o for o in stack.get("/oms/orders/history", account_ids=acct)["items"]
                  if o["status"] == "FILLED")
    wait_cells(page, "grid-orders-history", str(filled["id"]), {
        "status": words["v_FILLED"], "order_type": words["v_market"]}, "filled order")
    wait_uncut(page, "grid-orders-history")
    page.get_by_test_id("tab-deals").click()
    deal = next(d for d in stack.deals(acct) if d["order_id"] == filled["id"])
    wait_cells(page, "grid-deals", str(deal["id"]), {
        "fee": plain(deal["fee"]), "entry": words["v_in"],
        "executed_at": local_time(page, deal["executed_at"])}, "deal")
    wait_uncut(page, "grid-deals")
    if lang != "en":  # what the grids showed above are not the API's English words
        assert all(words[f"v_{w}"] != w for w in (
            "buy", "sell", "open", "in", "FILLED", "SUBMITTED", "limit", "market", "paper"))
    assert page.evaluate("[...window.omsConsole.missingValues]") == []
    close_all(keys)


def test_decimals_in_server_messages_are_plain(page: Page, keys: Keys) -> None:
    """A venue refusal's message names the order's cost: the server writes it plainly and the
    console shows any decimal of a message plainly too ("1", never "1.000000000000000000000000000"
    or "0E-18"), on the ticket and in the refused order's row."""
    stack, acct = keys.stack, keys.account_id
    close_all(keys)
    stack.price("100", "BTC/USDT")
    login(page, stack.base, stack.trader_key)
    wait_live(page)
    goto(page, "terminal")
    ticket = page.locator('form[data-form="ticket"]')
    ticket.locator('[name="account_id"]').select_option(str(acct))
    expect(ticket.locator('[name="symbol"] option[value="BTC/USDT"]')).to_have_count(1)
    ticket.locator('[name="symbol"]').select_option("BTC/USDT")
    ticket.locator('[name="qty"]').fill("0.01")
    page.get_by_test_id("ticket-buy").click()
    result = page.get_by_test_id("result-ticket")
    expect(result).to_have_class("msg error")
    expect(result).to_contain_text("cost 1 is below the BTC/USDT minimum 5")
    refused = next(o for o in stack.get("/oms/orders/history", account_ids=acct)["items"]
                   if o["symbol"] == "BTC/USDT" and o["error_message"])
    assert "cost 1 is below" in refused["error_message"], refused  # the server writes it plainly
    goto(page, "monitor")
    page.get_by_test_id("tab-orders-history").click()
    wait_cells(page, "grid-orders-history", str(refused["id"]), {
        "error_message": re.sub(r"1\.0+ ", "1 ", refused["error_message"])}, "refused order")
    close_all(keys)


SWITCHES = ("accounts", "monitor", "system", "operations", "strategies", "charts", "terminal",
            "profile")


def test_leaving_a_screen_before_its_answers_logs_no_grid_warning(page: Page, keys: Keys) -> None:
    stack = keys.stack
    trade(keys)
    logged: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "AG Grid" in message.text or "destroyed" in message.text:
            logged.append(message.text)

    page.on("console", on_console)
    login(page, stack.base, stack.trader_key)
    wait_live(page)
    held: list[Route] = []
    holding = [False]

    def hold(route: Route) -> None:
        if holding[0] and route.request.method == "GET":
            held.append(route)
        else:
            route.continue_()

    page.route(re.compile(r".*/(oms|ccxt|signals|strategies|user|admin)/.*"), hold)
    for screen in SWITCHES:
        holding[0] = True
        goto(page, screen)
        for tab in page.locator('main [role="tab"]').all():
            tab.click()
        goto(page, "trade")  # left before any answer came
        holding[0] = False
        answers = list(held)
        held.clear()
        for route in answers:
            route.continue_()
        for route in answers:
            route.request.response()
        page.evaluate("() => new Promise((done) => setTimeout(done, 300))")  # answers handled
        assert logged == [], f"{screen}: {logged}"
    page.unroute(re.compile(r".*/(oms|ccxt|signals|strategies|user|admin)/.*"))
    close_all(keys)
