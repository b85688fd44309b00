"""Bots sharing one account, seen in the console (docs/bots.md): two strategy-restricted keys
trade on one strategy-netting account; the account's trader sees every bot's orders, deals and
positions with their strategy, filters each grid by strategy, and reads the realised PnL per
strategy on the chart; a bot's own key sees only its own strategy's rows."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from test.console.conftest import SYMBOL, Keys, goto, grid_rows, login, wait_live

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(900)]
COLS = ["strategy_id", "side", "qty"]


@pytest.fixture(scope="module", autouse=True)
def shared_account(keys: Keys) -> int:
    """The bots' strategy-netting account, made before the browser starts (the stack's account
    factory runs its own event loop, which Playwright's would refuse)."""
    return keys.stack.account("strategy_netting")


def bot_key(keys: Keys, account_id: int, strategy_id: int, name: str) -> str:
    """A trader key restricted to one strategy on the account (what a bot gets: docs/bots.md)."""
    stack = keys.stack
    response = stack.client.post("/admin/users-with-api-key", headers={"x-api-key": stack.admin_key},
                                 json={"name": name, "role": "trader", "label": name, "permissions": [
                                     {"account_id": account_id, "can_read": True, "can_trade": True,
                                      "can_close_position": True, "strategy_ids": [strategy_id]}]})  # fmt: skip
    assert response.status_code in (200, 201), response.text
    return str(response.json()["api_key"]["api_key"])


def send(keys: Keys, key: str, account_id: int, strategy_id: int, **payload: str) -> None:
    response = keys.stack.client.post(
        "/oms/commands", params={"wait": "completed"}, headers={"x-api-key": key},
        json={"account_id": account_id, "command": "send_order",
              "payload": {"symbol": SYMBOL, "strategy_id": strategy_id, **payload}})  # fmt: skip
    assert response.status_code == 200, response.text
    item = response.json()["results"][0]
    assert (item["ok"], item["status"]) == (True, "completed"), item


def ids(items: list[dict[str, Any]]) -> list[str]:
    return sorted((str(i["id"]) for i in items), key=int)


def shown(page: Page, tab: str, grid: str, strategy: str, expected: list[str]) -> None:
    """Filters the tab's grid by strategy (empty: every strategy) and waits until it shows exactly
    the expected rows, each with its strategy in the strategy column."""
    panel = page.locator(f'[data-tab="{tab}"]')
    page.get_by_test_id(f"tab-{tab}").click()
    panel.get_by_test_id("f_strategy").fill(strategy)
    panel.get_by_test_id("f_apply").click()
    for _ in range(600):  # generous DOM deadline; not a speed check
        rows = grid_rows(page, grid, COLS)
        if [r["id"] for r in rows] == expected:
            break
        page.wait_for_timeout(100)
    assert [r["id"] for r in rows] == expected, (tab, strategy, rows)
    if strategy:
        assert {r["strategy_id"] for r in rows} <= {strategy}, rows


def test_bots_on_one_account_by_strategy(page: Page, keys: Keys, shared_account: int) -> None:
    stack, acct = keys.stack, shared_account
    stack.price("100")
    a, b = stack.strategy("console-bot-a", [acct]), stack.strategy("console-bot-b", [acct])
    key_a, key_b = bot_key(keys, acct, a, "console-bot-a"), bot_key(keys, acct, b, "console-bot-b")
    # bot a: in and out with a profit; bot b: a position it keeps and a resting limit order
    send(keys, key_a, acct, a, side="buy", order_type="market", qty="0.3")
    send(keys, key_b, acct, b, side="buy", order_type="market", qty="0.2")
    stack.price("104")
    send(keys, key_a, acct, a, side="sell", order_type="market", qty="0.3")
    send(keys, key_b, acct, b, side="buy", order_type="limit", qty="0.1", price="90")

    def books(path: str, strategy: int | None = None, key: str = stack.trader_key) -> list[str]:
        params: dict[str, Any] = {"account_ids": acct, "page_size": 500}
        if strategy is not None:
            params["strategy_id"] = strategy
        response = stack.client.get(path, params=params, headers={"x-api-key": key})
        assert response.status_code == 200, response.text
        return ids(response.json()["items"])

    # the account's trader: every bot's rows, and each bot's alone by the strategy filter
    login(page, stack.base, stack.trader_key)
    wait_live(page)
    goto(page, "monitor")
    for tab, grid, path, a_has_rows in (
        ("orders-history", "grid-orders-history", "/oms/orders/history", True),
        ("deals", "grid-deals", "/oms/deals", True),
        ("positions-history", "grid-positions-history", "/oms/positions/history", True),
        ("open-positions", "grid-open-positions", "/oms/positions/open", False),
        ("open-orders", "grid-open-orders", "/oms/orders/open", False),
    ):
        everything, of_a, of_b = books(path), books(path, a), books(path, b)
        assert sorted(of_a + of_b, key=int) == everything, (path, of_a, of_b, everything)
        assert (bool(of_a), bool(of_b)) == (a_has_rows, True), (path, of_a, of_b)
        shown(page, tab, grid, str(a), of_a)
        shown(page, tab, grid, str(b), of_b)
        shown(page, tab, grid, "", everything)

    # the chart's realised PnL, one line per strategy: each the exact sum of its deals' pnl
    goto(page, "charts")
    page.get_by_test_id("pnl_account").select_option(str(acct))
    for strategy in (a, b):
        deals = stack.get("/oms/deals", account_ids=acct, strategy_id=strategy, page_size=500)["items"]
        total = sum((Decimal(d["pnl"] or "0") for d in deals), Decimal(0))
        legend = page.get_by_test_id(f"pnl-total-strategy {strategy}")
        expect(legend).to_have_text(f"strategy {strategy}: {plain(total)}")
        expect(legend).to_have_attribute("data-points", str(len(deals)))
        assert (total != 0) is (strategy == a)  # a's round trip realised a profit, b's did not
    page.get_by_test_id("logout").click()

    # bot b's own key: its own rows only, whatever the filter says
    login(page, stack.base, key_b)
    wait_live(page)
    goto(page, "monitor")
    assert books("/oms/orders/history", key=key_b) == books("/oms/orders/history", b)
    shown(page, "orders-history", "grid-orders-history", "", books("/oms/orders/history", b))
    shown(page, "deals", "grid-deals", "", books("/oms/deals", b))
    shown(page, "open-orders", "grid-open-orders", "", books("/oms/orders/open", b))


def plain(d: Decimal) -> str:
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
