"""The acceptance-only pre-trade controls of issue 53 (`domain/controls.py`), pure: the price
collar at its edges on both sides, the duplicate window, the maximum of open orders, the
command-rate window, and the limit and value every refusal carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.oms.domain.controls import (
    ControlIntent,
    ControlScope,
    RecentOrder,
    check_controls,
    collar_bps,
    duplicate_window,
    rate_window,
    refusals,
)
from apps.oms.domain.enums import Side
from apps.oms.domain.errors import RiskBlocked
from apps.oms.domain.risk import OrderIntent, RiskLimits, RiskScope, check_order

D = Decimal
NOW = datetime(2026, 11, 27, 8, 0, 30, tzinfo=UTC)
HUNDRED = D(100)


def _found(intent: ControlIntent, *scopes: ControlScope, ref: Decimal | None = HUNDRED,
           recent: tuple[RecentOrder, ...] = ()) -> list[tuple[str, str, dict[str, str]]]:
    return [(r.rule, r.scope, r.details)
            for r in refusals(intent, scopes, reference_price=ref, recent=recent, now=NOW)]


def test_books_price_collar_edges_on_both_sides() -> None:
    scope = ControlScope("account", RiskLimits(price_collar_bps=100))
    buy = ControlIntent("BTC/USDT", Side.BUY, D(1), D(101))
    assert _found(buy, scope) == []  # exactly 100 bps through: allowed
    [(rule, name, details)] = _found(ControlIntent("BTC/USDT", Side.BUY, D(1), D("101.01")), scope)
    assert (rule, name, details["limit"], details["value"]) == ("price_collar", "account", "100",
                                                                "101")
    assert details["reference_price"] == "100"
    assert _found(ControlIntent("BTC/USDT", Side.SELL, D(1), D(99)), scope) == []
    assert _found(ControlIntent("BTC/USDT", Side.SELL, D(1), D("98.99")), scope)[0][0] == (
        "price_collar")
    assert _found(ControlIntent("BTC/USDT", Side.BUY, D(1), D(1)), scope) == []  # not through
    assert _found(ControlIntent("BTC/USDT", Side.BUY, D(1), None), scope) == []  # market
    assert _found(buy, scope, ref=None)[0][:2] == ("no_reference_price", "account")


def test_books_a_symbols_collar_wins_over_the_default() -> None:
    limits = RiskLimits(price_collar_bps=500, price_collar_symbols=(("ETH/USDT", 10),))
    assert collar_bps(limits, "ETH/USDT") == 10
    assert collar_bps(limits, "BTC/USDT") == 500
    assert collar_bps(RiskLimits(), "BTC/USDT") is None
    zero = ControlScope("key", RiskLimits(price_collar_bps=0))
    assert _found(ControlIntent("X", Side.BUY, D(1), D("100.000001")), zero)[0][:2] == (
        "price_collar", "key")


def test_books_duplicate_window() -> None:
    scope = ControlScope("key", RiskLimits(duplicate_window_ms=500))
    intent = ControlIntent("BTC/USDT", Side.BUY, D(1), D(100))
    at = NOW - timedelta(milliseconds=499)
    same = RecentOrder("BTC/USDT", Side.BUY, D("1.000"), D("100.0"), at)
    [(rule, _, details)] = _found(intent, scope, recent=(same,))
    assert (rule, details) == ("duplicate_order", {"limit": "500", "value": "499"})
    edge = RecentOrder("BTC/USDT", Side.BUY, D(1), D(100), NOW - timedelta(milliseconds=500))
    assert _found(intent, scope, recent=(edge,)) == []
    for other in (RecentOrder("BTC/USDT", Side.SELL, D(1), D(100), at),
                  RecentOrder("BTC/USDT", Side.BUY, D(2), D(100), at),
                  RecentOrder("BTC/USDT", Side.BUY, D(1), None, at),
                  RecentOrder("ETH/USDT", Side.BUY, D(1), D(100), at)):
        assert _found(intent, scope, recent=(other,)) == []
    assert duplicate_window([scope, ControlScope("account", RiskLimits(duplicate_window_ms=9))]
                            ) == 500
    assert duplicate_window([ControlScope("account", RiskLimits())]) is None


def test_books_max_open_orders_and_reduce_only() -> None:
    full = ControlScope("strategy", RiskLimits(max_open_orders=2), open_orders=2)
    intent = ControlIntent("BTC/USDT", Side.BUY, D(1), None)
    assert _found(intent, full) == [("max_open_orders", "strategy",
                                     {"limit": "2", "value": "2"})]
    assert _found(intent, ControlScope("strategy", RiskLimits(max_open_orders=2),
                                       open_orders=1)) == []
    closing = ControlIntent("BTC/USDT", Side.SELL, D(1), None, reduce_only=True)
    assert _found(closing, full) == []


def test_books_controls_raise_the_first_refusal_scope_by_scope() -> None:
    account = ControlScope("account", RiskLimits(max_open_orders=0))
    key = ControlScope("key", RiskLimits(price_collar_bps=1))
    intent = ControlIntent("BTC/USDT", Side.BUY, D(1), D(200))
    with pytest.raises(RiskBlocked) as refused:
        check_controls(intent, [account, key], reference_price=D(100), recent=(), now=NOW)
    assert (refused.value.rule, refused.value.scope) == ("max_open_orders", "account")
    assert "0 against the limit 0" in refused.value.message


def test_books_order_rules_carry_their_limit_and_value() -> None:
    scope = RiskScope("key", RiskLimits(max_order_qty=D("0.5"), max_order_notional=D(10)))
    with pytest.raises(RiskBlocked) as refused:
        check_order(OrderIntent("BTC/USDT", Side.BUY, D("0.60")), [scope])
    assert refused.value.details == {"rule": "max_order_qty", "scope": "key", "limit": "0.5",
                                     "value": "0.6"}
    with pytest.raises(RiskBlocked) as refused:
        check_order(OrderIntent("BTC/USDT", Side.BUY, D("0.5"), price=D(30)), [scope])
    assert (refused.value.details["limit"], refused.value.details["value"]) == ("10", "15")


def test_books_rate_window_is_the_utc_minute() -> None:
    assert rate_window(NOW) == (NOW.replace(second=0), 30)
    assert rate_window(NOW.replace(second=59, microsecond=1))[1] == 1
    assert rate_window(NOW.replace(second=0, microsecond=0))[1] == 60
    assert rate_window(NOW.replace(second=0, microsecond=1))[1] == 60
