"""A strategy's allocation as a balance and the funds check of a new order (domain/allocation.py):
worked examples with the numbers of docs/identity-and-risk.md, then hypothesis properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.oms.domain.allocation import (
    BalanceLine,
    Holding,
    Reserve,
    StrategyFunds,
    Terms,
    check_change,
    check_funds,
    reservation,
    strategy_balance,
    terms_of,
)
from apps.oms.domain.enums import Side
from apps.oms.domain.errors import InsufficientFunds

D = Decimal
SPOT = Terms(spot=True, base="BTC", quote="USDT", fee_rate=D("0.001"))
SWAP = Terms(spot=False, base="BTC", quote="USDT", leverage=D(5), fee_rate=D("0.0005"))
FAST = settings(max_examples=150, deadline=None)


def test_allocation_terms_of_unified_symbols() -> None:
    assert terms_of("BTC/USDT") == Terms(spot=True, base="BTC", quote="USDT")
    assert terms_of("ETH/USDT:USDT", leverage=D(3)) == Terms(
        spot=False, base="ETH", quote="USDT", leverage=D(3)
    )
    assert terms_of("BTC/USD:BTC").quote == "BTC"


def test_allocation_alone_is_all_free() -> None:
    funds = StrategyFunds("USDT", D(1000))
    assert strategy_balance(funds) == {"USDT": BalanceLine(D(1000), D(0), D(1000))}


def test_allocation_worked_example_spot() -> None:
    """1,000 USDT; +12.5 realised, 0.75 fees; holds 0.01 BTC bought at 50,000; a resting buy of
    0.002 BTC at 49,000 (fee 0.1 %) and a resting sell of 0.004 BTC."""
    funds = StrategyFunds(
        "USDT",
        D(1000),
        realized={"USDT": D("11.75")},
        holdings=(Holding(Side.BUY, D("0.01"), D(50000), SPOT),),
        reserves=(
            Reserve(Side.BUY, D("0.002"), D(49000), SPOT),
            Reserve(Side.SELL, D("0.004"), D(51000), SPOT),
        ),
    )
    balance = strategy_balance(funds)
    # total 1000 + 11.75 − 500 (cost) = 511.75; used 0.002 × 49,000 × 1.001 = 98.098
    assert balance["USDT"] == BalanceLine(D("413.652"), D("98.098"), D("511.75"))
    assert balance["BTC"] == BalanceLine(D("0.006"), D("0.004"), D("0.01"))


def test_allocation_worked_example_swap() -> None:
    """2,000 USDT, −30 realised; a 0.1 BTC long swap at 60,000 with leverage 5 (margin 1,200),
    a reduce-only order (holds nothing) and an opening buy of 0.01 at 60,000."""
    funds = StrategyFunds(
        "USDT",
        D(2000),
        realized={"USDT": D(-30)},
        holdings=(Holding(Side.BUY, D("0.1"), D(60000), SWAP),),
        reserves=(
            Reserve(Side.SELL, D("0.1"), D(61000), SWAP, reduce_only=True),
            Reserve(Side.BUY, D("0.01"), D(60000), SWAP),
        ),
    )
    # used = 1,200 + (600 / 5 + 600 × 0.0005 = 120.3) = 1,320.3; total 1,970
    assert strategy_balance(funds)["USDT"] == BalanceLine(D("649.7"), D("1320.3"), D(1970))
    with pytest.raises(InsufficientFunds) as err:
        check_funds(funds, Reserve(Side.SELL, D("0.06"), D(60000), SWAP), 7)
    assert err.value.code == "insufficient_funds"
    assert err.value.details == {
        "rule": "strategy_allocation", "scope": "strategy", "currency": "USDT",
        "needed": "721.8", "free": "649.7",
    }  # fmt: skip
    check_funds(funds, Reserve(Side.SELL, D("0.05"), D(60000), SWAP), 7)  # 601.5 fits


def test_allocation_spot_sell_needs_the_strategys_own_base() -> None:
    funds = StrategyFunds("USDT", D(100000))  # plenty of USDT, no BTC
    with pytest.raises(InsufficientFunds) as err:
        check_funds(funds, Reserve(Side.SELL, D("0.001"), D(50000), SPOT), 1)
    assert err.value.details["currency"] == "BTC"
    assert err.value.details["free"] == "0"


def test_allocation_order_in_another_quote_is_refused() -> None:
    eur = Terms(spot=True, base="BTC", quote="EUR")
    with pytest.raises(InsufficientFunds):
        check_funds(StrategyFunds("USDT", D(10**6)), Reserve(Side.BUY, D(1), D(1), eur), 1)


def test_allocation_short_spot_credits_the_quote() -> None:
    funds = StrategyFunds("USDT", D(100), holdings=(Holding(Side.SELL, D(2), D(10), SPOT),))
    balance = strategy_balance(funds)
    assert balance["USDT"].total == D(120)
    assert balance["BTC"].total == D(-2)


# --- properties ----------------------------------------------------------------------------

amounts = st.integers(0, 10**7).map(lambda n: D(n) / 100)
qtys = st.integers(1, 10**5).map(lambda n: D(n) / 1000)
prices = st.integers(1, 10**6).map(lambda n: D(n) / 10)
terms = st.builds(
    Terms,
    spot=st.booleans(),
    base=st.sampled_from(["BTC", "ETH"]),
    quote=st.sampled_from(["USDT", "USDT", "USDC"]),
    contract_size=st.sampled_from([D(1), D("0.001"), D(10)]),
    leverage=st.sampled_from([D(1), D(3), D(20)]),
    fee_rate=st.sampled_from([D(0), D("0.0005"), D("0.001")]),
)
sides = st.sampled_from(list(Side))
holdings = st.builds(Holding, side=sides, qty=qtys, avg_price=prices, terms=terms)
reserves = st.builds(
    Reserve, side=sides, qty=qtys, price=prices, terms=terms, reduce_only=st.booleans()
)
funds_st = st.builds(
    StrategyFunds,
    currency=st.just("USDT"),
    allocation=amounts,
    realized=st.dictionaries(st.sampled_from(["USDT", "BTC"]), amounts.map(lambda a: a - 500)),
    holdings=st.lists(holdings, max_size=4).map(tuple),
    reserves=st.lists(reserves, max_size=4).map(tuple),
)


@FAST
@given(funds_st)
def test_allocation_free_is_total_minus_used_and_used_never_negative(funds: StrategyFunds) -> None:
    balance = strategy_balance(funds)
    assert funds.currency in balance
    for line in balance.values():
        assert line.free == line.total - line.used
        assert line.used >= 0
        assert all(isinstance(v, Decimal) for v in (line.free, line.used, line.total))


@FAST
@given(funds_st, reserves)
def test_allocation_an_order_lowers_free_by_exactly_its_reservation(
    funds: StrategyFunds, order: Reserve
) -> None:
    before = strategy_balance(funds)
    after = strategy_balance(
        StrategyFunds(funds.currency, funds.allocation, funds.realized, funds.holdings,
                      (*funds.reserves, order))
    )  # fmt: skip
    currency, amount = reservation(order)
    zero = BalanceLine(D(0), D(0), D(0))
    for name in set(before) | set(after):
        old, new = before.get(name, zero), after.get(name, zero)
        assert new.total == old.total
        expected = old.free - amount if name == currency else old.free
        assert abs(new.free - expected) <= D("1e-18") * 5  # quantised sums


@FAST
@given(funds_st, reserves)
def test_allocation_check_refuses_exactly_beyond_free(funds: StrategyFunds, order: Reserve) -> None:
    currency, needed = reservation(order)
    line = strategy_balance(funds).get(currency)
    free = line.free if line else D(0)
    if needed.quantize(D("1e-18")) > free:
        with pytest.raises(InsufficientFunds) as err:
            check_funds(funds, order, 1)
        assert err.value.details["currency"] == currency
    else:
        check_funds(funds, order, 1)


@FAST
@given(amounts, qtys, prices, st.sampled_from([D(0), D("0.25")]))
def test_allocation_spot_round_trip_returns_allocation_plus_pnl(
    allocation: Decimal, qty: Decimal, price: Decimal, fee: Decimal
) -> None:
    """Buying moves cost from quote into base at no loss; selling it all at `exit` leaves
    allocation + (exit − entry) × qty − fees in quote and no base."""
    bought = StrategyFunds("USDT", allocation, {"USDT": -fee},
                           (Holding(Side.BUY, qty, price, SPOT),))  # fmt: skip
    balance = strategy_balance(bought)
    assert balance["USDT"].total + balance["BTC"].total * price == allocation - fee
    exit_price = price + 1
    closed = StrategyFunds("USDT", allocation, {"USDT": (exit_price - price) * qty - 2 * fee})
    assert strategy_balance(closed)["USDT"].total == allocation + qty - 2 * fee


@FAST
@given(funds_st, reserves)
def test_allocation_reduce_only_swap_orders_hold_nothing(funds: StrategyFunds, order: Reserve) -> None:
    swap = Reserve(order.side, order.qty, order.price,
                   Terms(False, "BTC", "USDT", leverage=D(2)), reduce_only=True)  # fmt: skip
    assert reservation(swap) == ("USDT", D(0))


def test_allocation_amending_an_order_counts_only_the_extra_hold() -> None:
    resting = Reserve(Side.BUY, D("0.02"), D(40000), SPOT)  # holds 800.8 of 1,000
    funds = StrategyFunds("USDT", D(1000), reserves=(resting,))
    check_change(funds, resting, Reserve(Side.BUY, D("0.024"), D(40000), SPOT), 1)  # +160.16
    with pytest.raises(InsufficientFunds) as err:
        check_change(funds, resting, Reserve(Side.BUY, D("0.025"), D(40000), SPOT), 1)
    assert (err.value.details["needed"], err.value.details["free"]) == ("200.2", "199.2")
    overdrawn = StrategyFunds("USDT", D(1), reserves=(resting,))  # allocation lowered since
    check_change(overdrawn, resting, Reserve(Side.BUY, D("0.01"), D(40000), SPOT), 1)


@FAST
@given(funds_st, reserves, qtys, prices)
def test_allocation_change_refuses_iff_the_extra_hold_exceeds_free(
    funds: StrategyFunds, old: Reserve, qty: Decimal, price: Decimal
) -> None:
    with_old = StrategyFunds(funds.currency, funds.allocation, funds.realized, funds.holdings,
                             (*funds.reserves, old))  # fmt: skip
    new = Reserve(old.side, qty, price, old.terms, old.reduce_only)
    currency, before = reservation(old)
    extra = reservation(new)[1] - before
    line = strategy_balance(with_old).get(currency)
    free = line.free if line else D(0)
    if extra > 0 and extra.quantize(D("1e-18")) > free:
        with pytest.raises(InsufficientFunds):
            check_change(with_old, old, new, 1)
    else:
        check_change(with_old, old, new, 1)
