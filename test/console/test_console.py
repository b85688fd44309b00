"""The console in headless Chromium against the real API and worker: trading flow with live grids,
permissions (read-only key, bad key), websocket loss and resume, and a screenshot of every screen."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import APIResponse, Page, Route, expect

from test.console.conftest import (
    ROOT,
    SYMBOL,
    Keys,
    Shot,
    api_rows,
    goto,
    grid_rows,
    login,
    wait_live,
)

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(900)]
POS_COLS = ["side", "qty", "avg_price", "state"]
ORDER_COLS = ["side", "order_type", "qty", "price", "status"]


def submit(page: Page, form: str, fields: dict[str, str], *, ok: bool = True) -> str:
    """Fills the named fields of a form (a select gets the option, an input the text; `__` in a
    name stands for `.` of nested schema fields), submits it, and returns the result text once
    the API answered, asserting it succeeded (`ok`) or was refused."""
    f = page.locator(f'form[data-form="{form}"]')
    for name, value in fields.items():
        el = f.locator(f'[name="{name.replace("__", ".")}"]')
        if el.evaluate("e => e.tagName") == "SELECT":
            el.select_option(value)
        else:
            el.fill(value)
    result = page.get_by_test_id(f"result-{form}")
    f.get_by_test_id(f"submit-{form}").click()
    expect(result).to_have_class(re.compile(r"msg (ok|error)"))
    assert result.get_attribute("class") == ("msg ok" if ok else "msg error"), result.inner_text()
    return result.inner_text()


def send_form(page: Page, form: str, account_id: int, **fields: str) -> str:
    """Fills one command form for the account, submits it, returns the result text."""
    return submit(page, form, {"account_id": str(account_id), **fields})


def open_positions(page: Page) -> list[dict[str, str]]:
    return grid_rows(page, "grid-open-positions", POS_COLS)


def wait_rows(page: Page, testid: str, cols: list[str], check, what: str) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    """Polls the grid's DOM until check(rows) holds (deadline generous; not a speed check)."""
    for _ in range(1200):
        rows = grid_rows(page, testid, cols)
        if check(rows):
            return rows
        page.wait_for_timeout(100)
    raise AssertionError(f"{what}: grid {testid} shows {grid_rows(page, testid, cols)}")


def test_trade_flow_live(page: Page, keys: Keys, shot: Shot) -> None:
    stack, acct = keys.stack, keys.account_id
    stack.price("100")
    login(page, stack.base, stack.trader_key)
    wait_live(page)
    shot(page, "accounts")
    expect(page.get_by_test_id("grid-accounts")).to_contain_text("hedge")

    # market order from the form; the position shows on the monitor from the stream
    goto(page, "trade")
    shot(page, "trade")
    text = send_form(page, "send_order", acct, symbol=SYMBOL, side="buy", order_type="market",
                     qty="0.5")
    assert "completed" in text
    goto(page, "monitor")
    rows = wait_rows(page, "grid-open-positions", POS_COLS, lambda r: len(r) == 1, "market buy")
    assert rows[0]["side"] == "buy"
    assert rows[0]["qty"] == "0.5"

    # a second client's order appears on the open monitor without a reload
    stack.cmd(acct, "send_order", symbol=SYMBOL, side="sell", order_type="market", qty="0.5")
    wait_rows(page, "grid-open-positions", POS_COLS, lambda r: len(r) == 2, "REST sell")

    # limit order: open order row, filled when the paper price moves, then a third position
    goto(page, "trade")
    send_form(page, "send_order", acct, symbol=SYMBOL, side="buy", order_type="limit",
              qty="0.2", price="95")
    goto(page, "monitor")
    page.get_by_test_id("tab-open-orders").click()
    orders = wait_rows(page, "grid-open-orders", ORDER_COLS, lambda r: len(r) == 1, "limit open")
    assert orders[0]["price"] == "95"
    assert orders[0]["order_type"] == "limit"
    shot(page, "monitor-open-orders")
    stack.price("94")
    wait_rows(page, "grid-open-orders", ORDER_COLS, lambda r: r == [], "limit filled")
    page.get_by_test_id("tab-open-positions").click()
    positions = wait_rows(page, "grid-open-positions", POS_COLS, lambda r: len(r) == 3, "fill")
    assert sorted((p["side"], p["qty"]) for p in positions) == [
        ("buy", "0.2"), ("buy", "0.5"), ("sell", "0.5")]
    shot(page, "monitor-open-positions")

    # close-by the two hedge positions of 0.5, then close the rest in two parts
    buy = next(p for p in positions if p["side"] == "buy" and p["qty"] == "0.5")
    sell = next(p for p in positions if p["side"] == "sell")
    goto(page, "trade")
    send_form(page, "close_by", acct, position_id_a=buy["id"], position_id_b=sell["id"])
    rest = next(p for p in positions if p["qty"] == "0.2")
    send_form(page, "close_position", acct, position_id=rest["id"], qty="0.1")
    goto(page, "monitor")
    wait_rows(page, "grid-open-positions", POS_COLS,
              lambda r: [(p["id"], p["qty"]) for p in r] == [(rest["id"], "0.1")], "partial")
    goto(page, "trade")
    send_form(page, "close_position", acct, position_id=rest["id"])
    goto(page, "monitor")
    wait_rows(page, "grid-open-positions", POS_COLS, lambda r: r == [], "all closed")

    # deals: the grid equals the API's list; the chart's total is their exact sum
    deals = stack.deals(acct)
    page.get_by_test_id("tab-deals").click()
    shown = wait_rows(page, "grid-deals", ["pnl", "qty", "price"],
                      lambda r: len(r) == len(deals), "deal rows")
    assert [(r["id"], r["pnl"], r["qty"], r["price"]) for r in shown] == [
        (str(d["id"]), d["pnl"] or "", d["qty"], d["price"]) for d in deals]
    shot(page, "monitor-deals")
    page.get_by_test_id("tab-positions-history").click()
    history = stack.get("/oms/positions/history", account_ids=acct)["total"]
    expect(page.get_by_test_id("positions-history-pageinfo")).to_contain_text(f"· {history} ")
    shot(page, "monitor-positions-history")
    page.get_by_test_id("tab-orders-history").click()
    shot(page, "monitor-orders-history")

    total = sum((Decimal(d["pnl"] or "0") for d in deals), Decimal(0))
    goto(page, "charts")
    pnl = page.get_by_test_id("pnl-total-all")
    expect(pnl).to_have_text(f"all: {_plain(total)}")
    expect(pnl).to_have_attribute("data-points", str(len(deals)))
    page.get_by_test_id("price_symbol").fill(SYMBOL)
    page.get_by_test_id("price-apply").click()
    expect(page.get_by_test_id("price-fills")).to_have_attribute("data-fills", str(len(deals)))
    # a new closing deal moves the chart live
    stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market", qty="0.1")
    stack.price("97")
    opened = stack.positions(acct)
    stack.cmd(acct, "close_position", position_id=opened[0]["id"])
    deals = stack.deals(acct)
    total = sum((Decimal(d["pnl"] or "0") for d in deals), Decimal(0))
    assert total != 0  # the chart must have moved from the earlier total
    expect(pnl).to_have_text(f"all: {_plain(total)}")
    expect(pnl).to_have_attribute("data-points", str(len(deals)))
    expect(page.get_by_test_id("price-fills")).to_have_attribute("data-fills", str(len(deals)))
    expect(page.get_by_test_id("price-last")).to_contain_text("97")
    shot(page, "charts")

    goto(page, "system")
    expect(page.get_by_test_id("grid-event-log")).to_contain_text("deal_created")
    shot(page, "system-event-log")
    page.get_by_test_id("tab-raw-orders").click()
    shot(page, "system-raw-orders")
    raw_trades = stack.get("/ccxt/trades/raw", account_ids=acct, page_size=100)["items"]
    assert raw_trades, "the paper venue stored no raw trade"
    page.get_by_test_id("tab-raw-trades").click()
    shown_trades = wait_rows(page, "grid-raw-trades", ["exchange_object_id"],
                             lambda r: len(r) == len(raw_trades), "raw trades")
    assert {r["exchange_object_id"] for r in shown_trades} == {
        str(t["exchange_object_id"]) for t in raw_trades}
    shot(page, "system-raw-trades")
    page.get_by_test_id("tab-ccxt").click()
    shot(page, "system-ccxt-call")
    goto(page, "strategies")
    shot(page, "strategies")
    goto(page, "profile")
    expect(page.get_by_test_id("profile")).to_contain_text("trader")
    shot(page, "profile")


def _plain(d: Decimal) -> str:
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def test_websocket_loss_resumes_to_a_fresh_load(page: Page, keys: Keys) -> None:
    stack, acct = keys.stack, keys.account_id
    stack.price("100")
    login(page, stack.base, stack.trader_key)
    wait_live(page)
    goto(page, "monitor")
    stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market", qty="0.3")
    wait_rows(page, "grid-open-positions", POS_COLS, lambda r: len(r) >= 1, "before the cut")

    page.evaluate("window.omsConsole.session.live.suspend()")
    expect(page.get_by_test_id("live-status")).to_have_attribute("data-status", "offline")
    # while the console is offline: a new position, a resting order, a closed position
    stack.cmd(acct, "send_order", symbol=SYMBOL, side="sell", order_type="market", qty="0.4")
    stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="limit", qty="0.1",
              price="90")
    first = stack.positions(acct)[0]
    stack.cmd(acct, "close_position", position_id=first["id"])
    want_pos = [{k: r[k] for k in ["id", *POS_COLS]}
                for r in api_rows(stack, "/oms/positions/open", acct, POS_COLS)]
    want_ord = api_rows(stack, "/oms/orders/open", acct, ORDER_COLS)

    page.evaluate("window.omsConsole.session.live.resume()")
    wait_live(page)
    got_pos = wait_rows(page, "grid-open-positions", POS_COLS, lambda r: r == want_pos, "resume")
    page.get_by_test_id("tab-open-orders").click()
    got_ord = wait_rows(page, "grid-open-orders", ORDER_COLS, lambda r: r == want_ord, "orders")
    # the missed events were replayed (since_seq), not replaced by a new snapshot
    goto(page, "system")
    expect(page.get_by_test_id("grid-event-log")).to_contain_text("position_closed")

    page.reload()  # a fresh load of the same session: the grids are the same
    wait_live(page)
    goto(page, "monitor")
    assert wait_rows(page, "grid-open-positions", POS_COLS, lambda r: r == got_pos, "reload")
    page.get_by_test_id("tab-open-orders").click()
    assert wait_rows(page, "grid-open-orders", ORDER_COLS, lambda r: r == got_ord, "reload")
    stack.cmd(acct, "cancel_all_orders")
    for p in stack.positions(acct):
        stack.cmd(acct, "close_position", position_id=p["id"])


def test_read_only_key_sees_no_trading_form(page: Page, keys: Keys) -> None:
    login(page, keys.stack.base, keys.readonly)
    wait_live(page)
    expect(page.get_by_test_id("who")).to_contain_text("readonly")
    expect(page.get_by_test_id("nav-trade")).to_have_count(0)
    page.goto(f"{keys.stack.base}/ui/#/trade")  # asked for by address: still not offered
    wait_live(page)
    for screen in ("accounts", "monitor", "system", "charts", "strategies", "profile",
                   "operations"):
        goto(page, screen)
        for form in ("send_order", "close_position", "close_by", "cancel_order",
                     "change_order", "merge_positions", "position_change", "create_strategy",
                     "reconcile", "reassign", "send_signal", "edit_strategy"):
            expect(page.locator(f'form[data-form="{form}"]')).to_have_count(0)
    goto(page, "system")
    page.get_by_test_id("tab-ccxt").click()
    options = page.locator('form[data-form="ccxt_call"] [name="func"] option').all_inner_texts()
    assert "fetch_ticker" in options
    assert "create_order" not in options


def test_bad_key_is_refused_with_the_api_message(page: Page, keys: Keys, shot: Shot) -> None:
    bad = "not-a-real-key-0000000000"
    expected = httpx.get(f"{keys.stack.base}/user/profile", headers={"x-api-key": bad}).json()
    login(page, keys.stack.base, bad)
    error = page.get_by_test_id("login-error")
    expect(error).to_contain_text(expected["error"]["message"])
    expect(error).to_contain_text(expected["error"]["code"])
    shot(page, "login-refused")
    page.get_by_test_id("language").select_option("pt")
    expect(page.get_by_test_id("login-submit")).to_have_text("Entrar")
    page.get_by_test_id("language").select_option("en")
    shot(page, "login")


def test_screenshots_go_to_the_tests_own_directory(
    page: Page, keys: Keys, shot: Shot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make test` leaves no screenshot at a fixed path; `make screenshots` (OMS_CONSOLE_SHOTS)
    still writes where it points."""
    monkeypatch.delenv("OMS_CONSOLE_SHOTS", raising=False)
    page.goto(f"{keys.stack.base}/ui/")
    expect(page.get_by_test_id("login-submit")).to_be_visible()
    shot(page, "login-probe")
    assert [p.name for p in tmp_path.iterdir()] == ["login-probe.png"]
    docs = tmp_path / "docs-console"
    monkeypatch.setenv("OMS_CONSOLE_SHOTS", str(docs))
    shot(page, "login-probe")
    assert [p.name for p in docs.iterdir()] == ["login-probe.png"]


def test_admin_and_risk_screens(page: Page, keys: Keys, shot: Shot) -> None:
    stack = keys.stack
    login(page, stack.base, stack.admin_key)
    wait_live(page)
    expect(page.get_by_test_id("nav-trade")).to_have_count(0)  # admins never trade
    goto(page, "admin-users")
    f = page.locator('form[data-form="create_user"]')
    f.locator('[name="name"]').fill("console-made")
    f.locator('[name="role"]').select_option("trader")
    f.get_by_test_id("submit-create_user").click()
    expect(page.get_by_test_id("result-create_user")).to_have_class("msg ok")
    expect(page.get_by_test_id("grid-users")).to_contain_text("console-made")
    shot(page, "admin-users")
    goto(page, "admin-audit")
    expect(page.get_by_test_id("grid-audit")).to_contain_text("user")
    shot(page, "admin-audit")
    page.get_by_test_id("logout").click()

    login(page, stack.base, keys.risk)
    wait_live(page)
    goto(page, "risk")
    form = page.locator('form[data-form="risk_limits"]')
    form.locator('[name="risk_account"]').select_option(str(keys.account_id))
    expect(page.get_by_test_id("risk-current")).to_contain_text(f'"account_id": {keys.account_id}')
    form.locator('[name="max_order_qty"]').fill("12.5")
    form.locator('[name="risk_comment"]').fill("console test")
    form.get_by_test_id("submit-risk_limits").click()
    expect(page.get_by_test_id("result-risk_limits")).to_have_class("msg ok")
    limits = httpx.get(f"{stack.base}/oms/risk/{keys.account_id}/limits",
                       headers={"x-api-key": keys.risk}).json()
    assert limits["account"]["max_order_qty"] == "12.5"
    expect(page.get_by_test_id("risk-current")).to_contain_text('"max_order_qty": "12.5"')
    # a bad value is refused with the API's message
    form.locator('[name="max_order_qty"]').fill("-1")
    form.get_by_test_id("submit-risk_limits").click()
    expect(page.get_by_test_id("result-risk_limits")).to_have_class("msg error")
    expect(page.get_by_test_id("result-risk_limits")).to_contain_text("validation_error")
    # a whole-number limit typed with a separator is refused, not sent as "no limit"
    form.locator('[name="max_order_qty"]').fill("12.5")
    form.locator('[name="max_open_positions"]').fill("1,000")
    form.get_by_test_id("submit-risk_limits").click()
    expect(page.get_by_test_id("result-risk_limits")).to_have_class("msg error")
    expect(page.get_by_test_id("result-risk_limits")).to_contain_text("max_open_positions")
    form.locator('[name="max_open_positions"]').fill("")
    shot(page, "risk")


def test_change_cancel_merge_and_sl_forms(page: Page, keys: Keys, shot: Shot) -> None:
    stack, acct = keys.stack, keys.account_id
    stack.price("100")
    for _ in range(2):
        stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market", qty="0.1")
    first, second = (p["id"] for p in stack.positions(acct)[-2:])
    login(page, stack.base, stack.trader_key)
    wait_live(page)
    goto(page, "monitor")
    wait_rows(page, "grid-open-positions", POS_COLS, lambda r: len(r) == 2, "two buys")

    goto(page, "trade")
    send_form(page, "merge_positions", acct, source_position_id=str(first),
              target_position_id=str(second))
    goto(page, "monitor")
    rows = wait_rows(page, "grid-open-positions", POS_COLS,
                     lambda r: [(p["id"], p["qty"]) for p in r] == [(str(second), "0.2")], "merge")
    goto(page, "trade")
    send_form(page, "position_change", acct, position_id=rows[0]["id"], oms_stop_loss="80.5")
    goto(page, "monitor")
    wait_rows(page, "grid-open-positions", ["stop_loss"],
              lambda r: [p["stop_loss"] for p in r] == ["80.5"], "stop loss")

    # a limit order changed then cancelled; two more cancelled at once
    stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="limit", qty="0.1",
              price="90")
    page.get_by_test_id("tab-open-orders").click()
    (order,) = wait_rows(page, "grid-open-orders", ORDER_COLS, lambda r: len(r) == 1, "limit")
    goto(page, "trade")
    send_form(page, "change_order", acct, order_id=order["id"], new_price="91")
    goto(page, "monitor")
    page.get_by_test_id("tab-open-orders").click()
    wait_rows(page, "grid-open-orders", ORDER_COLS,
              lambda r: [(o["id"], o["price"]) for o in r] == [(order["id"], "91")], "changed")
    goto(page, "trade")
    send_form(page, "cancel_order", acct, order_id=order["id"])
    for price in ("88", "89"):
        stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="limit", qty="0.1",
                  price=price)
    goto(page, "monitor")
    page.get_by_test_id("tab-open-orders").click()
    wait_rows(page, "grid-open-orders", ORDER_COLS,
              lambda r: sorted(o["price"] for o in r) == ["88", "89"], "two resting")
    goto(page, "trade")
    send_form(page, "cancel_all_orders", acct, symbol=SYMBOL)
    goto(page, "monitor")
    page.get_by_test_id("tab-open-orders").click()
    wait_rows(page, "grid-open-orders", ORDER_COLS, lambda r: r == [], "all cancelled")

    # a refused command shows the API's own message
    body = {"account_id": acct, "command": "send_order",
            "payload": {"symbol": SYMBOL, "side": "buy", "order_type": "market", "qty": "abc"}}
    refused = httpx.post(f"{stack.base}/oms/commands", json=body,
                         headers={"x-api-key": stack.trader_key}).json()["error"]
    goto(page, "trade")
    f = page.locator('form[data-form="send_order"]')
    f.locator('[name="symbol"]').fill(SYMBOL)
    f.locator('[name="qty"]').fill("abc")
    f.get_by_test_id("submit-send_order").click()
    result = page.get_by_test_id("result-send_order")
    expect(result).to_have_class("msg error")
    expect(result).to_contain_text(refused["message"])
    expect(result).to_contain_text(refused["code"])
    shot(page, "trade-refused")
    for p in stack.positions(acct):
        stack.cmd(acct, "close_position", position_id=p["id"])


def _refusal(response: httpx.Response) -> dict[str, Any]:
    """The API's refusal of a command, whether the whole request or its one item failed."""
    body = response.json()
    if "error" in body:
        return dict(body["error"])
    item = body["results"][0]
    assert not item["ok"], item
    return dict(item["error"])


def test_risk_blocks_new_positions_then_allows_them(page: Page, keys: Keys, shot: Shot) -> None:
    stack, acct = keys.stack, keys.account_id
    stack.price("100")
    strategy_id = stack.strategy("console-risk", [acct])
    order = {"account_id": acct, "command": "send_order",
             "payload": {"symbol": SYMBOL, "side": "buy", "order_type": "market", "qty": "0.1"}}

    # the risk officer stops new positions on the account, with a comment
    login(page, stack.base, keys.risk)
    wait_live(page)
    goto(page, "risk")
    actions = page.locator('[data-form="risk_actions"]')
    actions.locator('[name="action_account"]').select_option(str(acct))
    expect(page.get_by_test_id("risk-state")).to_have_attribute("data-allow-new", "true")
    # no comment: refused in the form, nothing sent
    page.get_by_test_id("risk-stop-new").click()
    expect(page.get_by_test_id("result-risk_action")).to_have_class("msg error")
    assert stack.get("/oms/accounts")["items"][0]["allow_new_positions"] is True
    page.get_by_test_id("action_comment").fill("console: daily loss limit hit")
    page.get_by_test_id("risk-stop-new").click()
    expect(page.get_by_test_id("result-risk_action")).to_have_class("msg ok")
    expect(page.get_by_test_id("risk-state")).to_have_attribute("data-allow-new", "false")
    account = next(a for a in stack.get("/oms/accounts")["items"] if a["id"] == acct)
    assert account["allow_new_positions"] is False
    # the strategy's flag, per strategy
    expect(page.get_by_test_id("grid-risk-strategies")).to_contain_text("console-risk")
    page.get_by_test_id("action_strategy").fill(str(strategy_id))
    page.get_by_test_id("risk-strategy-stop").click()
    expect(page.get_by_test_id("result-risk_action")).to_have_class("msg ok")
    links = httpx.get(f"{stack.base}/oms/risk/{acct}/strategies",
                      headers={"x-api-key": keys.risk}).json()["items"]
    link = next(x for x in links if x["strategy_id"] == strategy_id)
    assert link["allow_new_positions"] is False
    assert link["comment"] == "console: daily loss limit hit"
    expect(page.get_by_test_id("grid-risk-strategies")).to_contain_text("daily loss limit hit")
    # a refused action shows the API's message (unknown strategy)
    page.get_by_test_id("action_strategy").fill("999999")
    page.get_by_test_id("risk-strategy-stop").click()
    expect(page.get_by_test_id("result-risk_action")).to_have_class("msg error")
    expected = httpx.post(f"{stack.base}/oms/risk/{acct}/strategies/allow_new_positions",
                          json={"strategy_id": 999999, "allow_new_positions": False,
                                "comment": "x"},
                          headers={"x-api-key": keys.risk}).json()["error"]
    expect(page.get_by_test_id("result-risk_action")).to_contain_text(expected["message"])
    page.get_by_test_id("action_strategy").fill(str(strategy_id))
    page.get_by_test_id("risk-strategy-allow").click()
    expect(page.get_by_test_id("result-risk_action")).to_have_class("msg ok")
    shot(page, "risk-actions")
    page.get_by_test_id("logout").click()
    expect(page.locator('[data-screen="login"]')).to_be_visible()

    # the trader's next order is refused with the API's message
    expected = _refusal(httpx.post(f"{stack.base}/oms/commands", json=order,
                                   params={"wait": "completed"},
                                   headers={"x-api-key": stack.trader_key}))
    assert expected["code"] == "risk_blocked", expected
    login(page, stack.base, stack.trader_key)
    wait_live(page)
    goto(page, "trade")
    f = page.locator('form[data-form="send_order"]')
    f.locator('[name="account_id"]').select_option(str(acct))
    f.locator('[name="symbol"]').fill(SYMBOL)
    f.locator('[name="qty"]').fill("0.1")
    f.get_by_test_id("submit-send_order").click()
    result = page.get_by_test_id("result-send_order")
    expect(result).to_have_class("msg error")
    expect(result).to_contain_text(expected["message"])
    expect(result).to_contain_text("risk_blocked")
    shot(page, "trade-risk-blocked")
    page.get_by_test_id("logout").click()

    # the risk officer allows them again; the trader's order goes through
    login(page, stack.base, keys.risk)
    wait_live(page)
    goto(page, "risk")
    actions = page.locator('[data-form="risk_actions"]')
    actions.locator('[name="action_account"]').select_option(str(acct))
    expect(page.get_by_test_id("risk-state")).to_have_attribute("data-allow-new", "false")
    page.get_by_test_id("action_comment").fill("console: limit reset")
    page.get_by_test_id("risk-allow-new").click()
    expect(page.get_by_test_id("result-risk_action")).to_have_class("msg ok")
    expect(page.get_by_test_id("risk-state")).to_have_attribute("data-allow-new", "true")
    item = stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market",
                     qty="0.1")
    assert item["status"] == "completed"
    for position in stack.positions(acct):
        stack.cmd(acct, "close_position", position_id=position["id"])

    # block and unblock the account (can_block_account)
    page.get_by_test_id("action_comment").fill("console: margin call")
    page.get_by_test_id("risk-block").click()
    expect(page.get_by_test_id("risk-state")).to_have_attribute("data-status", "blocked")
    page.get_by_test_id("risk-unblock").click()
    expect(page.get_by_test_id("risk-state")).to_have_attribute("data-status", "active")
    audit = httpx.get(f"{stack.base}/admin/audit", params={"target_type": "account",
                                                           "target_id": acct},
                      headers={"x-api-key": stack.admin_key}).json()["items"]
    assert {"risk_allow_new_positions", "risk_account_status"} <= {a["action"] for a in audit}


def test_password_login_and_logout(page: Page, keys: Keys, shot: Shot) -> None:
    stack = keys.stack
    password = "console passphrase 42"
    created = httpx.post(f"{stack.base}/admin/users",
                         json={"name": "console-pw", "role": "readonly", "password": password},
                         headers={"x-api-key": stack.admin_key})
    assert created.status_code == 201, created.text
    page.goto(f"{stack.base}/ui/")
    page.get_by_test_id("base_url").fill(stack.base)
    # a wrong password: the API's message
    page.get_by_test_id("user_name").fill("console-pw")
    page.get_by_test_id("password").fill("wrong password 0000")
    page.get_by_test_id("login-password-submit").click()
    expect(page.get_by_test_id("login-error")).to_contain_text("invalid_credentials")
    page.get_by_test_id("language").select_option("es")
    expect(page.get_by_test_id("login-password-submit")).to_have_text("Entrar")
    expect(page.locator('[data-form="login-password"] h3')).to_have_text(
        "Entrar con usuario y contraseña")
    page.get_by_test_id("language").select_option("en")
    page.get_by_test_id("user_name").fill("console-pw")
    page.get_by_test_id("password").fill(password)
    shot(page, "login-password")
    page.get_by_test_id("login-password-submit").click()
    expect(page.get_by_test_id("who")).to_contain_text("console-pw · readonly")
    token = page.evaluate("() => sessionStorage.getItem('oms.key')")
    assert token
    assert token.startswith("oms_")
    assert httpx.get(f"{stack.base}/user/profile",
                     headers={"x-api-key": token}).json()["api_key"]["kind"] == "login_token"
    goto(page, "profile")
    page.get_by_test_id("logout").click()
    expect(page.locator('[data-screen="login"]')).to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('oms.key')") is None
    # the token is revoked on the server
    for _ in range(600):
        if httpx.get(f"{stack.base}/user/profile",
                     headers={"x-api-key": token}).status_code == 401:
            break
        page.wait_for_timeout(100)
    else:
        raise AssertionError("the login token still works after logout")


def test_the_readme_says_how_to_give_the_quick_start_user_a_password(
    page: Page, keys: Keys
) -> None:
    """No user of `make run` has a password: the README's quick start gives the command that sets
    one; run as written (the password typed at its prompt, twice) against this gateway's store,
    it lets the console log in with the user name it names and that password."""
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"^(?:\.venv/bin/)?ccxt-oms (update-user --user-id (\d+) --password -)",
                      readme, re.M)
    assert found, "README: no `ccxt-oms update-user … --password -` line"
    stack = keys.stack
    user = next(u for u in httpx.get(f"{stack.base}/admin/users",
                                     headers={"x-api-key": stack.admin_key}).json()["items"]
                if u["id"] == int(found.group(2)))
    assert user["name"] == "trader"  # `make run`'s trader is that user too
    assert f"user name `{user['name']}`" in readme
    password = "readme passphrase 1234"
    done = subprocess.run([sys.executable, "-m", "apps.cli", *found.group(1).split()],
                          input=f"{password}\n{password}\n", env=stack.env(), cwd=stack.tmp,
                          capture_output=True, text=True, start_new_session=True, check=False)
    assert done.returncode == 0, done.stderr
    page.goto(f"{stack.base}/ui/")
    page.get_by_test_id("base_url").fill(stack.base)
    page.get_by_test_id("user_name").fill(user["name"])
    page.get_by_test_id("password").fill(password)
    page.get_by_test_id("login-password-submit").click()
    expect(page.get_by_test_id("who")).to_contain_text("trader · trader")
    page.get_by_test_id("logout").click()


def test_admin_keys_accounts_and_permissions(page: Page, keys: Keys, shot: Shot) -> None:
    stack = keys.stack
    login(page, stack.base, stack.admin_key)
    wait_live(page)
    goto(page, "admin-keys")
    expect(page.get_by_test_id("grid-admin-keys")).to_contain_text("console-risk")
    users = httpx.get(f"{stack.base}/admin/users-api-keys",
                      headers={"x-api-key": stack.admin_key}).json()["items"]
    risk_key = next(k for u in users for k in u["api_keys"] if u["name"] == "console-risk")
    rows = grid_rows(page, "grid-admin-keys", ["user_name", "prefix", "status"])
    assert {"id": str(risk_key["id"]), "user_name": "console-risk",
            "prefix": risk_key["prefix"], "status": "active"} in rows
    page.get_by_test_id("perm_key_id").fill(str(risk_key["id"]))
    page.get_by_test_id("submit-permissions").click()
    expect(page.get_by_test_id("result-permissions")).to_have_class("msg ok")
    perms = grid_rows(page, "grid-admin-permissions", ["account_id"])
    assert [p["account_id"] for p in perms] == [str(keys.account_id)]
    # AG Grid shows booleans as checkboxes
    row = page.locator(f'[data-testid="grid-admin-permissions"] .ag-row[row-id="{keys.account_id}"]')
    expect(row.locator('[col-id="can_block_account"] input[type="checkbox"]')).to_be_checked()
    expect(row.locator('[col-id="can_trade"] input[type="checkbox"]')).not_to_be_checked()
    shot(page, "admin-keys")
    page.get_by_test_id("perm_key_id").fill("999999")
    page.get_by_test_id("submit-permissions").click()
    expect(page.get_by_test_id("result-permissions")).to_have_class("msg error")
    goto(page, "admin-accounts")
    expect(page.get_by_test_id("grid-admin-accounts")).to_contain_text("hedge")
    shot(page, "admin-accounts")
    goto(page, "profile")
    prefix = httpx.get(f"{stack.base}/user/profile",
                       headers={"x-api-key": stack.admin_key}).json()["api_key"]["prefix"]
    expect(page.get_by_test_id("grid-my-keys")).to_contain_text(prefix)


def schema_form(page: Page, form: str, add_rows: dict[str, int] | None = None,
                **fields: str) -> Any:
    """Fills a form built from the server's request schema (field names as in the API, nested
    ones dotted: `permissions.0.can_trade`), submits it, returns the API's JSON response."""
    f = page.locator(f'form[data-form="{form}"]')
    for name, count in (add_rows or {}).items():
        for _ in range(count):
            f.get_by_test_id(f"{name}.add").click()
    submit(page, form, fields)
    return json.loads(page.get_by_test_id(f"response-{form}").inner_text())


def schema_form_refused(page: Page, form: str, **fields: str) -> str:
    return submit(page, form, fields, ok=False)


def _id_of(res: dict[str, Any], kind: str) -> int:
    """The new object's id, whether the API answers the object or wraps it under its kind."""
    return int(res[kind]["id"] if kind in res else res["id"])


def test_admin_write_forms(page: Page, keys: Keys, shot: Shot) -> None:
    """Accounts, users, keys and permissions administered from forms built from the API's
    request schemas; every change read back from the API (and each key tried for real)."""
    stack = keys.stack
    admin = {"x-api-key": stack.admin_key}
    login(page, stack.base, stack.admin_key)
    wait_live(page)

    goto(page, "admin-accounts")
    res = schema_form(page, "create_account", label="console-netting", position_mode="netting")
    new_account = _id_of(res, "account")
    expect(page.get_by_test_id("grid-admin-accounts")).to_contain_text("console-netting")
    schema_form(page, "edit_account", account_id=str(new_account), label="console-netting-2")
    accounts = httpx.get(f"{stack.base}/admin/accounts", headers=admin).json()["items"]
    row = next(a for a in accounts if a["id"] == new_account)
    assert (row["label"], row["position_mode"]) == ("console-netting-2", "netting")
    # this stack has no encryption master key: the API refuses to store a signing secret, and
    # the form shows its message (the stored case is tested in test/api/live/test_signals.py)
    refused = schema_form_refused(page, "signal_secret", account_id=str(new_account),
                                  secret="console signal secret 1234 abcdefghijklmnop")
    assert "ENCRYPTION_MASTER_KEY" in refused, refused
    # a refusal shows the API's message (a label the schema refuses: empty after trim is
    # not sent, so use one that is too long)
    refused = schema_form_refused(page, "edit_account", account_id=str(new_account),
                                  label="x" * 201)
    assert "validation_error" in refused
    shot(page, "admin-account-forms")

    goto(page, "admin-users")
    res = schema_form(page, "create_user_with_key", {"permissions": 1}, name="console-pm",
                      role="portfolio_manager", label="pm laptop",
                      permissions__0__account_id=str(keys.account_id),
                      permissions__0__can_trade="true")
    pm_user = _id_of(res, "user")
    pm_key = res["api_key"]["api_key"]
    profile = httpx.get(f"{stack.base}/user/profile", headers={"x-api-key": pm_key}).json()
    assert (profile["name"], profile["role"]) == ("console-pm", "portfolio_manager")
    expect(page.get_by_test_id("grid-users")).to_contain_text("console-pm")
    schema_form(page, "edit_user", user_id=str(pm_user), role="trader")
    users = httpx.get(f"{stack.base}/admin/users", headers=admin).json()["items"]
    assert next(u for u in users if u["id"] == pm_user)["role"] == "trader"
    schema_form(page, "edit_user", user_id=str(pm_user), role="portfolio_manager")
    shot(page, "admin-user-forms")

    goto(page, "admin-keys")
    res = schema_form(page, "create_key", {"permissions": 1}, user_id=str(pm_user),
                      label="pm second", permissions__0__account_id=str(keys.account_id))
    second_id, second_key = int(res["id"]), str(res["api_key"])  # the key, shown once
    assert httpx.get(f"{stack.base}/user/profile",
                     headers={"x-api-key": second_key}).status_code == 200
    expect(page.get_by_test_id("grid-admin-keys")).to_contain_text("pm second")
    # change its permissions: "load current" fills the rows with the key's grants (a PUT
    # replaces the whole list), then one flag is added
    f = page.locator('form[data-form="set_permissions"]')
    f.locator('[name="api_key_id"]').fill(str(second_id))
    f.get_by_test_id("load-set_permissions").click()
    expect(f.locator('[name="permissions.0.account_id"]')).to_have_value(str(keys.account_id))
    expect(f.locator('[name="permissions.0.can_read"]')).to_have_value("true")
    expect(f.locator('[name="permissions.1.account_id"]')).to_have_count(0)
    schema_form(page, "set_permissions", permissions__0__can_close_position="true")
    perms = httpx.get(f"{stack.base}/admin/api-keys/{second_id}/permissions",
                      headers=admin).json()
    (perm,) = perms["items"]
    assert (perm["account_id"], perm["can_read"], perm["can_trade"],
            perm["can_close_position"]) == (keys.account_id, True, False, True)
    # the permissions grid shows the key's new grants
    row = page.locator(
        f'[data-testid="grid-admin-permissions"] .ag-row[row-id="{keys.account_id}"]')
    expect(row.locator('[col-id="can_close_position"] input[type="checkbox"]')).to_be_checked()
    # an expiry set, then removed on purpose with "null" (an empty field is not sent)
    schema_form(page, "edit_key", api_key_id=str(second_id),
                expires_at="2030-01-01T00:00:00Z")
    assert key_row(stack, second_id)["expires_at"].startswith("2030-01-01")
    f = page.locator('form[data-form="edit_key"]')
    f.locator('[name="expires_at"]').fill("")
    f.get_by_test_id("expires_at.null").check()
    schema_form(page, "edit_key", api_key_id=str(second_id))
    assert key_row(stack, second_id)["expires_at"] is None
    # disable it: the key stops working at once
    schema_form(page, "edit_key", api_key_id=str(second_id), status="disabled")
    assert httpx.get(f"{stack.base}/user/profile",
                     headers={"x-api-key": second_key}).status_code == 401
    shot(page, "admin-key-forms")
    audit = httpx.get(f"{stack.base}/admin/audit", headers=admin,
                      params={"page_size": 500}).json()["items"]
    assert {"add_account", "update_account", "create_api_key", "set_permission",
            "update_api_key"} <= {a["action"] for a in audit}

    # the audit log, filtered by action over the API's paging. The screen's first, unfiltered
    # page is held back until the filtered one is shown, then let through: an older request's
    # late answer must not overwrite a newer one (a CI run saw the first page answer last)
    held: list[tuple[Route, APIResponse]] = []

    def hold_first_page(route: Route) -> None:
        if held or "action=" in route.request.url:
            route.continue_()
        else:
            held.append((route, route.fetch()))

    page.route(re.compile(r".*/admin/audit\?.*"), hold_first_page)
    goto(page, "admin-audit")
    page.get_by_test_id("audit_action").fill("update_api_key")
    page.get_by_test_id("audit-apply").click()
    expected = httpx.get(f"{stack.base}/admin/audit", headers=admin,
                         params={"action": "update_api_key"}).json()
    assert expected["total"] >= 2  # the expiry set and removed, the key disabled

    def audit_filtered() -> list[dict[str, str]]:
        rows = wait_rows(page, "grid-audit", ["action"], lambda r: len(r) == expected["total"]
                         and all(x["action"] == "update_api_key" for x in r), "audit filter")
        assert {r["id"] for r in rows} == {str(a["id"]) for a in expected["items"]}
        expect(page.get_by_test_id("audit-pageinfo")).to_contain_text(f"{expected['total']} rows")
        return rows

    audit_filtered()
    for _ in range(1200):  # the first page's request was sent first; its route is held
        if held:
            break
        page.wait_for_timeout(100)
    (route, first_page), = held
    with page.expect_event("requestfinished", lambda r: r.url == route.request.url):
        route.fulfill(response=first_page)
    page.evaluate("() => new Promise((done) => setTimeout(done, 200))")  # its answer handled
    page.unroute(re.compile(r".*/admin/audit\?.*"))
    audit_filtered()
    shot(page, "admin-audit-filtered")

    # strategies: an admin creates one on an account and disables it
    goto(page, "strategies")
    res = schema_form(page, "admin_create_strategy", name="console-admin-strategy",
                      account_ids=str(keys.account_id))
    strategy_id = int(res["strategy_id"])
    schema_form(page, "edit_strategy", strategy_id=str(strategy_id), status="disabled")
    listed = httpx.get(f"{stack.base}/admin/strategies", headers=admin).json()["items"]
    assert next(x for x in listed if x["strategy_id"] == strategy_id)["status"] == "disabled"


def key_row(stack: Any, key_id: int) -> dict[str, Any]:
    users = httpx.get(f"{stack.base}/admin/users-api-keys",
                      headers={"x-api-key": stack.admin_key}).json()["items"]
    return dict(next(k for u in users for k in u["api_keys"] if k["id"] == key_id))


def test_profile_operations_and_shadow(page: Page, keys: Keys, shot: Shot) -> None:
    """A portfolio manager's own profile forms; reconcile, reassign and a signal from the
    Operations screen; shadow mode switched by the risk officer, seen on the trader's order."""
    stack, acct = keys.stack, keys.account_id
    stack.price("100")
    created = httpx.post(f"{stack.base}/admin/users-with-api-key", headers={
        "x-api-key": stack.admin_key}, json={
        "name": "console-ops", "role": "portfolio_manager", "label": "ops",
        "permissions": [{"account_id": acct, "can_trade": True, "can_close_position": True}]})
    assert created.status_code in (200, 201), created.text
    key = created.json()["api_key"]["api_key"]
    login(page, stack.base, key)
    wait_live(page)

    goto(page, "profile")
    schema_form(page, "edit_profile", name="console-ops-2")
    assert httpx.get(f"{stack.base}/user/profile",
                     headers={"x-api-key": key}).json()["name"] == "console-ops-2"
    expect(page.get_by_test_id("who")).to_contain_text("console-ops-2 · portfolio_manager")
    schema_form(page, "change_password", new_password="console ops passphrase 7")
    login_res = httpx.post(f"{stack.base}/auth/login-password", json={
        "user_name": "console-ops-2", "password": "console ops passphrase 7"})
    assert login_res.status_code == 200, login_res.text
    res = schema_form(page, "create_my_key", {"permissions": 1}, label="ops read",
                      permissions__0__account_id=str(acct))
    mine = res
    assert httpx.get(f"{stack.base}/oms/accounts",
                     headers={"x-api-key": mine["api_key"]}).status_code == 200
    expect(page.get_by_test_id("grid-my-keys")).to_contain_text("ops read")
    schema_form(page, "edit_my_key", api_key_id=str(mine["id"]), status="disabled")
    assert httpx.get(f"{stack.base}/oms/accounts",
                     headers={"x-api-key": mine["api_key"]}).status_code == 401
    shot(page, "profile-forms")

    # a strategy of its own on the account (the accounts are a multiple choice)
    goto(page, "strategies")
    res = schema_form(page, "create_strategy", name="console-ops", account_ids=str(acct))
    strategy_id = int(res["strategy_id"])
    expect(page.get_by_test_id("grid-strategies")).to_contain_text("console-ops")
    listed = httpx.get(f"{stack.base}/strategies", headers={"x-api-key": key}).json()["items"]
    mine = next(x for x in listed if x["strategy_id"] == strategy_id)
    assert [a["account_id"] for a in mine["accounts"]] == [acct]
    (row,) = [r for r in grid_rows(page, "grid-strategies", ["name", "accounts"])
              if r["id"] == str(strategy_id)]
    assert (row["name"], row["accounts"]) == ("console-ops", f"#{acct}")

    # Operations: reconcile the account, then see its status fresh
    goto(page, "operations")
    schema_form(page, "reconcile", account_id=str(acct))
    rows = wait_rows(page, "grid-reconcile-status", ["status"],
                     lambda r: any(x["id"] == str(acct) and x["status"] == "fresh" for x in r),
                     "reconciled")
    assert rows
    shot(page, "operations-reconcile")
    # reassign: a preview of moving an order of the account to a strategy
    order = stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market",
                      qty="0.1")
    page.get_by_test_id("tab-reassign").click()
    res = schema_form(page, "reassign", account_id=str(acct), order_ids=str(order["order_id"]),
                      target_strategy_id=str(strategy_id))
    assert res["preview"] is True  # the default: nothing changed yet
    assert [i["order_id"] for i in res["items"]] == [order["order_id"]]
    assert stack.order(order["order_id"])["strategy_id"] == 0
    shot(page, "operations-reassign")
    res = schema_form(page, "reassign", preview="false")
    assert (res["preview"], res["orders_updated"]) == (False, 1), res
    assert stack.order(order["order_id"])["strategy_id"] == strategy_id
    # a signal sent from the form becomes a command; the grid lists it with its outcome
    page.get_by_test_id("tab-signals").click()
    page.locator('[name="signals_account"]').select_option(str(acct))
    res = schema_form(page, "send_signal", account_id=str(acct), symbol=SYMBOL, side="buy",
                      qty="0.1", signal_id="console-signal-1")
    assert res["command_id"], res
    stack.until(lambda: stack.command(res["command_id"])["status"] == "completed",
                seconds=300, what="the signal's order")
    wait_rows(page, "grid-signals", ["signal_id", "status"],
              lambda r: [(x["signal_id"], x["status"]) for x in r]
              == [("console-signal-1", "accepted")], "signal listed")
    shot(page, "operations-signals")
    page.get_by_test_id("logout").click()

    # shadow mode: the risk officer turns it on; the trader's order is validated, not sent
    login(page, stack.base, keys.risk)
    wait_live(page)
    goto(page, "risk")
    page.locator('[name="action_account"]').select_option(str(acct))
    page.get_by_test_id("action_comment").fill("console: dry run")
    # per strategy first: on, read back, off
    page.get_by_test_id("action_strategy").fill(str(strategy_id))
    page.get_by_test_id("risk-strategy-shadow-on").click()
    expect(page.get_by_test_id("result-risk_action")).to_have_class("msg ok")
    assert strategy_link(stack, keys.risk, acct, strategy_id)["shadow"] is True
    page.get_by_test_id("risk-strategy-shadow-off").click()
    expect(page.get_by_test_id("result-risk_action")).to_have_class("msg ok")
    assert strategy_link(stack, keys.risk, acct, strategy_id)["shadow"] is False
    page.get_by_test_id("risk-shadow-on").click()
    expect(page.get_by_test_id("risk-state")).to_have_attribute("data-shadow", "true")
    try:
        account = next(a for a in stack.get("/oms/accounts")["items"] if a["id"] == acct)
        assert account["shadow"] is True
        page.get_by_test_id("logout").click()
        positions_before = stack.positions(acct)
        login(page, stack.base, stack.trader_key)
        wait_live(page)
        goto(page, "accounts")
        row = page.locator(f'[data-testid="grid-accounts"] .ag-row[row-id="{acct}"]')
        expect(row.locator('[col-id="shadow"] input[type="checkbox"]')).to_be_checked()
        expect(row.locator('[col-id="out_of_sync_blocks"] input[type="checkbox"]')
               ).not_to_be_checked()
        goto(page, "trade")
        text = send_form(page, "send_order", acct, symbol=SYMBOL, side="buy",
                         order_type="market", qty="0.1")
        assert "shadow: validated and recorded, not sent" in text, text
        shot(page, "trade-shadow")
        assert stack.positions(acct) == positions_before  # nothing reached the venue
    finally:
        # the module's stack is shared: never leave the account shadowed
        off = httpx.post(f"{stack.base}/oms/risk/{acct}/shadow", headers={"x-api-key": keys.risk},
                         json={"shadow": False, "comment": "console: dry run over"})
        assert off.status_code == 200, off.text
        for p in stack.positions(acct):
            stack.cmd(acct, "close_position", position_id=p["id"])


def strategy_link(stack: Any, key: str, account_id: int, strategy_id: int) -> dict[str, Any]:
    links = httpx.get(f"{stack.base}/oms/risk/{account_id}/strategies",
                      headers={"x-api-key": key}).json()["items"]
    return dict(next(x for x in links if x["strategy_id"] == strategy_id))


def test_forms_follow_the_keys_close_and_cancel_rights(page: Page, keys: Keys) -> None:
    """A trader key that may only close gets the close forms and reduce-only sends, no
    opening, change or cancel form; a risk key gets close-by too (security.md's table)."""
    stack, acct = keys.stack, keys.account_id
    created = httpx.post(f"{stack.base}/admin/users-with-api-key", headers={
        "x-api-key": stack.admin_key}, json={
        "name": "console-closer", "role": "trader", "label": "closer",
        "permissions": [{"account_id": acct, "can_close_position": True}]})
    assert created.status_code in (200, 201), created.text
    login(page, stack.base, created.json()["api_key"]["api_key"])
    wait_live(page)
    goto(page, "trade")
    for form in ("send_order", "close_position", "close_by"):
        expect(page.locator(f'form[data-form="{form}"]')).to_have_count(1)
    for form in ("change_order", "cancel_order", "cancel_all_orders", "merge_positions",
                 "position_change"):
        expect(page.locator(f'form[data-form="{form}"]')).to_have_count(0)
    options = page.locator('form[data-form="send_order"] [name="reduce_only"] option')
    assert options.all_inner_texts() == ["true"]
    page.get_by_test_id("logout").click()

    login(page, stack.base, keys.risk)  # can_close_position + can_risk_manage
    wait_live(page)
    goto(page, "trade")
    for form in ("send_order", "close_position", "close_by", "cancel_order",
                 "cancel_all_orders"):
        expect(page.locator(f'form[data-form="{form}"]')).to_have_count(1)
    for form in ("change_order", "merge_positions", "position_change"):
        expect(page.locator(f'form[data-form="{form}"]')).to_have_count(0)
    page.get_by_test_id("logout").click()

    login(page, stack.base, stack.trader_key)
    wait_live(page)
    goto(page, "trade")
    options = page.locator('form[data-form="send_order"] [name="reduce_only"] option')
    assert options.all_inner_texts() == ["false", "true"]
