"""Gross and net exposure across a user's accounts (`domain/exposure.py`): the limits at their
edges, an order that brings the net back towards zero, and a property test against a plain
model of the two limits over random sequences of orders."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.oms.domain.enums import Side
from apps.oms.domain.errors import RiskBlocked
from apps.oms.domain.exposure import (
    Exposure,
    ExposureLimits,
    Holding,
    check_change,
    check_exposure,
    exposure_of,
    notional,
)

D = Decimal
HELD = exposure_of([Holding("BTC/USDT", Side.BUY, D(600)), Holding("ETH/USDT", Side.SELL, D(300)),
                    Holding("BTC/USDT", Side.SELL, D(100))])  # fmt: skip


def refused(limits: ExposureLimits, exposure: Exposure, symbol: str, side: Side, amount: str
            ) -> dict[str, str] | None:  # fmt: skip
    try:
        check_exposure(limits, exposure, symbol, side, D(amount))
    except RiskBlocked as exc:
        return dict(exc.details)
    return None


def test_books_exposure_sums_gross_and_nets_per_symbol() -> None:
    assert HELD.gross == D(1000)
    assert dict(HELD.net) == {"BTC/USDT": D(500), "ETH/USDT": D(-300)}
    assert notional(D("-2"), D("10.5"), D("0.1")) == D("2.1")


def test_books_the_gross_limit_at_its_edge() -> None:
    limits = ExposureLimits(max_gross=D(1500))
    assert refused(limits, HELD, "SOL/USDT", Side.BUY, "500") is None  # exactly the limit
    assert refused(limits, HELD, "SOL/USDT", Side.BUY, "500.000001") == {
        "rule": "gross_exposure", "scope": "user", "limit": "1500", "value": "1500.000001",
        "symbol": "SOL/USDT"}  # fmt: skip
    # gross counts every order, whichever way it moves a symbol's net
    assert refused(limits, HELD, "BTC/USDT", Side.SELL, "501") is not None


def test_books_the_net_limit_refuses_only_what_moves_away_from_zero() -> None:
    limits = ExposureLimits(max_net=D(600))
    assert refused(limits, HELD, "BTC/USDT", Side.BUY, "100") is None  # 600: the limit
    details = refused(limits, HELD, "BTC/USDT", Side.BUY, "101")
    assert details is not None
    assert (details["rule"], details["value"]) == ("net_exposure", "601")
    assert refused(limits, HELD, "ETH/USDT", Side.SELL, "300") is None  # short: -600
    assert refused(limits, HELD, "ETH/USDT", Side.SELL, "301") is not None  # -601
    over = exposure_of([Holding("BTC/USDT", Side.BUY, D(900))])  # over already (limit lowered)
    assert refused(limits, over, "BTC/USDT", Side.SELL, "100") is None  # towards zero passes
    assert refused(limits, over, "BTC/USDT", Side.SELL, "1900") is not None  # through to -1000
    assert refused(limits, over, "BTC/USDT", Side.BUY, "1") is not None


ORDERS = st.lists(st.tuples(st.sampled_from(["A", "B", "C"]), st.sampled_from(list(Side)),
                            st.integers(min_value=0, max_value=400)), max_size=40)  # fmt: skip
LIMIT = st.one_of(st.none(), st.integers(min_value=0, max_value=2000))


@given(ORDERS, LIMIT, LIMIT)
def test_books_exposure_refuses_exactly_what_the_model_refuses(
    orders: list[tuple[str, Side, int]], gross_limit: int | None, net_limit: int | None
) -> None:
    limits = ExposureLimits(None if gross_limit is None else D(gross_limit),
                            None if net_limit is None else D(net_limit))  # fmt: skip
    exposure = Exposure()
    gross, net = 0, {"A": 0, "B": 0, "C": 0}
    for symbol, side, amount in orders:
        sign = 1 if side is Side.BUY else -1
        after = net[symbol] + sign * amount
        model_refuses = (gross_limit is not None and gross + amount > gross_limit) or (
            net_limit is not None and abs(after) > net_limit and abs(after) > abs(net[symbol]))
        try:
            check_exposure(limits, exposure, symbol, side, D(amount))
        except RiskBlocked:
            assert model_refuses
            continue
        assert not model_refuses
        exposure = exposure.with_order(symbol, side, D(amount))
        gross, net[symbol] = gross + amount, after
    assert exposure.gross == gross
    assert dict(exposure.net) == {k: v for k, v in net.items() if k in exposure.net}


def test_books_no_limit_checks_nothing() -> None:
    assert ExposureLimits().checks_nothing
    check_exposure(ExposureLimits(), HELD, "BTC/USDT", Side.BUY, D(10**12))
    with pytest.raises(RiskBlocked):
        check_exposure(ExposureLimits(max_gross=D(0)), Exposure(), "X", Side.BUY, D("0.01"))


def test_books_a_change_meets_the_limits_only_when_it_raises_the_order() -> None:
    limits = ExposureLimits(max_gross=D(1000), max_net=D(600))
    # a working buy of 100 on BTC is part of HELD (gross 1000, BTC net 500): grown to 200 the
    # gross would be 1100 (refused); to 100.5 the net 500.5 and the gross 1000.5 (refused)
    with pytest.raises(RiskBlocked) as caught:
        check_change(limits, HELD, "BTC/USDT", Side.BUY, D(100), D(200))
    assert (caught.value.details["rule"], caught.value.details["value"]) == (
        "gross_exposure", "1100")
    assert refused_change(limits, "BTC/USDT", Side.BUY, "100", "100.5") == "gross_exposure"
    # shrinking or keeping it always passes, even over a limit lowered since
    tight = ExposureLimits(max_gross=D(10), max_net=D(10))
    assert refused_change(tight, "BTC/USDT", Side.BUY, "100", "100") is None
    assert refused_change(tight, "BTC/USDT", Side.BUY, "100", "50") is None
    # judged as the order it becomes: the old notional leaves, the new one comes in
    assert refused_change(ExposureLimits(max_net=D(600)), "BTC/USDT", Side.BUY, "100",
                          "200") is None  # 500 - 100 + 200 = 600: the limit  # fmt: skip
    assert refused_change(ExposureLimits(max_net=D(600)), "BTC/USDT", Side.BUY, "100",
                          "201") == "net_exposure"  # fmt: skip


def refused_change(limits: ExposureLimits, symbol: str, side: Side, before: str, after: str
                   ) -> str | None:  # fmt: skip
    try:
        check_change(limits, HELD, symbol, side, D(before), D(after))
    except RiskBlocked as exc:
        return str(exc.details["rule"])
    return None
