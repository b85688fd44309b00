"""What a trader's controls send, in headless Chromium against the real API and worker: a key
press in the order ticket never sends an order the trader did not choose (only Buy and Sell
send, each its own side), and a row's SL/TP dialog removes a stop when its field is emptied."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, Request, expect

from test.console.conftest import (
    SYMBOL,
    Keys,
    close_all,
    goto,
    login,
    wait_cells,
    wait_live,
)

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(900)]


def record_commands(page: Page) -> list[dict[str, Any]]:
    """Every POST /oms/commands body the page sends from now on, in the order sent."""
    sent: list[dict[str, Any]] = []

    def on_request(request: Request) -> None:
        if request.method == "POST" and "/oms/commands" in request.url:
            sent.append(request.post_data_json)

    page.on("request", on_request)
    return sent


def test_enter_in_the_ticket_sends_nothing(page: Page, keys: Keys) -> None:
    stack, acct = keys.stack, keys.account_id
    close_all(keys)
    stack.price("100")
    sent = record_commands(page)
    login(page, stack.base, stack.trader_key)
    wait_live(page)
    goto(page, "terminal")
    ticket = page.locator('form[data-form="ticket"]')
    ticket.locator('[name="account_id"]').select_option(str(acct))
    expect(ticket.locator(f'[name="symbol"] option[value="{SYMBOL}"]')).to_have_count(1)
    ticket.locator('[name="symbol"]').select_option(SYMBOL)
    result = page.get_by_test_id("result-ticket")
    ticket.locator('[name="qty"]').fill("0.1")
    # Enter in the quantity (the field a trader types last), then in another field
    ticket.locator('[name="qty"]').press("Enter")
    expect(result).to_have_text("Nothing was sent: press buy or sell to send the order.")
    ticket.locator('[name="oms_stop_gain"]').press("Enter")
    expect(result).to_have_class("msg error")
    # the side the trader chooses is sent, once; nothing was sent before it
    page.get_by_test_id("ticket-buy").click()
    expect(result).to_have_class(re.compile(r"msg (ok|error)"))
    assert result.get_attribute("class") == "msg ok", result.inner_text()
    assert [(c["command"], c["payload"]["side"]) for c in sent] == [("send_order", "buy")], sent
    assert [(p["side"], p["qty"]) for p in stack.positions(acct)] == [("buy", "0.1")]
    close_all(keys)


def test_emptying_a_stop_in_the_row_dialog_removes_it(page: Page, keys: Keys) -> None:
    stack, acct = keys.stack, keys.account_id
    close_all(keys)
    stack.price("100")
    stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market", qty="0.2",
              oms_stop_loss="90", oms_stop_gain="115")
    (position,) = stack.positions(acct)
    pid = str(position["id"])
    sent = record_commands(page)
    login(page, stack.base, stack.trader_key)
    wait_live(page)
    goto(page, "monitor")
    wait_cells(page, "grid-open-positions", pid, {"stop_loss": "90", "stop_gain": "115"}, "stops")
    page.get_by_test_id(f"act-sltp-{pid}").click()
    dialog = page.get_by_test_id("action-dialog")
    expect(dialog.locator('[name="oms_stop_loss"]')).to_have_value("90")
    dialog.locator('[name="oms_stop_loss"]').fill("")
    page.get_by_test_id("action-confirm").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("position-action-result")).to_contain_text("completed")
    wait_cells(page, "grid-open-positions", pid, {"stop_loss": "", "stop_gain": "115"}, "SL gone")
    after = stack.position(int(pid))
    assert (after["stop_loss"], after["stop_gain"]) == (None, "115")
    # only the emptied stop was sent, as null; the take profit kept
    assert [c["payload"] for c in sent] == [{"position_id": int(pid), "oms_stop_loss": None}]
    # the take profit removed the same way, by keyboard
    page.locator(f'[data-testid="grid-open-positions"] .ag-row[row-id="{pid}"] [col-id="qty"]'
                 ).click()
    page.keyboard.press("s")
    dialog.locator('[name="oms_stop_gain"]').fill("")
    dialog.locator('[name="oms_stop_gain"]').press("Enter")
    expect(dialog).to_be_hidden()
    wait_cells(page, "grid-open-positions", pid, {"stop_loss": "", "stop_gain": ""}, "TP gone")
    after = stack.position(int(pid))
    assert (after["stop_loss"], after["stop_gain"]) == (None, None)
    close_all(keys)
