"""The pure parts of the signal intake: TP/SL prices from percentages (Decimal, to the tick),
order size from a notional, the timestamp window, the HMAC signature, the wire model."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.oms.domain.enums import Side
from apps.oms.domain.errors import InvalidQty
from apps.oms.domain.signals import (
    SignalRefused,
    freshness,
    qty_from_notional,
    targets_from_pct,
)
from apps.oms.domain.targets import validate_targets
from apps.oms.errors import ValidationFailed
from apps.oms.security.signatures import sign, verify
from apps.oms.service.signal_models import parse_signal

D = Decimal
SECRET = "s" * 40


def test_long_targets_above_and_below_the_reference() -> None:
    t = targets_from_pct(Side.BUY, D("50000"), D("2"), D("1"), D("0.1"))
    assert t.stop_gain == D("51000.0")
    assert t.stop_loss == D("49500.0")


def test_short_targets_mirror() -> None:
    t = targets_from_pct(Side.SELL, D("2000"), D("3"), D("1.5"), D("0.01"))
    assert t.stop_gain == D("1940.00")
    assert t.stop_loss == D("2030.00")


def test_targets_round_half_even_to_the_tick() -> None:
    # 100.05 × 1.015 = 101.55075 -> 101.55 (tick 0.05); 100.05 × 0.99 = 99.0495 -> 99.05
    t = targets_from_pct(Side.BUY, D("100.05"), D("1.5"), D("1"), D("0.05"))
    assert t.stop_gain == D("101.55")
    assert t.stop_loss == D("99.05")


def test_targets_without_tick_keep_18_decimals() -> None:
    t = targets_from_pct(Side.BUY, D("0.00001234"), D("1"), None)
    assert t.stop_gain == D("0.0000124634")
    assert t.stop_loss is None


def test_only_one_target() -> None:
    t = targets_from_pct(Side.SELL, D("100"), None, D("5"))
    assert t.stop_gain is None
    assert t.stop_loss == D("105")


@pytest.mark.parametrize(("tp", "sl"), [(D(0), None), (None, D(0)), (None, D(100)),
                                        (D("-1"), None)])
def test_bad_percentages_refused(tp: Decimal | None, sl: Decimal | None) -> None:
    with pytest.raises(SignalRefused):
        targets_from_pct(Side.BUY, D("100"), tp, sl)


@given(
    ref=st.decimals(min_value=D("0.01"), max_value=D("1000000"), places=2),
    tp=st.decimals(min_value=D("0.1"), max_value=D("50"), places=2),
    sl=st.decimals(min_value=D("0.1"), max_value=D("50"), places=2),
    side=st.sampled_from([Side.BUY, Side.SELL]),
)
def test_targets_always_on_the_right_sides(ref: Decimal, tp: Decimal, sl: Decimal,
                                           side: Side) -> None:  # fmt: skip
    t = targets_from_pct(side, ref, tp, sl)
    assert isinstance(t.stop_gain, Decimal)
    assert isinstance(t.stop_loss, Decimal)
    validate_targets(side, t.stop_loss, t.stop_gain, ref)  # raises if on a wrong side


def test_qty_from_notional_rounds_down_to_the_step() -> None:
    assert qty_from_notional(D("1000"), D("50000"), D(1), D("0.0001")) == D("0.0200")
    assert qty_from_notional(D("1000"), D("30000"), D(1), D("0.0001")) == D("0.0333")
    # contracts: 1000 USDT at 3000 with contract size 0.01 = 33.33 -> 33 contracts
    assert qty_from_notional(D("1000"), D("3000"), D("0.01"), D(1)) == D(33)


def test_qty_from_notional_without_step_uses_eight_decimals() -> None:
    assert qty_from_notional(D("100"), D("3"), D(1), None) == D("33.33333333")


@given(notional=st.decimals(min_value=D(1), max_value=D(10**7), places=4),
       price=st.decimals(min_value=D("0.01"), max_value=D(10**6), places=2))
def test_qty_never_exceeds_the_notional(notional: Decimal, price: Decimal) -> None:
    try:
        qty = qty_from_notional(notional, price, D(1), D("0.001"))
    except InvalidQty:
        assert notional / price < D("0.001")
        return
    assert qty * price <= notional
    assert (qty + D("0.001")) * price > notional


def test_notional_below_one_step_refused() -> None:
    with pytest.raises(InvalidQty, match="less than one quantity step"):
        qty_from_notional(D("1"), D("50000"), D(1), D("0.0001"))


def test_freshness_window() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    window = timedelta(seconds=300)
    assert freshness(now, now, window) is None
    assert freshness(now - timedelta(seconds=300), now, window) is None
    assert freshness(now - timedelta(seconds=301), now, window) == "signal_expired"
    assert freshness(now + timedelta(seconds=299), now, window) is None
    assert freshness(now + timedelta(seconds=301), now, window) == "signal_from_future"


def test_signature_is_hmac_sha256_hex_of_the_raw_body() -> None:
    body = b'{"symbol":"BTC/USDT","side":"buy","qty":"0.01"}'
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert sign(SECRET, body) == expected
    assert verify(SECRET, body, expected)
    assert verify(SECRET, body, expected.upper())
    assert verify(SECRET, body, "sha256=" + expected)


@pytest.mark.parametrize("given_sig", ["", "00" * 32, "zz", "é" * 64, "sha256=", "x" * 64])
def test_wrong_signatures_refused(given_sig: str) -> None:
    assert not verify(SECRET, b"{}", given_sig)


def test_signature_binds_body_and_secret() -> None:
    body = b'{"qty":"1"}'
    good = sign(SECRET, body)
    assert not verify(SECRET, b'{"qty":"2"}', good)
    assert not verify("t" * 40, body, good)
    assert not verify(SECRET, body + b" ", good)


def test_signal_model_accepts_the_documented_shapes() -> None:
    s = parse_signal({"symbol": "BTC/USDT", "side": "BUY", "notional": "1000", "tp_pct": 2,
                      "sl_pct": D("1.5"), "signal_id": "tv-1", "timestamp": "2026-11-22T12:00:00Z"})
    assert s.side == "buy"
    assert s.notional == D(1000)
    assert s.tp_pct == D(2)
    assert s.timestamp == datetime(2026, 11, 22, 12, tzinfo=UTC)
    assert parse_signal({"symbol": "X/Y", "side": "sell", "amount": "1",
                         "timestamp": 1795000000}).timestamp == datetime.fromtimestamp(
        1795000000, UTC)
    millis = parse_signal({"symbol": "X/Y", "side": "sell", "qty": "1",
                           "timestamp": "1795000000123"})
    assert millis.timestamp is not None
    assert millis.timestamp.year == 2026
    assert s.stored()["notional"] == "1000"
    assert s.stored()["timestamp"] == "2026-11-22T12:00:00Z"


@pytest.mark.parametrize("body", [
    {"symbol": "BTC/USDT", "side": "buy"},                                   # no size
    {"symbol": "BTC/USDT", "side": "buy", "qty": "1", "notional": "5"},      # both sizes
    {"symbol": "BTC/USDT", "side": "buy", "qty": "1", "order_type": "limit"},  # no price
    {"symbol": "BTC/USDT", "side": "hold", "qty": "1"},
    {"symbol": "BTC/USDT", "side": "buy", "qty": 0.1},                       # a float
    {"symbol": "BTC/USDT", "side": "buy", "qty": "1", "sl_pct": "100"},
    {"symbol": "BTC/USDT", "side": "buy", "qty": "1", "tp_pct": "-2"},
    {"symbol": "BTC/USDT", "side": "buy", "qty": "1", "leverage": 5},        # unknown field
    {"symbol": "BTC/USDT", "side": "buy", "qty": "1", "timestamp": "2026-11-22T12:00:00"},
    {"symbol": "BTC/USDT", "side": "buy", "qty": "1", "timestamp": "yesterday"},
    {"symbol": "BTC/USDT", "side": "buy", "qty": "1", "signal_id": "a b"},
    ["not", "an", "object"],
])  # fmt: skip
def test_bad_signals_are_clear_validation_errors(body: object) -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_signal(body)
    assert info.value.status == 422
    assert info.value.message


def test_order_payload_from_a_market_signal_with_notional_and_targets() -> None:
    from apps.oms.service.signals import order_payload

    signal = parse_signal({"symbol": "ETH/USDT:USDT", "side": "sell", "notional": "1000",
                           "tp_pct": "3", "sl_pct": "1", "reason": "tv short", "strategy_id": 2})
    payload = order_payload(signal, "paper", D("3000"))
    assert payload["qty"] == D("0.333")  # 1000 / 3000 down to the 0.001 step
    assert payload["oms_stop_gain"] == D("2910.00")
    assert payload["oms_stop_loss"] == D("3030.00")
    assert payload["reason"] == "signal"
    assert payload["comment"] == "tv short"
    assert payload["strategy_id"] == 2
    assert "price" not in payload


def test_order_payload_limit_uses_its_own_price_and_needs_a_reference_otherwise() -> None:
    from apps.oms.errors import OmsError
    from apps.oms.service.signals import order_payload

    limit = parse_signal({"symbol": "BTC/USDT", "side": "buy", "order_type": "limit",
                          "price": "40000", "qty": "0.01", "tp_pct": "10"})
    payload = order_payload(limit, "paper", None)
    assert payload["price"] == D(40000)
    assert payload["oms_stop_gain"] == D("44000.0")
    assert "oms_stop_loss" not in payload or payload["oms_stop_loss"] is None
    market = parse_signal({"symbol": "BTC/USDT", "side": "buy", "notional": "100"})
    with pytest.raises(OmsError) as info:
        order_payload(market, "ccxt.binance", None)
    assert info.value.code == "no_reference_price"
    plain = parse_signal({"symbol": "BTC/USDT", "side": "buy", "qty": "0.01"})
    assert order_payload(plain, "ccxt.binance", None)["qty"] == D("0.01")


def test_a_market_signal_with_a_price_is_refused_not_dropped() -> None:
    from apps.oms.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="a market signal takes none"):
        parse_signal({"symbol": "BTC/USDT", "side": "buy", "qty": "1", "price": "50000"})
    parse_signal({"symbol": "BTC/USDT", "side": "buy", "qty": "1", "price": "50000",
                  "order_type": "limit"})
