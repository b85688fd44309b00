"""Held orders and groups placed through the order ticket, in headless Chromium against the real
API and worker (paper venue): a trailing stop good till a date, held by the gateway, whose row
follows its trigger as the price moves; a market entry with a bracket, whose exits show as
`bracket #G · stop_loss` / `take_profit` rows held by the gateway; an OCO's two legs; an OTO
whose child goes to the venue once the entry has filled; and a refusal shown in the gateway's
own words. A group's tags come from the order reads' `group_kind` / `group_role` as much as from
`order_group_changed` events: they are the same after a reload of the page."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from test.console.conftest import SYMBOL, Keys, close_all, goto, login, wait_cells, wait_live
from test.console.test_grids import plain
from test.console.test_trading_controls import record_commands

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(900)]
WAIT_S = 600  # generous: the machine is shared, nothing here measures speed


def open_ticket(page: Page, keys: Keys) -> Locator:
    login(page, keys.stack.base, keys.stack.trader_key)
    wait_live(page)
    goto(page, "terminal")
    ticket = page.locator('form[data-form="ticket"]')
    ticket.locator('[name="account_id"]').select_option(str(keys.account_id))
    expect(ticket.locator(f'[name="symbol"] option[value="{SYMBOL}"]')).to_have_count(1)
    ticket.locator('[name="symbol"]').select_option(SYMBOL)
    return ticket


def send(page: Page, side: str) -> tuple[str, str]:
    """Clicks Buy or Sell; (class, text) of the result once the command has an answer."""
    result = page.get_by_test_id("result-ticket")
    page.evaluate("document.querySelector('[data-testid=result-ticket]').className = 'msg'")
    page.get_by_test_id(f"ticket-{side}").click()
    expect(result).to_have_class(re.compile(r"msg (ok|error)"))
    return str(result.get_attribute("class")), result.inner_text()


def held_order(keys: Keys, **match: Any) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        for o in keys.stack.open_orders(keys.account_id):
            if all(o.get(k) == v for k, v in match.items()):
                return dict(o)
        return None

    return dict(keys.stack.until(found, WAIT_S, f"open order {match}"))


def reload_monitor(page: Page) -> None:
    """A fresh load of the page: the console knows the groups only from what it reads."""
    page.reload()
    wait_live(page)
    goto(page, "monitor")
    assert page.evaluate("window.omsConsole.session.live.books.groups.size") == 0


def test_trailing_stop_from_the_ticket(page: Page, keys: Keys) -> None:
    stack = keys.stack
    close_all(keys)
    stack.price("100")
    sent = record_commands(page)
    ticket = open_ticket(page, keys)
    # only the kind's fields show: no price or fixed trigger for a trailing stop
    ticket.locator('[name="order_type"]').select_option("trailing_stop")
    expect(ticket.locator('[name="price"]')).to_be_hidden()
    expect(ticket.locator('[name="trigger_price"]')).to_be_hidden()
    expect(ticket.locator('[name="expire_at"]')).to_be_hidden()
    ticket.locator('[name="qty"]').fill("0.1")
    ticket.locator('[name="trailing_distance"]').fill("2")
    ticket.locator('[name="trailing_unit"]').select_option("percent")

    # the venue cannot be asked for a trailing stop on paper: the gateway's own refusal shows
    ticket.locator('[name="emulation"]').select_option("venue")
    cls, text = send(page, "sell")
    assert cls == "msg error", text
    assert "trailing stops are not executed on paper" in text, text

    # good till an hour from now (the browser's local time; sent as UTC)
    ticket.locator('[name="emulation"]').select_option("")
    ticket.locator('[name="time_in_force"]').select_option("GTD")
    local, utc = page.evaluate(
        """() => { const d = new Date(Date.now() + 3600e3); d.setMilliseconds(0);
                   const p = (n) => String(n).padStart(2, '0');
                   return [`${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T` +
                           `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`,
                           d.toISOString()]; }""")
    ticket.locator('[name="expire_at"]').fill(local)
    cls, text = send(page, "sell")
    assert cls == "msg ok", text
    payload = sent[-1]["payload"]
    assert {k: payload[k] for k in ("order_type", "trailing_percent", "time_in_force")} == {
        "order_type": "market", "trailing_percent": "2", "time_in_force": "GTD"}, payload
    assert not {"trigger_price", "price", "emulation"} & set(payload), payload
    order = held_order(keys, trailing_percent="2")
    assert order["emulation"] == "gateway"
    assert datetime.fromisoformat(order["expire_at"].replace("Z", "+00:00")) == \
        datetime.fromisoformat(utc.replace("Z", "+00:00"))
    oid = str(order["id"])

    goto(page, "monitor")
    page.get_by_test_id("tab-open-orders").click()
    expires = page.evaluate("(iso) => { const d = new Date(iso); const p = (n) => String(n)"
                            ".padStart(2, '0'); return `${d.getFullYear()}-${p(d.getMonth() + 1)}"
                            "-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:"
                            "${p(d.getSeconds())}`; }", order["expire_at"])
    wait_cells(page, "grid-open-orders", oid, {"emulation": "gateway", "expire_at": expires},
               "held trailing stop")
    # the price rises: the trigger follows it (order_trigger_moved) and the row shows it
    stack.price("110")
    moved = stack.until(lambda: (o := stack.order(int(oid)))["trigger_price"] is not None
                        and Decimal(o["trigger_price"]) > 100 and o, WAIT_S, "trigger moved")
    wait_cells(page, "grid-open-orders", oid,
               {"trigger": f"trail 2% → {plain(moved['trigger_price'])}"}, "trailing trigger")
    stack.cmd(keys.account_id, "cancel_order", order_id=int(oid))
    close_all(keys)


def test_bracket_from_the_ticket(page: Page, keys: Keys) -> None:
    stack, acct = keys.stack, keys.account_id
    close_all(keys)
    stack.price("100")
    sent = record_commands(page)
    ticket = open_ticket(page, keys)
    ticket.locator('[name="order_type"]').select_option("market")
    ticket.locator('[name="qty"]').fill("0.1")
    expect(page.get_by_test_id("bracket-fields")).to_be_hidden()
    ticket.locator('[name="bracket"]').check()
    ticket.locator('[name="bracket_stop_loss"]').fill("90")
    ticket.locator('[name="bracket_take_profit"]').fill("120")
    ticket.locator('[name="bracket_take_profit_price"]').fill("119.5")
    ticket.locator('[name="bracket_time_limit"]').fill("3600")
    cls, text = send(page, "buy")
    assert cls == "msg ok", text
    payload = sent[-1]["payload"]
    assert payload["bracket_stop_loss"] == {"trigger_price": "90"}, payload
    assert payload["bracket_take_profit"] == {"trigger_price": "120", "price": "119.5"}, payload
    assert payload["bracket_time_limit"] == 3600, payload

    sl = held_order(keys, reason="stop_loss")
    tp = held_order(keys, reason="take_profit")
    timed = held_order(keys, reason="time_limit")
    group, entry = sl["group_id"], sl["parent_order_id"]
    assert (tp["group_id"], tp["parent_order_id"]) == (group, entry)
    assert (timed["group_id"], timed["group_role"], timed["order_type"]) == (
        group, "time_limit", "market")
    goto(page, "monitor")
    page.get_by_test_id("tab-open-orders").click()
    wait_cells(page, "grid-open-orders", str(sl["id"]), {
        "side": "sell", "emulation": "gateway", "trigger": "stop 90",
        "group": f"bracket #{group} · stop_loss", "parent_order_id": str(entry)}, "stop-loss exit")
    wait_cells(page, "grid-open-orders", str(tp["id"]), {
        "emulation": "gateway", "trigger": "if touched 120", "price": "119.5",
        "group": f"bracket #{group} · take_profit", "parent_order_id": str(entry)},
        "take-profit exit")
    # a time limit's trigger is its time, in the browser's time zone
    offset = page.evaluate("(iso) => new Date(iso).getTimezoneOffset()", timed["fire_at"])
    fires = datetime.fromisoformat(timed["fire_at"]) - timedelta(minutes=offset)
    wait_cells(page, "grid-open-orders", str(timed["id"]), {
        "emulation": "gateway", "trigger": f"at {fires:%Y-%m-%d %H:%M:%S}",
        "group": f"bracket #{group} · time_limit"}, "time-limit exit")
    # the filled entry, in the orders' history, with its role in the group
    page.get_by_test_id("tab-orders-history").click()
    wait_cells(page, "grid-orders-history", str(entry),
               {"status": "FILLED", "emulation": "venue", "group": f"bracket #{group} · entry"},
               "entry")
    assert (sl["group_kind"], sl["group_role"], tp["group_role"]) == (
        "bracket", "stop_loss", "take_profit")
    reload_monitor(page)
    page.get_by_test_id("tab-open-orders").click()
    for order, role in ((sl, "stop_loss"), (tp, "take_profit"), (timed, "time_limit")):
        wait_cells(page, "grid-open-orders", str(order["id"]),
                   {"group": f"bracket #{group} · {role}"}, f"{role} after a reload")
    page.get_by_test_id("tab-orders-history").click()
    wait_cells(page, "grid-orders-history", str(entry), {"group": f"bracket #{group} · entry"},
               "entry after a reload")
    assert [p["qty"] for p in stack.positions(acct)] == ["0.1"]
    close_all(keys)


def test_oco_from_the_ticket(page: Page, keys: Keys) -> None:
    stack = keys.stack
    close_all(keys)
    stack.price("100")
    sent = record_commands(page)
    ticket = open_ticket(page, keys)
    # a stop at 90 or a take-profit at 120 (limit 119.5), whichever comes first
    ticket.locator('[name="order_type"]').select_option("stop")
    ticket.locator('[name="qty"]').fill("0.1")
    ticket.locator('[name="trigger_price"]').fill("90")
    expect(page.get_by_test_id("oco-fields")).to_be_hidden()
    ticket.locator('[name="oco"]').check()
    ticket.locator('[name="oco_trigger"]').select_option("take_profit_price")
    ticket.locator('[name="oco_trigger_price"]').fill("120")
    ticket.locator('[name="oco_price"]').fill("119.5")
    cls, text = send(page, "sell")
    assert cls == "msg ok", text
    payload = sent[-1]["payload"]
    assert payload["trigger_price"] == "90", payload
    assert payload["oco_orders"] == [
        {"order_type": "limit", "take_profit_price": "120", "price": "119.5"}], payload

    def grouped() -> list[dict[str, Any]]:
        found = [o for o in stack.open_orders(keys.account_id) if o["group_id"] is not None]
        return found if len(found) == 2 else []

    legs = stack.until(grouped, WAIT_S, "OCO legs")
    (group,) = {o["group_id"] for o in legs}
    first = next(o for o in legs if o["trigger_price"] == "90")
    other = next(o for o in legs if o["take_profit_price"] == "120")
    goto(page, "monitor")
    page.get_by_test_id("tab-open-orders").click()
    wait_cells(page, "grid-open-orders", str(first["id"]), {
        "emulation": "gateway", "trigger": "stop 90", "group": f"oco #{group} · leg0"}, "leg0")
    wait_cells(page, "grid-open-orders", str(other["id"]), {
        "emulation": "gateway", "trigger": "if touched 120", "price": "119.5",
        "group": f"oco #{group} · leg1"}, "leg1")
    close_all(keys)


def test_oco_with_a_limit_resting_on_the_venue_from_the_ticket(page: Page, keys: Keys) -> None:
    """Binance's OCO: a held stop at 90 and a take-profit limit at 120 resting on the venue."""
    stack = keys.stack
    close_all(keys)
    stack.price("100")
    stack.cmd(keys.account_id, "send_order", symbol=SYMBOL, side="buy", order_type="market",
              qty="0.1")
    sent = record_commands(page)
    ticket = open_ticket(page, keys)
    ticket.locator('[name="order_type"]').select_option("stop")
    ticket.locator('[name="qty"]').fill("0.1")
    ticket.locator('[name="trigger_price"]').fill("90")
    ticket.locator('[name="oco"]').check()
    ticket.locator('[name="oco_trigger"]').select_option("limit")
    expect(ticket.locator('[name="oco_trigger_price"]')).to_be_hidden()
    ticket.locator('[name="oco_price"]').fill("120")
    cls, text = send(page, "sell")
    assert cls == "msg ok", text
    payload = sent[-1]["payload"]
    assert payload["oco_orders"] == [{"order_type": "limit", "price": "120"}], payload

    def grouped() -> list[dict[str, Any]]:
        found = [o for o in stack.open_orders(keys.account_id) if o["group_id"] is not None]
        return found if len(found) == 2 and all(o["status"] == "SUBMITTED" for o in found) \
            else []

    legs = stack.until(grouped, WAIT_S, "OCO legs")
    (group,) = {o["group_id"] for o in legs}
    resting = next(o for o in legs if o["price"] == "120")
    goto(page, "monitor")
    page.get_by_test_id("tab-open-orders").click()
    wait_cells(page, "grid-open-orders", str(resting["id"]), {
        "emulation": "venue", "trigger": "", "price": "120",
        "group": f"oco #{group} · leg1"}, "the resting leg")
    close_all(keys)


def test_the_exchanges_own_oco_is_asked_for_from_the_ticket(page: Page, keys: Keys) -> None:
    """The ticket's "exchange's own OCO" sends the OCO with `emulation: venue`. The paper venue
    has none, so the gateway's refusal names the field and Binance spot, and nothing is placed
    (test/integration/wire/test_gateway_venue_oco.py places one on Binance spot)."""
    stack = keys.stack
    close_all(keys)
    stack.price("100")
    sent = record_commands(page)
    ticket = open_ticket(page, keys)
    ticket.locator('[name="order_type"]').select_option("limit")
    ticket.locator('[name="qty"]').fill("0.1")
    ticket.locator('[name="price"]').fill("120")
    ticket.locator('[name="oco"]').check()
    ticket.locator('[name="oco_trigger"]').select_option("stop_price")
    ticket.locator('[name="oco_trigger_price"]').fill("90")
    ticket.get_by_test_id("oco-venue").check()
    before = len(stack.open_orders(keys.account_id))
    cls, text = send(page, "sell")
    assert cls == "msg error", text
    assert "emulation" in text, text
    assert "Binance spot" in text, text
    payload = sent[-1]["payload"]
    assert (payload["emulation"], payload["oco_orders"]) == (
        "venue", [{"order_type": "market", "stop_price": "90"}]), payload
    assert len(stack.open_orders(keys.account_id)) == before


def test_oto_from_the_ticket(page: Page, keys: Keys) -> None:
    stack, acct = keys.stack, keys.account_id
    close_all(keys)
    stack.price("100")
    sent = record_commands(page)
    ticket = open_ticket(page, keys)
    # a market buy, then (once it has filled) a limit sell at 120 resting on the venue
    ticket.locator('[name="order_type"]').select_option("market")
    ticket.locator('[name="qty"]').fill("0.1")
    expect(page.get_by_test_id("oto-fields")).to_be_hidden()
    ticket.locator('[name="oto"]').check()
    ticket.locator('[name="oto_kind"]').select_option("limit")
    expect(ticket.locator('[name="oto_trigger_price"]')).to_be_hidden()
    ticket.locator('[name="oto_price"]').fill("120")
    cls, text = send(page, "buy")
    assert cls == "msg ok", text
    payload = sent[-1]["payload"]
    assert payload["oto_orders"] == [{"order_type": "limit", "price": "120"}], payload

    child = held_order(keys, group_role="child1")
    group, entry = child["group_id"], child["parent_order_id"]
    assert (child["group_kind"], child["side"], child["qty"], child["price"], child["emulation"],
            child["reduce_only"]) == ("oto", "sell", "0.1", "120", "venue", True)
    goto(page, "monitor")
    page.get_by_test_id("tab-open-orders").click()
    want = {"side": "sell", "emulation": "venue", "price": "120",
            "group": f"oto #{group} · child1", "parent_order_id": str(entry)}
    wait_cells(page, "grid-open-orders", str(child["id"]), want, "child")
    reload_monitor(page)
    page.get_by_test_id("tab-open-orders").click()
    wait_cells(page, "grid-open-orders", str(child["id"]), want, "child after a reload")
    page.get_by_test_id("tab-orders-history").click()
    wait_cells(page, "grid-orders-history", str(entry),
               {"status": "FILLED", "group": f"oto #{group} · entry"}, "entry after a reload")
    assert [p["qty"] for p in stack.positions(acct)] == ["0.1"]
    close_all(keys)
