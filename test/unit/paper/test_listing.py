"""The paper venue's listing: the built-in markets plus `paper.extra_markets`, each a spot
market and a USDT perpetual with its steps and start price; a base listed twice is refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.oms.config import PaperSettings
from apps.oms.errors import ConfigError
from apps.paper.domain.markets import DEFAULT_MARKETS
from apps.paper.exchange import listing


def test_without_extra_markets_the_listing_is_the_built_in_one() -> None:
    listed = listing.listing_of(PaperSettings())
    assert set(listed.by_symbol) == {m.symbol for m in DEFAULT_MARKETS}
    assert listed.default_price("BTC/USDT:USDT") == Decimal(50000)


def test_an_extra_market_lists_its_spot_and_perpetual_with_its_steps_and_start_price() -> None:
    paper = PaperSettings(extra_markets=[{"base": "DOGE", "amount_step": "1",
                                          "price_step": "0.00001", "min_amount": "1",
                                          "start_price": "0.1"}])  # fmt: skip
    listed = listing.listing_of(paper)
    spot, swap = listed.get("DOGE/USDT"), listed.get("DOGE/USDT:USDT")
    assert (spot.is_swap, swap.is_swap, swap.settle) == (False, True, "USDT")
    assert (swap.amount_step, swap.price_step, swap.min_amount) == (
        Decimal(1), Decimal("0.00001"), Decimal(1))
    assert listed.default_price("DOGE/USDT:USDT") == Decimal("0.1")
    assert listed.default_price("ETH/USDT") == Decimal(3000)  # the built-in ones stay


@pytest.mark.parametrize("bases", [["BTC"], ["NEW", "NEW"]])
def test_a_base_listed_twice_is_a_configuration_error(bases: list[str]) -> None:
    with pytest.raises(ConfigError, match="listed already"):
        listing.listing_of(PaperSettings(extra_markets=[{"base": b} for b in bases]))


@pytest.mark.parametrize("entry", [{"base": "doge"}, {"base": "X"}, {"base": "OK", "price_step": "0"},
                                   {"base": "OK", "start_price": "-1"}, {"base": "OK", "fee": "1"}])
def test_a_malformed_extra_market_is_refused_by_the_settings(entry: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="extra_markets"):
        PaperSettings(extra_markets=[entry])


def test_configure_sets_what_this_process_lists_and_profiles_follow() -> None:
    from apps.oms.exchange.profiles import profile

    try:
        listing.configure(PaperSettings(extra_markets=[{"base": "TESTX"}]))
        assert profile("paper").market("TESTX/USDT:USDT") is not None
    finally:
        listing.configure(PaperSettings())
    assert profile("paper").market("TESTX/USDT:USDT") is None
