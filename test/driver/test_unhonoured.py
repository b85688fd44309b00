"""Every order parameter of the driver reaches a field that is executed, or is refused with
CCXT's `NotSupported`: a trailing stop never goes out as a plain order, an edit never drops
what it was asked to change (through the real app and worker, on the paper venue)."""

from __future__ import annotations

import time
from typing import Any

import ccxt
import pytest

from apps.oms.domain.order_features import UNBOOKED_PARAMS
from apps.oms.service.field_use import FIELD_USE, Use
from ccxt_driver import OmsCcxtExchange
from ccxt_driver.plans import ORDER_FIELDS
from test.driver.conftest import SYMBOL, Stack

pytestmark = pytest.mark.mysql

def test_a_trailing_stop_is_held_by_the_gateway_and_fires_once(ex: OmsCcxtExchange,
                                                                stack: Stack) -> None:
    """CCXT's trailing parameters make a held order (`info.emulation`), never a plain one;
    it fires when the price rises to its trigger and ends as its child ends."""
    assert not [name for name, field in ORDER_FIELDS.items()
                if FIELD_USE["send_order"][field] is Use.REFUSED]
    assert ex.features["spot"]["createOrder"]["trailing"] is True
    order = ex.create_order(SYMBOL, "market", "buy", 0.1, None, {"trailingAmount": 5})
    assert (order["status"], order["filled"], order["info"]["emulation"]) == ("open", 0.0,
                                                                            "gateway")
    assert order["id"] in [o["id"] for o in ex.fetch_open_orders(SYMBOL)]
    kept = ex.create_order(SYMBOL, "market", "buy", 0.1, None, {"trailingPercent": 50})
    ex.cancel_order(kept["id"], SYMBOL)
    assert ex.fetch_order(kept["id"], SYMBOL)["status"] == "canceled"
    stack.price("106")
    deadline = time.monotonic() + 60
    while ex.fetch_order(order["id"], SYMBOL)["status"] == "open":
        assert time.monotonic() < deadline, "the held order did not fire"
        time.sleep(0.1)
    fired = ex.fetch_order(order["id"], SYMBOL)
    assert (fired["status"], fired["filled"]) == ("closed", 0.1)
    children = [o for o in ex.fetch_closed_orders(SYMBOL)
                if o["info"].get("parent_order_id") == int(order["id"])]
    assert len(children) == 1


def test_unified_params_the_books_cannot_follow_raise_not_supported(ex: OmsCcxtExchange) -> None:
    for name in sorted(UNBOOKED_PARAMS):
        with pytest.raises(ccxt.NotSupported):
            ex.create_order(SYMBOL, "limit", "buy", 0.1, 90, {name: "80"})
    with pytest.raises(ccxt.NotSupported):  # what a bracket exit cannot honour
        ex.create_order(SYMBOL, "limit", "buy", 0.1, 90,
                        {"stopLoss": {"triggerPrice": 80, "triggerPriceType": "index"}})
    with pytest.raises(ccxt.NotSupported):  # the paper venue reads no such param
        ex.create_order(SYMBOL, "limit", "buy", 0.1, 90, {"icebergAmount": "0.05"})
    with pytest.raises(ccxt.NotSupported):  # a type the paper venue does not execute
        ex.create_order(SYMBOL, "stop_loss_limit", "sell", 0.1, 90, {"stopPrice": "91"})
    assert ex.fetch_open_orders(SYMBOL) == []

def test_edit_order_refuses_what_it_cannot_change(ex: OmsCcxtExchange) -> None:
    order = ex.create_order(SYMBOL, "limit", "buy", 0.5, 90)
    with pytest.raises(ccxt.NotSupported, match="params"):
        ex.edit_order(order["id"], SYMBOL, "limit", "buy", 0.5, 91, {"triggerPrice": 95})
    with pytest.raises(ccxt.NotSupported, match="type or side"):
        ex.edit_order(order["id"], SYMBOL, "limit", "sell", 0.5, 91)
    with pytest.raises(ccxt.NotSupported, match="type or side"):
        ex.edit_order(order["id"], SYMBOL, "market", "buy", 0.5)
    unchanged = ex.fetch_order(order["id"])
    assert (unchanged["price"], unchanged["side"]) == (90.0, "buy")
    edited = ex.edit_order(order["id"], SYMBOL, "limit", "buy", 0.5, 91)
    assert edited["price"] == 91.0
    ex.cancel_order(order["id"])


def _until(check: Any, what: str) -> None:
    deadline = time.monotonic() + 600  # generous: a loaded host is slow, never wrong
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_stop_loss_and_take_profit_objects_make_a_bracket(ex: OmsCcxtExchange,
                                                          stack: Stack) -> None:
    """CCXT's attached `stopLoss` / `takeProfit` become a bracket the gateway holds: its exits
    appear at the entry's fill, sized to it, and the first that fires disarms the other."""
    assert ex.has["createOrderWithTakeProfitAndStopLoss"] is True
    entry = ex.create_order(SYMBOL, "market", "buy", 0.1, None, {
        "stopLoss": {"triggerPrice": 90}, "takeProfit": {"triggerPrice": 110, "price": 109}})
    group_id = entry["info"]["group_id"]
    assert group_id is not None

    def exits() -> list[dict[str, Any]]:
        return [o for o in ex.fetch_open_orders(SYMBOL) if o["info"]["group_id"] == group_id]

    _until(lambda: len(exits()) == 2, "the exits were not armed")
    by_trigger = {o["stopPrice"] or o["info"]["take_profit_price"]: o for o in exits()}
    assert {o["side"] for o in by_trigger.values()} == {"sell"}
    assert {o["amount"] for o in by_trigger.values()} == {0.1}
    # the reads say what each member is (`info.group_kind`, `info.group_role`)
    assert {(o["info"]["group_kind"], o["info"]["group_role"]) for o in exits()} == {
        ("bracket", "stop_loss"), ("bracket", "take_profit")}
    fetched = ex.fetch_order(entry["id"], SYMBOL)["info"]
    assert (fetched["group_id"], fetched["group_kind"], fetched["group_role"]) == (
        group_id, "bracket", "entry")
    stack.price("111")
    _until(lambda: exits() == [], "the take-profit did not fire")
    closed = {o["id"]: o for o in ex.fetch_closed_orders(SYMBOL) + ex.fetch_canceled_orders(
        SYMBOL)}
    statuses = sorted(closed[o["id"]]["status"] for o in by_trigger.values())
    assert statuses == ["canceled", "closed"]


def test_create_orders_with_oco_makes_one_group(ex: OmsCcxtExchange, stack: Stack) -> None:
    ex.create_order(SYMBOL, "market", "buy", 0.1)
    legs = [{"symbol": SYMBOL, "type": "market", "side": "sell", "amount": 0.1,
             "params": {"takeProfitPrice": 120, "reduceOnly": True}},
            {"symbol": SYMBOL, "type": "market", "side": "sell", "amount": 0.1,
             "params": {"stopPrice": 80}}]
    (first,) = ex.create_orders(legs, {"oco": True})
    group_id = first["info"]["group_id"]
    _until(lambda: len([o for o in ex.fetch_open_orders(SYMBOL)
                        if o["info"]["group_id"] == group_id]) == 2, "the OCO was not armed")
    assert sorted(o["info"]["group_role"] for o in ex.fetch_open_orders(SYMBOL)
                  if o["info"]["group_id"] == group_id) == ["leg0", "leg1"]
    stack.price("79")
    _until(lambda: not [o for o in ex.fetch_open_orders(SYMBOL)
                        if o["info"]["group_id"] == group_id], "the OCO did not fire")
    with pytest.raises(ccxt.InvalidOrder):
        ex.create_orders([legs[0], {**legs[1], "amount": 0.2}], {"oco": True})


def test_the_venues_own_oco_is_asked_for_with_emulation_venue(ex: OmsCcxtExchange) -> None:
    """`{"oco": True, "emulation": "venue"}` asks for the venue's own OCO (Binance spot's order
    list): the paper venue has none, so the gateway refuses it, naming the field, and places
    nothing (test/integration/wire/test_gateway_venue_oco.py places one on Binance spot)."""
    legs = [{"symbol": SYMBOL, "type": "limit", "side": "sell", "amount": 0.1, "price": 120},
            {"symbol": SYMBOL, "type": "market", "side": "sell", "amount": 0.1,
             "params": {"stopPrice": 80}}]
    before = len(ex.fetch_open_orders(SYMBOL))
    with pytest.raises(ccxt.NotSupported, match="emulation"):
        ex.create_orders(legs, {"oco": True, "emulation": "venue"})
    assert len(ex.fetch_open_orders(SYMBOL)) == before


def test_an_oco_of_a_resting_limit_and_a_stop_as_on_binance(ex: OmsCcxtExchange,
                                                          stack: Stack) -> None:
    """Binance's OCO through `create_orders`: a take-profit limit that rests on the venue and
    a stop the gateway holds; the stop fires, the limit is cancelled on the venue and the stop's
    child closes the position."""
    stack.price("100")
    ex.create_order(SYMBOL, "market", "buy", 0.1)
    legs = [{"symbol": SYMBOL, "type": "limit", "side": "sell", "amount": 0.1, "price": 120,
             "params": {"reduceOnly": True}},
            {"symbol": SYMBOL, "type": "market", "side": "sell", "amount": 0.1,
             "params": {"stopPrice": 80}}]
    (first,) = ex.create_orders(legs, {"oco": True})
    group_id = first["info"]["group_id"]

    def members() -> dict[str, dict[str, Any]]:
        found = ex.fetch_open_orders(SYMBOL) + ex.fetch_closed_orders(SYMBOL) \
            + ex.fetch_canceled_orders(SYMBOL)
        return {o["info"]["group_role"]: o for o in found if o["info"]["group_id"] == group_id}

    _until(lambda: len(members()) == 2, "the stop was not armed")
    assert (members()["leg0"]["info"]["emulation"], members()["leg1"]["info"]["emulation"]) == (
        "venue", "gateway")
    stack.price("79")
    _until(lambda: members()["leg1"]["status"] == "closed", "the stop did not fire and fill")
    assert members()["leg0"]["status"] == "canceled"
    assert members()["leg1"]["filled"] == 0.1
    stack.price("100")


def test_a_time_limit_closes_the_entry_after_its_seconds(ex: OmsCcxtExchange) -> None:
    """`timeLimit` (seconds, the driver's name for the gateway's `bracket_time_limit`) adds a
    time exit to a bracket: the clock fires it, a market close of what the entry filled,
    and it disarms the stop-loss."""
    entry = ex.create_order(SYMBOL, "market", "buy", 0.1, None, {
        "stopLoss": {"triggerPrice": 50}, "timeLimit": 1})
    group_id = entry["info"]["group_id"]

    def members() -> dict[str, dict[str, Any]]:
        found = ex.fetch_open_orders(SYMBOL) + ex.fetch_closed_orders(SYMBOL) \
            + ex.fetch_canceled_orders(SYMBOL)
        return {o["info"]["group_role"]: o for o in found if o["info"]["group_id"] == group_id}

    _until(lambda: members().get("time_limit", {}).get("status") == "closed",
           "the time limit did not close the position")
    closed = members()
    assert closed["time_limit"]["info"]["fire_at"] is not None
    assert (closed["time_limit"]["side"], closed["time_limit"]["filled"]) == ("sell", 0.1)
    assert closed["stop_loss"]["status"] == "canceled"
