"""CCXT arguments and params of paper calls go through the one strict decimal parser: what the
API refuses in a payload (`1_0`, full-width digits, padding, more than 18 decimals) a paper
call refuses too, as CCXT's InvalidOrder; plain strings, ints, Decimals and floats pass."""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest

from apps.paper.exchange.requests import decimal_arg, order_request


@pytest.mark.parametrize("value", ["1_0", "\uff11", " 1 ", "1.0000000000000000000", "nan",
                                   float("inf"), "1e30", True, [1]])  # fmt: skip
def test_lenient_numbers_are_refused(value: object) -> None:
    with pytest.raises(ccxt.InvalidOrder):
        decimal_arg(value, "price")


@pytest.mark.parametrize(("value", "want"), [("50000.5", "50000.5"), (3, "3"), (0.01, "0.01"),
                                             (Decimal("1e-3"), "0.001"), (None, None)])  # fmt: skip
def test_plain_numbers_pass_exactly(value: object, want: str | None) -> None:
    got = decimal_arg(value, "price")
    assert got == (None if want is None else Decimal(want))


def test_a_trigger_param_is_read_strictly() -> None:
    with pytest.raises(ccxt.InvalidOrder):
        order_request("BTC/USDT:USDT", "market", "buy", "0.01", None, {"stopPrice": "1_0"})
    ok = order_request("BTC/USDT:USDT", "market", "buy", "0.01", None, {"stopPrice": "49000"})
    assert ok.trigger_price == Decimal(49000)
