"""Every command in every position mode through the real HTTP API and a real worker process on
MariaDB: `POST /oms/commands?wait=completed`, then the `/oms/*` reads; prices move only through
`POST /paper/prices`. Numbers (close-by, merge, staircase, reversal) are those of
docs/position-accounting.md; fees are the paper swap fees (taker 0.05 %, maker 0.02 %)."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from .conftest import SYMBOL, D, Stack

MODES = ["hedge", "netting", "strategy_netting"]


def pos_state(p: dict[str, Any]) -> tuple[str, str, str, str, str]:
    return (p["side"], p["qty"], p["avg_price"], p["realized_pnl"], p["state"])


def deal_shape(d: dict[str, Any]) -> tuple[Any, ...]:
    return (d["side"], d["qty"], d["price"], d["fee"], d["pnl"], d["entry"], d["leg"])


@pytest.mark.parametrize("mode", MODES)
def test_market_send_and_close_position(stack: Stack, mode: str) -> None:
    acct = stack.account(mode)
    stack.price("100")
    buy = stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market",
                    qty="0.5", comment="e2e")
    order = stack.order(buy["order_id"])
    assert (order["status"], order["filled_qty"], order["avg_fill_price"], order["fee"]) == (
        "FILLED", "0.5", "100", "0.025")
    assert order["exchange_order_id"]
    assert not order["outcome_unknown"]
    (pos,) = stack.positions(acct)
    assert pos_state(pos) == ("buy", "0.5", "100", "0", "open")
    assert order["position_id"] == pos["id"]
    stack.price("110")
    close = stack.cmd(acct, "close_position", position_id=pos["id"])
    closing = stack.order(close["order_id"])
    assert (closing["side"], closing["qty"], closing["reduce_only"], closing["status"]) == (
        "sell", "0.5", True, "FILLED")
    assert stack.positions(acct) == []
    (done,) = stack.positions(acct, open_only=False)
    assert pos_state(done) == ("buy", "0", "100", "5", "closed")
    assert done["pending_close_qty"] == "0"
    assert [deal_shape(d) for d in stack.deals(acct)] == [
        ("buy", "0.5", "100", "0.025", "0", "in", 0),
        ("sell", "0.5", "110", "0.0275", "5", "out", 0),
    ]
    cmds = stack.get(f"/oms/commands/{buy['command_id']},{close['command_id']}")["items"]
    assert sorted((c["command_type"], c["status"], c["attempts"]) for c in cmds) == [
        ("close_position", "completed", 1), ("send_order", "completed", 1)]
    assert all(c["started_at"] <= c["finished_at"] for c in cmds)


@pytest.mark.parametrize("mode", MODES)
def test_resting_limit_filled_by_price_then_cancel_change_and_cancel_all(
    stack: Stack, mode: str,
) -> None:
    acct = stack.account(mode)
    stack.price("100")
    limit = stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="limit",
                      qty="0.2", price="95")
    assert stack.order(limit["order_id"])["status"] == "SUBMITTED"
    assert stack.positions(acct) == []
    stack.price("96")
    assert stack.order(limit["order_id"])["status"] == "SUBMITTED"
    stack.price("94")  # trades through 95: fills at the limit as maker
    filled = stack.until(lambda: (o := stack.order(limit["order_id"]))["status"] == "FILLED"
                         and o, what="resting limit filled")
    assert (filled["filled_qty"], filled["avg_fill_price"], filled["fee"]) == ("0.2", "95",
                                                                                "0.0038")
    (pos,) = stack.positions(acct)
    assert pos_state(pos) == ("buy", "0.2", "95", "0", "open")

    # change_order (native edit) then cancel_order of a resting order
    rest = stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="limit",
                     qty="0.1", price="80")
    stack.cmd(acct, "change_order", order_id=rest["order_id"], new_price="81", new_qty="0.15")
    changed = stack.order(rest["order_id"])
    assert (changed["price"], changed["qty"], changed["edit_replace_state"],
            changed["status"]) == ("81", "0.15", "edited", "SUBMITTED")
    cancel = stack.cmd(acct, "cancel_order", order_id=rest["order_id"])
    assert stack.order(rest["order_id"])["status"] == "CANCELED"
    # executed by the worker: one item per order (the acceptance-time cancel of a queued send
    # reports {"orders": {...}} instead, see test_cancel_of_a_not_yet_sent_order)
    assert stack.command(cancel["command_id"])["result"]["items"] == [
        {"order_id": rest["order_id"], "ok": True, "status": "CANCELED"}]
    again = stack.post({"account_id": acct, "command": "cancel_order",
                        "payload": {"order_id": rest["order_id"]}})
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "invalid_order_state"

    # cancel_all_orders: only the given symbol
    eth = [stack.cmd(acct, "send_order", symbol="ETH/USDT:USDT", side="sell",
                     order_type="limit", qty="0.01", price=p)["order_id"]
           for p in ("4000", "4100")]
    btc = stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="limit",
                    qty="0.1", price="70")["order_id"]
    stack.cmd(acct, "cancel_all_orders", symbol="ETH/USDT:USDT")
    assert [stack.order(i)["status"] for i in eth] == ["CANCELED", "CANCELED"]
    assert [o["id"] for o in stack.open_orders(acct)] == [btc]
    stack.cmd(acct, "cancel_all_orders")
    assert stack.open_orders(acct) == []
    history = stack.get("/oms/orders/history", account_ids=acct, status="CANCELED")
    assert history["total"] == 4


@pytest.mark.parametrize("mode", MODES)
def test_partial_fills_and_change_of_a_partially_filled_order(stack: Stack, mode: str) -> None:
    # the worker's paper venue for this account gives 0.1 per price change to resting limits
    acct = stack.account(mode, {"paper": {"book": {"resting_volume": "0.1"}}})
    stack.price("100")
    item = stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="limit",
                     qty="0.3", price="95")
    stack.price("94")
    part = stack.until(lambda: (o := stack.order(item["order_id"]))["status"]
                       == "PARTIALLY_FILLED" and o, what="partial fill")
    assert (part["filled_qty"], part["avg_fill_price"]) == ("0.1", "95")
    (pos,) = stack.positions(acct)
    assert pos_state(pos) == ("buy", "0.1", "95", "0", "open")
    below = stack.post({"account_id": acct, "command": "change_order",
                        "payload": {"order_id": item["order_id"], "new_qty": "0.05"}})
    assert below.status_code == 422
    assert below.json()["error"]["code"] == "invalid_qty"
    # back above the limit first: an amended limit that crosses takes like a new order
    stack.price("96")
    stack.cmd(acct, "change_order", order_id=item["order_id"], new_qty="0.2")
    changed = stack.order(item["order_id"])
    assert (changed["qty"], changed["filled_qty"], changed["status"]) == (
        "0.2", "0.1", "PARTIALLY_FILLED")
    stack.price("94.5")
    done = stack.until(lambda: (o := stack.order(item["order_id"]))["status"] == "FILLED" and o,
                       what="rest filled")
    assert (done["qty"], done["filled_qty"], done["avg_fill_price"]) == ("0.2", "0.2", "95")
    (pos,) = stack.positions(acct)
    assert pos_state(pos) == ("buy", "0.2", "95", "0", "open")
    assert [d["qty"] for d in stack.deals(acct, order_id=item["order_id"])] == ["0.1", "0.1"]


def test_cancel_of_a_not_yet_sent_order(stack: Stack) -> None:
    acct = stack.account("hedge")
    stack.price("100")
    (worker,) = stack.workers
    worker.send_signal(signal.SIGSTOP)  # nothing is claimed while it is stopped
    try:
        send = stack.cmd(acct, "send_order", wait=False, symbol=SYMBOL, side="buy",
                         order_type="market", qty="0.1")
        assert send["status"] == "queued"
        cancel = stack.cmd(acct, "cancel_order", wait=False, order_id=send["order_id"])
        assert cancel["status"] == "completed"  # done in the acceptance transaction
    finally:
        worker.send_signal(signal.SIGCONT)
    assert stack.command(send["command_id"])["status"] == "canceled"
    order = stack.order(send["order_id"])
    assert (order["status"], order["exchange_order_id"], order["filled_qty"]) == (
        "CANCELED", None, "0")
    result = stack.command(cancel["command_id"])["result"]["items"]
    assert result == [{"order_id": send["order_id"], "ok": True, "status": "CANCELED"}]
    # the worker runs again: a later command executes, the cancelled one never reaches the venue
    later = stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market",
                      qty="0.1")
    assert stack.order(later["order_id"])["status"] == "FILLED"
    assert stack.order(send["order_id"])["exchange_order_id"] is None
    assert len(stack.deals(acct)) == 1


@pytest.mark.parametrize("mode", ["hedge", "strategy_netting"])
def test_close_by_with_unequal_volumes(stack: Stack, mode: str) -> None:
    acct = stack.account(mode)
    s1, s2 = (stack.strategy(f"cb-{mode}-{n}", [acct]) for n in (1, 2))
    stack.price("100")
    a = stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", qty="1.0", strategy_id=s1)
    stack.price("110")
    b = stack.cmd(acct, "send_order", symbol=SYMBOL, side="sell", qty="0.4", strategy_id=s2)
    pa, pb = stack.order(a["order_id"])["position_id"], stack.order(b["order_id"])["position_id"]
    assert pa != pb
    stack.cmd(acct, "close_by", position_id_a=pa, position_id_b=pb)
    a_pos, b_pos = stack.position(pa), stack.position(pb)
    assert pos_state(a_pos) == ("buy", "0.6", "100", "4", "open")
    assert pos_state(b_pos) == ("sell", "0", "110", "0", "closed")
    by = [d for d in stack.deals(acct) if d["entry"] == "out_by"]
    assert sorted((d["position_id"], d["side"], d["qty"], d["price"], d["pnl"], d["reason"],
                   d["exchange_trade_id"], d["strategy_id"]) for d in by) == sorted([
        (pa, "sell", "0.4", "110", "4", "close_by", None, s1),
        (pb, "buy", "0.4", "110", "0", "close_by", None, s2)])
    stack.price("120")
    stack.cmd(acct, "close_position", position_id=pa)
    assert pos_state(stack.position(pa)) == ("buy", "0", "100", "16", "closed")


def test_close_by_and_merge_refused_in_netting(stack: Stack) -> None:
    acct = stack.account("netting")
    stack.price("100")
    first = stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", qty="0.1")
    stack.cmd(acct, "send_order", symbol=SYMBOL, side="sell", qty="0.2")  # reversal
    old = stack.order(first["order_id"])["position_id"]
    (new,) = stack.positions(acct)
    for command, payload in (
        ("close_by", {"position_id_a": old, "position_id_b": new["id"]}),
        ("merge_positions", {"source_position_id": old, "target_position_id": new["id"]}),
    ):
        response = stack.post({"account_id": acct, "command": command, "payload": payload})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_position_id"


@pytest.mark.parametrize("mode", ["hedge", "strategy_netting"])
def test_merge_03_at_90_into_07_at_95(stack: Stack, mode: str) -> None:
    acct = stack.account(mode)
    s1, s2 = (stack.strategy(f"mg-{mode}-{n}", [acct]) for n in (1, 2))
    stack.price("95")
    t = stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", qty="0.7", strategy_id=s1)
    stack.price("90")
    s = stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", qty="0.3", strategy_id=s2)
    target = stack.order(t["order_id"])["position_id"]
    source = stack.order(s["order_id"])["position_id"]
    stack.cmd(acct, "merge_positions", source_position_id=source, target_position_id=target)
    assert pos_state(stack.position(target)) == ("buy", "1", "93.5", "0", "open")
    assert pos_state(stack.position(source)) == ("buy", "0", "90", "0", "merged")
    merged = [d for d in stack.deals(acct) if d["reason"] == "merge"]
    assert sorted((d["position_id"], d["side"], d["qty"], d["price"], d["pnl"], d["entry"])
                  for d in merged) == sorted([(source, "sell", "0.3", "90", "0", "out"),
                                              (target, "buy", "0.3", "90", "0", "in")])
    history = stack.get("/oms/positions/history", account_ids=acct, state="merged")["items"]
    assert [p["id"] for p in history] == [source]


def test_strategy_netting_staircase(stack: Stack) -> None:
    acct = stack.account("strategy_netting")
    s1 = stack.strategy("stair-1", [acct])
    s2 = stack.strategy("stair-2", [acct])
    steps = [  # (strategy, side, qty, price) of docs/position-accounting.md example 4
        (s1, "buy", "1", "100"), (s2, "sell", "2", "101"), (s1, "buy", "1", "104"),
        (s2, "sell", "1", "98"), (s1, "sell", "0.5", "106"), (s2, "buy", "1", "95"),
        (s1, "sell", "1.5", "108"), (s2, "buy", "5", "97"),
    ]
    seen = []
    for strategy, side, qty, price in steps:
        stack.price(price)
        stack.cmd(acct, "send_order", symbol=SYMBOL, side=side, qty=qty, strategy_id=strategy)
        seen.append({(p["strategy_id"], *pos_state(p)[:4]) for p in stack.positions(acct)})
    assert seen == [
        {(s1, "buy", "1", "100", "0")},
        {(s1, "buy", "1", "100", "0"), (s2, "sell", "2", "101", "0")},
        {(s1, "buy", "2", "102", "0"), (s2, "sell", "2", "101", "0")},
        {(s1, "buy", "2", "102", "0"), (s2, "sell", "3", "100", "0")},
        {(s1, "buy", "1.5", "102", "2"), (s2, "sell", "3", "100", "0")},
        {(s1, "buy", "1.5", "102", "2"), (s2, "sell", "2", "100", "5")},
        {(s2, "sell", "2", "100", "5")},
        {(s2, "buy", "3", "97", "0")},
    ]
    closed = [pos_state(p) for p in stack.positions(acct, open_only=False)
              if p["state"] == "closed"]
    assert sorted(closed) == [("buy", "0", "102", "11", "closed"),
                              ("sell", "0", "100", "11", "closed")]
    net = sum((1 if p["side"] == "buy" else -1) * D(p["qty"]) for p in stack.positions(acct))
    assert net == 3


def test_netting_reversal_books_two_legs(stack: Stack) -> None:
    acct = stack.account("netting")
    s4 = stack.strategy("rev-4", [acct])
    s9 = stack.strategy("rev-9", [acct])
    stack.price("100")
    stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", qty="2", strategy_id=s4)
    stack.price("110")
    rev = stack.cmd(acct, "send_order", symbol=SYMBOL, side="sell", qty="5", strategy_id=s9)
    old, new = stack.positions(acct, open_only=False)
    assert pos_state(old) == ("buy", "0", "100", "20", "closed")
    assert (*pos_state(new), new["strategy_id"]) == ("sell", "3", "110", "0", "open", s9)
    legs = stack.deals(acct, order_id=rev["order_id"])
    # taker fee 5 × 110 × 0.05 % = 0.275, split pro rata 2/5 and 3/5
    assert [(*deal_shape(d), d["position_id"]) for d in legs] == [
        ("sell", "2", "110", "0.11", "20", "out", 0, old["id"]),
        ("sell", "3", "110", "0.165", "0", "in", 1, new["id"]),
    ]
    assert legs[0]["exchange_trade_id"] == legs[1]["exchange_trade_id"]
    assert stack.order(rev["order_id"])["position_id"] == new["id"]


@pytest.mark.parametrize("mode", MODES)
def test_stop_loss_take_profit_and_position_change(stack: Stack, mode: str) -> None:
    acct = stack.account(mode)
    stack.price("100")
    # a long with targets from send_order: the stop fires on the bid at 94
    buy = stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", qty="1",
                    oms_stop_loss="95", oms_stop_gain="110")
    pid = stack.order(buy["order_id"])["position_id"]
    assert (stack.position(pid)["stop_loss"], stack.position(pid)["stop_gain"]) == ("95", "110")
    stack.price("96")
    stack.price("94")
    closed = stack.until(lambda: (p := stack.position(pid))["state"] == "closed" and p,
                         what="stop loss closes")
    assert pos_state(closed) == ("buy", "0", "100", "-6", "closed")
    (trigger_order,) = [o for o in stack.get("/oms/orders/history", account_ids=acct)["items"]
                        if o["reason"] == "stop_loss"]
    assert (trigger_order["side"], trigger_order["qty"], trigger_order["reduce_only"],
            trigger_order["status"], trigger_order["avg_fill_price"]) == (
        "sell", "1", True, "FILLED", "94")
    trig_cmd = stack.command(trigger_order["command_id"])
    assert (trig_cmd["request_id"], trig_cmd["status"]) == (f"trg:{pid}:stop_loss:1", "completed")

    # a short whose take-profit is set later by position_change
    sell = stack.cmd(acct, "send_order", symbol=SYMBOL, side="sell", qty="1")
    short = stack.order(sell["order_id"])["position_id"]
    bad = stack.post({"account_id": acct, "command": "position_change",
                      "payload": {"position_id": short, "oms_stop_gain": "99"}})
    # a target already crossed (short at 94, take-profit 99 ≥ the price) is refused with 422
    # and nothing is written (regression: it used to be stored and could fire at once)
    assert bad.status_code == 422, bad.text
    assert bad.json()["error"]["code"] == "validation_error"
    assert stack.position(short)["stop_gain"] is None
    stack.cmd(acct, "position_change", position_id=short, oms_stop_gain="89",
              comment="tp set")
    changed = stack.position(short)
    assert (changed["stop_gain"], changed["stop_loss"], changed["comment"]) == ("89", None,
                                                                                 "tp set")
    stack.price("90")
    assert stack.position(short)["state"] == "open"
    stack.price("88.9")
    done = stack.until(lambda: (p := stack.position(short))["state"] == "closed" and p,
                       what="take profit closes")
    assert pos_state(done) == ("sell", "0", "94", "5.1", "closed")
    assert any(o["reason"] == "take_profit" and o["avg_fill_price"] == "88.9"
               for o in stack.get("/oms/orders/history", account_ids=acct)["items"])
