"""Every field of every command payload, and every order parameter of the driver, is executed by
someone or refused: the walk behind `service/field_use.py` (a field the gateway accepts is a
promise, never stored and dropped)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from apps.oms.domain.errors import NotSupported, OrderFieldConflict
from apps.oms.domain.held_orders import Emulation
from apps.oms.domain.order_features import (
    FIELD_PARAMS,
    UNBOOKED_PARAMS,
    OrderAsk,
    OrderFeatures,
    check_honoured,
)
from apps.oms.exchange.order_features import PAPER, UNIFIED_PARAMS, order_features
from apps.oms.ports import GATEWAY_POSITION_SIDE
from apps.oms.service.accept_groups import check_group
from apps.oms.service.accept_orders import check_venue_executes
from apps.oms.service.command_models import PAYLOAD_MODELS, ClosePosition, OcoLeg, SendOrder
from apps.oms.service.execution.send import venue_params
from apps.oms.service.field_use import FIELD_USE, Use
from apps.paper.domain.state import OrderRequest
from apps.paper.exchange.requests import order_request
from ccxt_driver.plans import ORDER_FIELDS

CCXT_VENUES = [
    ("ccxt.binance", "BTC/USDT"), ("ccxt.binanceusdm", "BTC/USDT:USDT"),
    ("ccxt.bybit", "BTC/USDT:USDT"), ("ccxt.okx", "BTC/USDT:USDT"), ("ccxt.okx", "BTC/USDT"),
    ("ccxtpro.binance", "BTC/USDT:USDT"), ("ccxt.kraken", "BTC/USD"),
]  # fmt: skip
#: a sample value of each venue field, and what the paper venue's request must show for it
SAMPLES: dict[str, tuple[Any, Any]] = {
    "symbol": ("ETH/USDT", lambda r: r.symbol == "ETH/USDT"),
    "side": ("sell", lambda r: r.side == "sell"),
    "order_type": ("limit", lambda r: r.type == "limit"),
    "qty": (Decimal("0.5"), lambda r: r.qty == Decimal("0.5")),
    "price": (Decimal(30000), lambda r: r.price == Decimal(30000)),
    "client_order_id": ("abc123", lambda r: r.client_order_id == "abc123"),
    "post_only": (True, lambda r: r.post_only),
    "time_in_force": ("IOC", lambda r: r.time_in_force == "IOC"),
    "trigger_price": (Decimal(31000), lambda r: (r.trigger_price, r.trigger_kind)
                      == (Decimal(31000), "trigger")),
    "stop_price": (Decimal(29000), lambda r: (r.trigger_price, r.trigger_kind)
                   == (Decimal(29000), "trigger")),
    "take_profit_price": (Decimal(33000), lambda r: (r.trigger_price, r.trigger_kind)
                          == (Decimal(33000), "take_profit")),
    "params": ({"stopLossPrice": "28000"}, lambda r: (r.trigger_price, r.trigger_kind)
               == (Decimal(28000), "stop_loss")),
}  # fmt: skip


def row(**fields: Any) -> dict[str, Any]:
    base = {"symbol": "BTC/USDT", "side": "buy", "order_type": "limit", "qty": Decimal("0.1"),
            "price": Decimal(30000), "client_order_id": "o1", "params": {}, "post_only": False,
            "time_in_force": None, "trigger_price": None, "stop_price": None,
            "take_profit_price": None}
    return {**base, **fields}


def paper_request(r: dict[str, Any]) -> OrderRequest:
    """What the paper venue makes of an order row: the worker's own call arguments."""
    return order_request(r["symbol"], r["order_type"], r["side"], r["qty"], r["price"],
                         venue_params(r))  # type: ignore[arg-type]


def test_every_field_of_every_command_has_a_use() -> None:
    assert set(FIELD_USE) == set(PAYLOAD_MODELS)
    for command, model in PAYLOAD_MODELS.items():
        assert set(model.model_fields) == set(FIELD_USE[command]), command


def test_every_venue_field_of_an_order_reaches_the_paper_venue() -> None:
    venue_fields = {f for f, use in FIELD_USE["send_order"].items() if use is Use.VENUE}
    assert venue_fields == set(SAMPLES)
    for name, (value, shows) in SAMPLES.items():
        request = paper_request(row(**{name: value}))
        assert shows(request), (name, request)
        check_honoured(OrderAsk(
            "limit", post_only=name == "post_only",
            time_in_force=value if name == "time_in_force" else None,
            trigger_price=name == "trigger_price", stop_price=name == "stop_price",
            take_profit_price=name == "take_profit_price",
            params=frozenset(value) if name == "params" else frozenset()), PAPER)


def test_close_position_venue_fields_are_fields_of_send_order() -> None:
    """A close is placed by the same venue call: its venue fields are a subset of a send's."""
    close = {f for f, use in FIELD_USE["close_position"].items() if use is Use.VENUE}
    assert close <= {f for f, use in FIELD_USE["send_order"].items() if use is Use.VENUE}


def test_venue_fields_go_to_ccxt_under_its_unified_names() -> None:
    r = row(post_only=True, time_in_force="GTC", trigger_price=Decimal(1),
            stop_price=Decimal(2), take_profit_price=Decimal(3))
    assert set(venue_params(r)) == {"clientOrderId", "postOnly", "timeInForce", "triggerPrice",
                                    "stopPrice", "takeProfitPrice"}
    # a hedge account's order also carries the venue position side it opens or closes
    assert venue_params(r, "short")[GATEWAY_POSITION_SIDE] == "short"


@pytest.mark.parametrize(("exchange_id", "symbol"), [("paper", "BTC/USDT"), *CCXT_VENUES])
@pytest.mark.parametrize("name", [f for f, u in FIELD_USE["send_order"].items()
                                  if u is Use.HELD])
def test_held_fields_are_executed_by_the_venue_or_held_by_the_gateway(
    exchange_id: str, symbol: str, name: str
) -> None:
    """Each is honoured on every venue (by it, or by the gateway holding the order), and
    refused where neither can (an order type the venue does not execute)."""
    base = {"symbol": symbol, "side": "sell", "qty": "1", "reduce_only": True,
            "trailing_amount": "1"}
    sample = {"trailing_amount": "1", "trailing_percent": "1", "trailing_trigger_price": "1",
              "trigger_price_type": "last", "expire_at": 4102444800000}[name]
    extra = {"time_in_force": "GTD"} if name == "expire_at" else {}
    if name == "trailing_percent":
        base.pop("trailing_amount")
    payload = SendOrder.model_validate({**base, **extra, name: sample})
    assert check_venue_executes(exchange_id, symbol, payload) in (Emulation.VENUE,
                                                                    Emulation.GATEWAY)
    if exchange_id == "paper":
        assert check_venue_executes(exchange_id, symbol, payload) is Emulation.GATEWAY
        refused = SendOrder.model_validate({**base, **extra, name: sample,
                                            "order_type": "stop_market"})
        with pytest.raises(NotSupported) as caught:
            check_venue_executes(exchange_id, symbol, refused)
        assert caught.value.details["field"] == "order_type"


def test_a_mark_price_trigger_is_held_where_the_venue_shows_a_mark_price() -> None:
    def ask(symbol: str) -> SendOrder:
        return SendOrder.model_validate({"symbol": symbol, "side": "sell", "qty": "1",
                                         "trailing_amount": "1", "trigger_price_type": "mark",
                                         "emulation": "gateway"})

    assert check_venue_executes("paper", "BTC/USDT", ask("BTC/USDT")) is Emulation.GATEWAY
    assert check_venue_executes("ccxt.binanceusdm", "BTC/USDT:USDT",
                                ask("BTC/USDT:USDT")) is Emulation.GATEWAY
    with pytest.raises(NotSupported) as caught:  # a spot ticker has no mark price
        check_venue_executes("ccxt.binance", "BTC/USDT", ask("BTC/USDT"))
    assert caught.value.details["field"] == "trigger_price_type"


def test_no_field_is_refused_outright_any_more() -> None:
    assert [f for f, u in FIELD_USE["send_order"].items() if u is Use.REFUSED] == []


def test_a_venue_with_trailing_stops_executes_them_itself() -> None:
    venue = OrderFeatures("x", None, frozenset({"GTC"}), True, True, None, {}, trailing=True)
    assert check_honoured(OrderAsk("market", trailing_percent=True), venue) is Emulation.VENUE
    assert check_honoured(OrderAsk("market", trailing_percent=True,
                                   emulation=Emulation.GATEWAY), venue) is Emulation.GATEWAY
    assert check_honoured(OrderAsk("market", trailing_percent=True), PAPER) is Emulation.GATEWAY
    with pytest.raises(NotSupported):
        check_honoured(OrderAsk("market", trailing_percent=True, emulation=Emulation.VENUE),
                       PAPER)


def test_trailing_stops_go_to_a_venue_that_executes_them_under_ccxt_names() -> None:
    r = row(trailing_amount=Decimal(5), trailing_trigger_price=Decimal(100),
            trigger_price_type="mark")
    assert {k: venue_params(r)[k] for k in ("trailingAmount", "trailingTriggerPrice",
                                            "triggerPriceType")} == {
        "trailingAmount": Decimal(5), "trailingTriggerPrice": Decimal(100),
        "triggerPriceType": "mark"}


def test_every_driver_order_parameter_lands_on_a_field_with_a_use() -> None:
    for ccxt_name, field in ORDER_FIELDS.items():
        assert field in FIELD_USE["send_order"], ccxt_name
    # CCXT's spelling of a venue or refused field means that field on /ccxt too
    for ccxt_name, field in ORDER_FIELDS.items():
        if ccxt_name != field and FIELD_USE["send_order"][field] is not Use.BOOKS:
            assert FIELD_PARAMS.get(ccxt_name) == field, ccxt_name


@pytest.mark.parametrize(("exchange_id", "symbol"), [("paper", "BTC/USDT"), *CCXT_VENUES])
@pytest.mark.parametrize("key", sorted({*FIELD_PARAMS, *UNBOOKED_PARAMS, "strategy_id"}))
def test_params_that_bypass_a_field_or_the_books_are_refused(exchange_id: str, symbol: str,
                                                             key: str) -> None:
    payload = SendOrder.model_validate({"symbol": symbol, "side": "buy", "qty": "1",
                                        "params": {key: "1"}})
    with pytest.raises(NotSupported) as caught:
        check_venue_executes(exchange_id, symbol, payload)
    assert caught.value.details["field"] == f"params.{key}"


def test_the_paper_venue_refuses_params_it_does_not_read() -> None:
    payload = SendOrder.model_validate({"symbol": "BTC/USDT", "side": "buy", "qty": "1",
                                        "params": {"icebergAmount": "1"}})
    with pytest.raises(NotSupported, match=r"does not read params\.icebergAmount"):
        check_venue_executes("paper", "BTC/USDT", payload)


def test_a_ccxt_exchange_takes_the_params_it_describes_and_passes_unknown_ones() -> None:
    binance_spot = order_features("ccxt.binance", "BTC/USDT")
    assert binance_spot is not None
    check_honoured(OrderAsk("limit", params=frozenset({"icebergAmount", "newOrderRespType"})),
                   binance_spot)
    with pytest.raises(NotSupported, match="hedged false"):
        check_honoured(OrderAsk("limit", params=frozenset({"hedged"})), binance_spot)
    swap = order_features("ccxt.binance", "BTC/USDT:USDT")
    assert swap is not None
    assert swap.venue == "binance swap linear"
    check_honoured(OrderAsk("limit", params=frozenset({"hedged"})), swap)


def test_time_in_force_the_exchange_lacks_is_refused() -> None:
    binance_spot = order_features("ccxt.binance", "BTC/USDT")
    assert binance_spot is not None
    assert "GTD" not in binance_spot.time_in_force  # CCXT: GTD false on binance spot
    venue = OrderFeatures("x", None, frozenset({"GTC", "IOC"}), True, True, None, {})
    with pytest.raises(NotSupported) as caught:
        check_honoured(OrderAsk("limit", time_in_force="FOK"), venue)
    assert caught.value.details == {"field": "time_in_force", "venue": "x"}
    with pytest.raises(NotSupported) as caught:
        check_honoured(OrderAsk("limit", post_only=True), venue)
    assert caught.value.details["field"] == "post_only"


def test_a_venue_without_triggers_gets_them_held_by_the_gateway() -> None:
    venue = OrderFeatures("x", None, frozenset({"GTC"}), False, False, None, {})
    for name in ("trigger_price", "stop_price", "take_profit_price"):
        assert check_honoured(OrderAsk("limit", **{name: True}), venue) is Emulation.GATEWAY
        with pytest.raises(NotSupported) as caught:
            check_honoured(OrderAsk("limit", emulation=Emulation.VENUE, **{name: True}), venue)
        assert caught.value.details["field"] == name
        with pytest.raises(NotSupported) as caught:  # the gateway sends market or limit only
            check_honoured(OrderAsk("stop_limit", **{name: True}), venue)
        assert caught.value.details["field"] == "order_type"


@pytest.mark.parametrize("fields", [("trigger_price", "stop_price"),
                                    ("trigger_price", "take_profit_price"),
                                    ("stop_price", "take_profit_price")])
def test_two_triggers_on_one_order_are_a_conflict(fields: tuple[str, str]) -> None:
    with pytest.raises(OrderFieldConflict) as caught:
        check_honoured(OrderAsk("limit", **dict.fromkeys(fields, True)), PAPER)
    assert caught.value.code == "validation_error"
    assert caught.value.details["field"] == fields[1]
    with pytest.raises(OrderFieldConflict):
        check_honoured(OrderAsk("limit", **{fields[0]: True},
                                params=frozenset({"stopLossPrice"})), PAPER)


@pytest.mark.parametrize("order_type", ["stop", "stop_market", "trailing_stop_market", "oco"])
def test_the_paper_venue_refuses_order_types_it_does_not_execute(order_type: str) -> None:
    with pytest.raises(NotSupported) as caught:
        check_honoured(OrderAsk(order_type), PAPER)
    assert caught.value.details == {"field": "order_type", "venue": "paper"}
    binance = order_features("ccxt.binance", "BTC/USDT")
    assert binance is not None
    check_honoured(OrderAsk(order_type), binance)  # CCXT passes an exchange's own types on


def test_a_command_field_given_as_a_param_is_refused() -> None:
    payload = SendOrder.model_validate({"symbol": "BTC/USDT", "side": "buy", "qty": "1",
                                        "params": {"strategy_id": 3}})
    for exchange_id in ("paper", "ccxt.binance"):
        with pytest.raises(NotSupported, match="field of the command"):
            check_venue_executes(exchange_id, "BTC/USDT", payload)


def test_unified_params_are_checked_against_ccxt_features() -> None:
    assert set(UNIFIED_PARAMS).isdisjoint(FIELD_PARAMS)
    assert set(UNIFIED_PARAMS).isdisjoint(UNBOOKED_PARAMS)


def test_a_close_is_checked_as_a_send() -> None:
    close = ClosePosition.model_validate({"position_id": 1, "order_type": "limit",
                                          "price": "1", "params": {"reduceOnly": True}})
    with pytest.raises(NotSupported) as caught:
        check_venue_executes("paper", "BTC/USDT", close)
    assert caught.value.details["field"] == "params.reduceOnly"
    close = ClosePosition.model_validate({"position_id": 1, "time_in_force": "FOK"})
    check_venue_executes("paper", "BTC/USDT", close)


@pytest.mark.parametrize(("exchange_id", "symbol"), [("paper", "BTC/USDT"), *CCXT_VENUES])
def test_group_fields_are_held_by_the_gateway_on_every_venue(exchange_id: str, symbol: str
                                                             ) -> None:
    """Each member a group creates is checked as a held order; an OCO's first leg is held
    too; a group the venue would have to execute itself (`emulation: venue`) is refused, but
    an OCO where the venue has one of its own (Binance spot)."""
    assert [f for f, u in FIELD_USE["send_order"].items() if u is Use.GROUP] == [
        "bracket_stop_loss", "bracket_take_profit", "bracket_time_limit", "oco_orders",
        "oto_orders"]
    bracket = {"symbol": symbol, "side": "buy", "qty": "1", "order_type": "limit",
               "price": "100", "bracket_stop_loss": {"trigger_price": "90"},
               "bracket_take_profit": {"trigger_price": "110", "price": "109"}}
    assert check_group(SendOrder.model_validate(bracket), exchange_id) == [
        {"role": "stop_loss", "order_type": "market", "price": None, "stop_price": "90",
         "take_profit_price": None},
        {"role": "take_profit", "order_type": "limit", "price": "109", "stop_price": None,
         "take_profit_price": "110"}]
    # a time limit alone is a bracket too: its exit is a market order the clock fires
    timed = {"symbol": symbol, "side": "sell", "qty": "1", "bracket_time_limit": 90}
    assert check_group(SendOrder.model_validate(timed), exchange_id) == [
        {"role": "time_limit", "order_type": "market", "after_seconds": 90}]
    oco = {"symbol": symbol, "side": "sell", "qty": "1", "stop_price": "90",
           "oco_orders": [{"order_type": "limit", "price": "110", "take_profit_price": "110"}]}
    payload = SendOrder.model_validate(oco)
    assert [s["role"] for s in check_group(payload, exchange_id)] == ["leg1"]
    assert check_venue_executes(exchange_id, symbol, payload) is Emulation.GATEWAY
    oto = {"symbol": symbol, "side": "buy", "qty": "1", "oto_orders": [
        {"order_type": "limit", "price": "110"}, {"side": "buy", "stop_price": "120"}]}
    assert check_group(SendOrder.model_validate(oto), exchange_id) == [
        {"role": "child1", "side": "sell", "order_type": "limit", "price": "110",
         "stop_price": None, "take_profit_price": None},
        {"role": "child2", "side": "buy", "order_type": "market", "price": None,
         "stop_price": "120", "take_profit_price": None}]
    for fields in (bracket, oco, oto):
        asked = SendOrder.model_validate({**fields, "emulation": "venue"})
        venue = order_features(exchange_id, symbol)
        if fields is oco and venue is not None and venue.oco:  # Binance spot's own OCO
            assert [s["role"] for s in check_group(asked, exchange_id)] == ["leg1"]
            continue
        with pytest.raises(NotSupported) as caught:
            check_group(asked, exchange_id)
        assert caught.value.details["field"] == "emulation"


@pytest.mark.parametrize(("fields", "field"), [
    ({"oco_orders": [{"stop_price": "90"}]}, "oco_orders"),
    ({"stop_price": "90", "oco_orders": [{"stop_price": "80"}],
      "bracket_stop_loss": {"trigger_price": "80"}}, "oco_orders"),
    ({"oto_orders": [{"stop_price": "80"}], "bracket_stop_loss": {"trigger_price": "80"}},
     "oto_orders"),
    ({"bracket_stop_loss": {"trigger_price": "90"}, "reduce_only": True}, "reduce_only"),
    ({"bracket_stop_loss": {"trigger_price": "110"}, "price": "100", "order_type": "limit"},
     "bracket_stop_loss"),
    ({"bracket_take_profit": {"trigger_price": "90"}, "price": "100", "order_type": "limit"},
     "bracket_take_profit"),
    ({"bracket_stop_loss": {"trigger_price": "90"}, "bracket_take_profit": {"trigger_price": "80"}},
     "bracket_stop_loss"),
])  # fmt: skip
def test_a_group_the_gateway_would_not_hold_as_asked_is_a_conflict(fields: dict[str, Any],
                                                                    field: str) -> None:
    payload = SendOrder.model_validate({"symbol": "BTC/USDT", "side": "buy", "qty": "1",
                                        **fields})
    with pytest.raises(OrderFieldConflict) as caught:
        check_group(payload, "paper")
    assert caught.value.details["field"] == field


def test_an_oco_leg_has_one_trigger_and_a_price_only_when_limit() -> None:
    for leg in ({"stop_price": "1", "take_profit_price": "2"}, {},
                {"order_type": "limit", "stop_price": "1"}, {"price": "1", "stop_price": "1"}):
        with pytest.raises(ValueError, match=r"OCO leg|limit leg"):
            OcoLeg.model_validate(leg)


#: where a stop goes by default: the venue only where the gateway follows the venue's
#: conditional orders as it follows its orders (Binance spot lists them with its orders)
STOP_EXECUTOR = {
    ("ccxt.binance", "BTC/USDT"): Emulation.VENUE,
    ("ccxt.binanceusdm", "BTC/USDT:USDT"): Emulation.GATEWAY,  # the Algo Order API
    ("ccxtpro.binance", "BTC/USDT:USDT"): Emulation.GATEWAY,
    ("ccxt.bybit", "BTC/USDT:USDT"): Emulation.GATEWAY,  # conditional orders apart
    ("ccxt.okx", "BTC/USDT:USDT"): Emulation.GATEWAY,  # algo orders
    ("ccxt.okx", "BTC/USDT"): Emulation.GATEWAY,
    ("ccxt.kraken", "BTC/USD"): Emulation.GATEWAY,  # CCXT: triggerPrice false
}


@pytest.mark.parametrize(("exchange_id", "symbol"), CCXT_VENUES)
@pytest.mark.parametrize("field", ["stop_price", "take_profit_price", "trailing_percent"])
def test_conditional_orders_kept_apart_by_the_exchange_are_held_by_the_gateway(
    exchange_id: str, symbol: str, field: str
) -> None:
    base = {"symbol": symbol, "side": "sell", "qty": "1", field: "1"}
    payload = SendOrder.model_validate(base)
    venue = order_features(exchange_id, symbol)
    assert venue is not None
    executor = check_venue_executes(exchange_id, symbol, payload)
    if field == "stop_price":
        assert executor is STOP_EXECUTOR[(exchange_id, symbol)]
    if venue.conditional_apart is None:
        return
    assert executor is Emulation.GATEWAY
    with pytest.raises(NotSupported) as caught:
        check_venue_executes(exchange_id, symbol,
                             SendOrder.model_validate({**base, "emulation": "venue"}))
    assert caught.value.details["field"] == field
    assert "keeps conditional orders apart from its orders" in caught.value.message
    assert "emulation venue was asked" in caught.value.message


@pytest.mark.parametrize(("exchange_id", "symbol", "key"), [
    ("ccxt.binanceusdm", "BTC/USDT:USDT", "stopLossPrice"),
    ("ccxt.binanceusdm", "BTC/USDT:USDT", "callbackRate"),
    ("ccxtpro.binance", "BTC/USDT:USDT", "activationPrice"),
    ("ccxt.okx", "BTC/USDT:USDT", "slTriggerPx"),
    ("ccxt.okx", "BTC/USDT", "tpTriggerPx"),
    ("ccxt.okx", "BTC/USDT:USDT", "callbackRatio"),
    ("ccxt.bybit", "BTC/USDT:USDT", "trailingStop"),
    ("ccxt.bybit", "BTC/USDT:USDT", "triggerDirection"),
    ("ccxt.gate", "BTC/USDT:USDT", "stopLossPrice"),  # CCXT's features: fetchOpenOrders trigger
    ("ccxt.okx", "BTC/USDT:USDT", "attachAlgoOrds"),  # an attached TP/SL
    ("ccxt.myokx", "BTC/USDT", "slTriggerPx"),  # an okx by its class
    ("ccxt.bybit", "BTC/USDT:USDT", "tpslMode"),
    ("ccxt.htx", "BTC/USDT:USDT", "sl_trigger_price"),  # a word of a trigger, any exchange
    ("ccxt.bitget", "BTC/USDT:USDT", "planType"),
])  # fmt: skip
def test_an_exchange_spelling_of_a_trigger_it_keeps_apart_is_refused(
    exchange_id: str, symbol: str, key: str
) -> None:
    payload = SendOrder.model_validate({"symbol": symbol, "side": "buy", "qty": "1",
                                        "params": {key: "1"}})
    with pytest.raises(NotSupported) as caught:
        check_venue_executes(exchange_id, symbol, payload)
    assert caught.value.details["field"] == f"params.{key}"
    assert "keeps conditional orders apart" in caught.value.message


def test_binance_spot_takes_its_own_stop_loss_param() -> None:
    """Binance spot lists its stop orders with its orders: the gateway follows them there."""
    venue = order_features("ccxt.binance", "BTC/USDT")
    assert venue is not None
    assert venue.conditional_apart is None
    payload = SendOrder.model_validate({"symbol": "BTC/USDT", "side": "sell", "qty": "1",
                                        "params": {"stopLossPrice": "1"}})
    assert check_venue_executes("ccxt.binance", "BTC/USDT", payload) is Emulation.VENUE


@pytest.mark.parametrize("order_type", ["iceberg", "twap", "conditional", "oco",
                                        "move_order_stop", "trigger"])
def test_okx_algo_order_types_are_refused(order_type: str) -> None:
    """CCXT's okx sends these to `trade/order-algo`, apart from the orders."""
    payload = SendOrder.model_validate({"symbol": "BTC/USDT:USDT", "side": "buy", "qty": "1",
                                        "order_type": order_type})
    with pytest.raises(NotSupported) as caught:
        check_venue_executes("ccxt.okx", "BTC/USDT:USDT", payload)
    assert caught.value.details["field"] == "order_type"
    assert "keeps conditional orders apart" in caught.value.message


@pytest.mark.parametrize(("exchange_id", "held"), [
    ("ccxt.binanceusdm", True),  # CCXT's fetch_mark_price (premiumIndex)
    ("ccxt.okx", True),  # CCXT's fetch_mark_price (public/mark-price)
    ("ccxt.bybit", True),  # its ticker carries markPrice
    ("ccxt.gate", False),  # neither, as CCXT describes it: it would never fire
])  # fmt: skip
def test_a_held_mark_price_trigger_needs_a_mark_price_to_read(exchange_id: str,
                                                              held: bool) -> None:
    payload = SendOrder.model_validate({"symbol": "BTC/USDT:USDT", "side": "sell", "qty": "1",
                                        "stop_price": "1", "trigger_price_type": "mark"})
    if held:
        assert check_venue_executes(exchange_id, "BTC/USDT:USDT", payload) is Emulation.GATEWAY
        return
    with pytest.raises(NotSupported) as caught:
        check_venue_executes(exchange_id, "BTC/USDT:USDT", payload)
    assert caught.value.details["field"] == "trigger_price_type"


def test_a_ccxt_market_without_a_described_create_order_holds_its_conditional_orders() -> None:
    """CCXT's myokx describes no swap `createOrder`: where its conditional orders live is
    unknown, so the gateway holds them; plain orders go on unchecked, as CCXT passes them."""
    venue = order_features("ccxt.myokx", "BTC/USDT:USDT")
    assert venue is not None
    assert venue.conditional_apart is not None
    stop = SendOrder.model_validate({"symbol": "BTC/USDT:USDT", "side": "sell", "qty": "1",
                                     "stop_price": "1"})
    assert check_venue_executes("ccxt.myokx", "BTC/USDT:USDT", stop) is Emulation.GATEWAY
    plain = SendOrder.model_validate({"symbol": "BTC/USDT:USDT", "side": "sell", "qty": "1",
                                      "params": {"tdMode": "cross"}})
    assert check_venue_executes("ccxt.myokx", "BTC/USDT:USDT", plain) is Emulation.VENUE
    assert order_features("ccxt.nosuchexchange", "BTC/USDT") is None


@pytest.mark.parametrize(("exchange_id", "symbol"), [("paper", "BTC/USDT"), *CCXT_VENUES])
def test_a_plain_good_till_date_limit_rests_on_the_venue_and_the_gateway_keeps_its_date(
    exchange_id: str, symbol: str
) -> None:
    """Accepted on every venue (CCXT has no unified expiry to pass on): the venue works it as
    good-till-cancelled; a market order does not rest, so a date on it is refused."""
    gtd = {"symbol": symbol, "side": "buy", "order_type": "limit", "qty": "1", "price": "100",
           "time_in_force": "GTD",
           "expire_at": 4102444800000}
    assert check_venue_executes(exchange_id, symbol, SendOrder.model_validate(gtd)) \
        is Emulation.VENUE
    market = SendOrder.model_validate({**gtd, "order_type": "market", "price": None})
    with pytest.raises(OrderFieldConflict) as caught:
        check_venue_executes(exchange_id, symbol, market)
    assert caught.value.details["field"] == "time_in_force"


def test_a_conditional_order_with_a_date_is_held_even_where_the_venue_takes_its_trigger() -> None:
    binance_spot = order_features("ccxt.binance", "BTC/USDT")
    assert binance_spot is not None
    assert binance_spot.trigger_price
    assert check_honoured(OrderAsk("limit", stop_price=True), binance_spot) is Emulation.VENUE
    assert check_honoured(OrderAsk("limit", "GTD", stop_price=True), binance_spot) \
        is Emulation.GATEWAY
    with pytest.raises(NotSupported) as caught:
        check_honoured(OrderAsk("limit", "GTD", stop_price=True, emulation=Emulation.VENUE),
                       binance_spot)
    assert caught.value.details["field"] == "time_in_force"


def test_a_good_till_date_goes_to_the_venue_without_its_time_in_force() -> None:
    assert "timeInForce" not in venue_params(row(time_in_force="GTD"))
    assert venue_params(row(time_in_force="GTC"))["timeInForce"] == "GTC"
