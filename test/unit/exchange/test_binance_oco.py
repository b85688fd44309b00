"""Binance spot's own OCO: which venues have it, what acceptance takes and refuses of it, and
the request the gateway's two legs become (`exchange/ccxt/binance_oco.py`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from apps.oms.domain.errors import DomainError, NotSupported, OrderFieldConflict
from apps.oms.exchange.ccxt import binance_oco
from apps.oms.exchange.order_features import order_features
from apps.oms.ports import OcoLeg
from apps.oms.service.accept_groups import check_group, spec_of
from apps.oms.service.command_models import SendOrder

BINANCE = "ccxt.binance"
LIMIT = OcoLeg("a", "limit", price=Decimal("31000"))
STOP = OcoLeg("b", "market", stop_price=Decimal("29000"))
STOP_LIMIT = OcoLeg("c", "limit", price=Decimal("28900"), stop_price=Decimal("29000"))
TAKE = OcoLeg("d", "market", take_profit_price=Decimal("32000"))


def _price(value: Any) -> str:
    return f"{Decimal(str(value)):.2f}"


@pytest.mark.parametrize(("exchange_id", "symbol", "has"), [
    (BINANCE, "BTC/USDT", True), ("ccxtpro.binance", "BTC/USDT", True),
    (BINANCE, "BTC/USDT:USDT", False), ("ccxt.binanceusdm", "BTC/USDT:USDT", False),
    ("ccxt.okx", "BTC/USDT", False), ("ccxt.bybit", "BTC/USDT", False),
    ("paper", "BTC/USDT", False),
])  # fmt: skip
def test_only_binance_spot_has_an_oco_of_its_own(exchange_id: str, symbol: str,
                                                   has: bool) -> None:  # fmt: skip
    features = order_features(exchange_id, symbol)
    assert features is not None
    assert features.oco is has


def test_a_sell_oco_puts_its_stop_below_and_its_limit_above_as_a_maker() -> None:
    request = binance_oco.request("BTCUSDT", "sell", "0.5", [LIMIT, STOP], "list1", _price)
    assert request == {
        "symbol": "BTCUSDT", "side": "SELL", "quantity": "0.5", "listClientOrderId": "list1",
        "newOrderRespType": "FULL",
        "aboveType": "LIMIT_MAKER", "aboveClientOrderId": "a", "abovePrice": "31000.00",
        "belowType": "STOP_LOSS", "belowClientOrderId": "b", "belowStopPrice": "29000.00",
    }  # fmt: skip


def test_a_buy_oco_puts_its_stop_above() -> None:
    stop = OcoLeg("c", "limit", price=Decimal("31100"), stop_price=Decimal("31000"))
    limit = OcoLeg("a", "limit", price=Decimal("29000"))
    request = binance_oco.request("BTCUSDT", "buy", "1", [limit, stop], "l", _price)
    assert (request["aboveType"], request["abovePrice"], request["aboveStopPrice"],
            request["aboveTimeInForce"]) == ("STOP_LOSS_LIMIT", "31100.00", "31000.00", "GTC")
    assert (request["belowType"], request["belowPrice"]) == ("LIMIT_MAKER", "29000.00")
    assert "belowTimeInForce" not in request


def test_a_take_profit_leg_is_binances_take_profit() -> None:
    request = binance_oco.request("BTCUSDT", "sell", "1", [TAKE, STOP_LIMIT], "l", _price)
    assert (request["aboveType"], request["aboveStopPrice"]) == ("TAKE_PROFIT", "32000.00")
    assert "abovePrice" not in request
    assert request["belowType"] == "STOP_LOSS_LIMIT"


def test_legs_without_a_stop_are_no_binance_oco() -> None:
    with pytest.raises(ValueError, match="one of them a stop"):
        binance_oco.request("BTCUSDT", "sell", "1", [LIMIT, TAKE], "l", _price)


def test_the_answer_is_read_back_in_the_legs_order() -> None:
    answer = {"orderReports": [{"clientOrderId": "b", "orderId": 2},
                               {"clientOrderId": "a", "orderId": 1}]}
    assert [r["orderId"] for r in binance_oco.reports_by_leg(answer, [LIMIT, STOP])] == [1, 2]
    with pytest.raises(ValueError, match="no report of a"):
        binance_oco.reports_by_leg({"orderReports": answer["orderReports"][:1]}, [LIMIT, STOP])


# --- acceptance --------------------------------------------------------------------------------


def _ask(**fields: Any) -> SendOrder:
    base: dict[str, Any] = {"symbol": "BTC/USDT", "side": "sell", "qty": "0.5",
                            "order_type": "limit", "price": "31000", "emulation": "venue",
                            "oco_orders": [{"stop_price": "29000"}]}  # fmt: skip
    return SendOrder.model_validate({**base, **fields})


def test_a_limit_and_a_stop_make_the_venues_oco() -> None:
    p = _ask()
    specs = check_group(p, BINANCE)
    assert specs == [{"role": "leg1", "order_type": "market", "price": None,
                      "stop_price": "29000", "take_profit_price": None}]
    assert spec_of(p, specs) == {"members": [], "venue_legs": specs, "emulation": "venue"}
    # the stop may be the order itself, the limit its other leg; a buy has its stop above
    check_group(_ask(order_type="market", price=None, stop_price="29000",
                     oco_orders=[{"order_type": "limit", "price": "31000"}]), BINANCE)
    check_group(_ask(side="buy", price="29000", oco_orders=[{"stop_price": "31000"}]), BINANCE)
    check_group(_ask(order_type="market", price=None, take_profit_price="32000"), BINANCE)
    # `trigger_price` is a stop's trigger as `stop_price` is
    check_group(_ask(order_type="market", price=None, trigger_price="29000",
                     oco_orders=[{"order_type": "limit", "price": "31000"}]), BINANCE)


@pytest.mark.parametrize(("fields", "error", "field"), [
    ({"oco_orders": [{"stop_price": "29000"}, {"take_profit_price": "32000"}]},
     OrderFieldConflict, "oco_orders"),
    ({"oco_orders": [{"take_profit_price": "32000"}]}, OrderFieldConflict, "oco_orders"),
    ({"stop_price": "30000", "order_type": "limit"}, OrderFieldConflict, "oco_orders"),
    ({"oco_orders": [{"stop_price": "32000"}]}, OrderFieldConflict, "oco_orders"),
    ({"side": "buy", "oco_orders": [{"stop_price": "29000"}]}, OrderFieldConflict,
     "oco_orders"),
    ({"reduce_only": True}, NotSupported, "reduce_only"),
    ({"time_in_force": "IOC"}, NotSupported, "time_in_force"),
    ({"post_only": True}, NotSupported, "post_only"),
    ({"time_in_force": "GTD", "expire_at": 4102444800000}, NotSupported, "time_in_force"),
    ({"trigger_price_type": "mark"}, NotSupported, "trigger_price_type"),
    ({"order_type": "market", "price": None, "trailing_amount": "100"}, NotSupported,
     "trailing_amount"),
    ({"bracket_stop_loss": {"trigger_price": "29000"}}, OrderFieldConflict, "oco_orders"),
    # only market and limit legs: Binance's own types would be rewritten, never honoured
    ({"order_type": "stop_loss_limit", "price": "28900", "stop_price": "29000",
      "oco_orders": [{"order_type": "limit", "price": "31000"}]}, NotSupported, "order_type"),
    ({"order_type": "market", "stop_price": "29000",
      "oco_orders": [{"order_type": "limit", "price": "31000"}]}, OrderFieldConflict, "price"),
    # what the order list does not carry
    ({"params": {"selfTradePreventionMode": "EXPIRE_TAKER"}}, NotSupported, "params"),
    ({"oms_stop_loss": "28000"}, NotSupported, "oms_stop_loss"),
    ({"oms_stop_gain": "33000"}, NotSupported, "oms_stop_gain"),
])  # fmt: skip
def test_what_the_venues_oco_cannot_hold_is_refused(fields: dict[str, Any],
                                                    error: type[DomainError],
                                                    field: str) -> None:  # fmt: skip
    with pytest.raises(error) as caught:
        check_group(_ask(**fields), BINANCE)
    assert caught.value.details["field"] == field, caught.value


@pytest.mark.parametrize(("exchange_id", "symbol"), [
    ("paper", "BTC/USDT"), (BINANCE, "BTC/USDT:USDT"), ("ccxt.okx", "BTC/USDT"),
])  # fmt: skip
def test_elsewhere_the_venues_oco_is_refused_with_the_field(exchange_id: str,
                                                             symbol: str) -> None:  # fmt: skip
    with pytest.raises(NotSupported) as caught:
        check_group(_ask(symbol=symbol), exchange_id)
    assert caught.value.details["field"] == "emulation"
    assert "Binance spot" in caught.value.message


@pytest.mark.parametrize(("exchange_id", "symbol", "replaces", "keeps_trigger"), [
    (BINANCE, "BTC/USDT", True, False), ("ccxt.binanceus", "BTC/USDT", True, False),
    ("ccxt.binanceusdm", "BTC/USDT:USDT", False, False), ("ccxt.okx", "BTC/USDT", False, False),
    ("paper", "BTC/USDT", False, True),
])  # fmt: skip
def test_where_a_change_is_the_gateways_cancel_replace(exchange_id: str, symbol: str,
                                                        replaces: bool,
                                                        keeps_trigger: bool) -> None:  # fmt: skip
    """Binance spot's edit is a cancel and a new order (`order/cancelReplace`); CCXT's
    `edit_order` carries no trigger (`service/execution/cancel.execute_change`)."""
    features = order_features(exchange_id, symbol)
    assert features is not None
    assert (features.edit_replaces, features.edit_keeps_trigger) == (replaces, keeps_trigger)
