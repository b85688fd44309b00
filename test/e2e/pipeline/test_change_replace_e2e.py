"""`change_order` by cancel/replace through the real HTTP API and a real worker process, on a
paper account without native edit (`{"paper": {"edit_order": false}}`)."""

from __future__ import annotations

from .conftest import SYMBOL, Stack


def test_change_of_a_partially_filled_order_on_a_no_edit_account(stack: Stack) -> None:
    # resting limits fill 0.1 per price change; no native edit: cancel/replace
    acct = stack.account("netting", {"paper": {"edit_order": False,
                                               "book": {"resting_volume": "0.1"}}})
    stack.price("100")
    item = stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="limit",
                     qty="0.3", price="95")
    first = stack.order(item["order_id"])
    stack.price("94")
    stack.until(lambda: stack.order(item["order_id"])["filled_qty"] == "0.1", what="partial")
    stack.price("96")
    change = stack.cmd(acct, "change_order", order_id=item["order_id"], new_qty="0.25",
                       new_price="95.5")
    assert stack.command(change["command_id"])["status"] == "completed"
    changed = stack.order(item["order_id"])
    assert (changed["qty"], changed["price"], changed["filled_qty"], changed["status"],
            changed["edit_replace_state"]) == ("0.25", "95.5", "0.1", "PARTIALLY_FILLED",
                                               "replaced")
    assert changed["client_order_id"] == first["client_order_id"]
    assert changed["exchange_order_id"] != first["exchange_order_id"]
    # the replacement (0.15 = 0.25 − 0.1) fills 0.1 then 0.05, booked to the same order
    stack.price("95")
    stack.until(lambda: stack.order(item["order_id"])["filled_qty"] == "0.2", what="0.2")
    stack.price("94.8")
    done = stack.until(lambda: (o := stack.order(item["order_id"]))["status"] == "FILLED" and o,
                       what="filled")
    assert (done["qty"], done["filled_qty"], done["avg_fill_price"]) == ("0.25", "0.25", "95.3")
    assert [(d["qty"], d["price"]) for d in stack.deals(acct, order_id=item["order_id"])] == [
        ("0.1", "95"), ("0.1", "95.5"), ("0.05", "95.5")]
    (pos,) = stack.positions(acct)
    assert (pos["side"], pos["qty"], pos["avg_price"]) == ("buy", "0.25", "95.3")
    # the venue holds two orders for the one OMS order: the cancelled one and its replacement
    response = stack.client.post(f"/ccxt/{acct}/fetch_orders", json={"args": [SYMBOL]})
    assert response.status_code == 200, response.text
    venue = sorted(response.json()["result"], key=lambda o: int(o["timestamp"]))
    assert [(o["id"], o["status"], o["clientOrderId"]) for o in venue] == [
        (first["exchange_order_id"], "canceled", first["client_order_id"]),
        (changed["exchange_order_id"], "closed", first["client_order_id"] + "r1")]
