"""The console's kill switch (issue 53) in a real headless Chromium against real API and worker
processes: the red button asks first and sends nothing until confirmed, a confirmed halt
cancels the account's working orders and refuses new ones, the active halt is listed and lifted
from the same card; limits saved from the risk form keep the ones the form does not show."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from test.console.conftest import SYMBOL, Keys, Shot, goto, login, wait_live


def halts(keys: Keys) -> list[dict[str, object]]:
    got = httpx.get(f"{keys.stack.base}/oms/risk/kill", headers={"x-api-key": keys.risk})
    items: list[dict[str, object]] = got.json()["items"]
    return items


def test_the_kill_switch_button_asks_first_then_halts_and_lifts(page: Page, keys: Keys,
                                                                 shot: Shot) -> None:  # fmt: skip
    stack = keys.stack
    resting = stack.cmd(keys.account_id, "send_order", symbol=SYMBOL, side="buy",
                        order_type="limit", qty="1", price="50")  # fmt: skip
    login(page, stack.base, keys.risk)
    wait_live(page)
    goto(page, "risk")
    card = page.locator('section[data-form="kill_switch"]')
    card.locator('[name="kill_account"]').select_option(str(keys.account_id))
    # without a reason nothing is asked, nothing is sent
    card.get_by_test_id("kill-engage").click()
    expect(page.get_by_test_id("result-kill")).to_have_class("msg error")
    expect(page.get_by_test_id("kill-confirm")).to_be_hidden()
    card.locator('[name="kill_comment"]').fill("runaway robot")
    card.get_by_test_id("kill-engage").click()
    expect(page.get_by_test_id("kill-confirm")).to_be_visible()
    expect(page.get_by_test_id("kill-question")).to_contain_text(f"#{keys.account_id}")
    shot(page, "kill-switch-confirm")
    page.get_by_test_id("kill-confirm-no").click()  # changed their mind: nothing happened
    expect(page.get_by_test_id("kill-confirm")).to_be_hidden()
    assert halts(keys) == []
    card.get_by_test_id("kill-engage").click()
    page.get_by_test_id("kill-confirm-yes").click()
    expect(page.get_by_test_id("result-kill")).to_have_class("msg ok")
    [halt] = halts(keys)
    assert (halt["scope"], halt["scope_id"], halt["reason"]) == (
        "account", keys.account_id, "runaway robot")
    expect(page.get_by_test_id(f"kill-lift-{halt['halt_id']}")).to_be_visible()
    # the halt holds: a new order is refused, the working one is cancelled on the venue
    refused = stack.post({"account_id": keys.account_id, "command": "send_order", "payload": {
        "symbol": SYMBOL, "side": "buy", "order_type": "limit", "qty": "1", "price": "50"}},
        wait=False)  # fmt: skip
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["details"]["rule"] == "kill_switch"
    order_id = resting["order_id"]
    for _ in range(600):
        got = stack.client.get(f"/oms/orders/{order_id}").json()
        status = (got.get("items") or [{}])[0].get("status")
        if status == "CANCELED":
            break
        page.wait_for_timeout(100)
    assert status == "CANCELED"
    page.get_by_test_id(f"kill-lift-{halt['halt_id']}").click()
    expect(page.get_by_test_id("result-kill")).to_have_class("msg ok")
    expect(page.get_by_test_id(f"kill-lift-{halt['halt_id']}")).to_have_count(0)
    assert halts(keys) == []


def test_saving_limits_in_the_console_keeps_the_ones_it_does_not_show(page: Page,
                                                                      keys: Keys) -> None:  # fmt: skip
    stack = keys.stack
    put = httpx.put(f"{stack.base}/oms/risk/{keys.account_id}/limits",
                    headers={"x-api-key": keys.risk},
                    json={"comment": "api", "price_collar_bps": 300, "loss_breaker": "500"})
    assert put.status_code == 200, put.text
    login(page, stack.base, keys.risk)
    wait_live(page)
    goto(page, "risk")
    form = page.locator('form[data-form="risk_limits"]')
    form.locator('[name="risk_account"]').select_option(str(keys.account_id))
    expect(page.get_by_test_id("risk-current")).to_contain_text('"price_collar_bps": 300')
    form.locator('[name="max_order_qty"]').fill("3")
    form.locator('[name="risk_comment"]').fill("console")
    form.get_by_test_id("submit-risk_limits").click()
    expect(page.get_by_test_id("result-risk_limits")).to_have_class("msg ok")
    limits = httpx.get(f"{stack.base}/oms/risk/{keys.account_id}/limits",
                       headers={"x-api-key": keys.risk}).json()["account"]
    assert (limits["max_order_qty"], limits["price_collar_bps"], limits["loss_breaker"]) == (
        "3", 300, "500")
    cleared = httpx.put(f"{stack.base}/oms/risk/{keys.account_id}/limits",
                        headers={"x-api-key": keys.risk}, json={"comment": "test over"})
    assert cleared.status_code == 200, cleared.text


def test_a_tripped_loss_breaker_shows_on_the_risk_screen_and_is_lifted_there(
    page: Page, keys: Keys
) -> None:
    stack = keys.stack
    risk = {"x-api-key": keys.risk}
    put = httpx.put(f"{stack.base}/oms/risk/{keys.account_id}/limits", headers=risk,
                    json={"comment": "desk", "loss_breaker": "10"})
    assert put.status_code == 200, put.text
    stack.cmd(keys.account_id, "send_order", symbol=SYMBOL, side="buy", order_type="market",
              qty="1")  # fmt: skip
    login(page, stack.base, keys.risk)
    wait_live(page)
    goto(page, "risk")
    card = page.locator('section[data-form="risk_actions"]')
    card.locator('[name="action_account"]').select_option(str(keys.account_id))
    expect(page.get_by_test_id("risk-breakers")).to_contain_text("none tripped")
    stack.price("85")  # 15 down on the position: the worker trips the breaker, the screen shows it
    expect(page.get_by_test_id("risk-breakers")).to_contain_text("loss_breaker")
    expect(page.get_by_test_id("risk-breakers")).to_contain_text("reduce_only")
    card.locator('[name="action_comment"]').fill("reviewed")
    page.get_by_test_id("risk-breaker-lift-0").click()
    expect(page.get_by_test_id("result-risk_action")).to_have_class("msg ok")
    expect(page.get_by_test_id("risk-breakers")).to_contain_text("none tripped")
    stack.price("100")
    cleared = httpx.put(f"{stack.base}/oms/risk/{keys.account_id}/limits", headers=risk,
                        json={"comment": "test over"})
    assert cleared.status_code == 200, cleared.text
