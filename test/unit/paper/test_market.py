"""The paper market's honest quote and path (pure core): a default spread per market, depth
sized by notional so large market orders pay slippage, matching against the path prices took,
replay timing, and reduce-only closes of a whole position exempt from the minimum cost."""

from __future__ import annotations

from decimal import Decimal
from types import MappingProxyType

import pytest

from apps.paper.domain.book import BookConfig, Quote, make_quote
from apps.paper.domain.errors import InvalidOrderError
from apps.paper.domain.matching import Venue, apply_path, apply_price, place_order
from apps.paper.domain.prices import Tick, random_walk_step, replay_delays
from apps.paper.domain.state import OrderRequest, VenueAccount, new_account

D = Decimal
BTC, PERP, SOL_PERP = "BTC/USDT", "BTC/USDT:USDT", "SOL/USDT:USDT"
NOW = 1_760_000_000_000


def q(venue: Venue, symbol: str, price: str, seq: int) -> Quote:
    return make_quote(venue.markets.get(symbol), D(price), venue.book, seq=seq, timestamp_ms=NOW)


def test_default_spread_per_market_puts_bid_below_ask() -> None:
    book = BookConfig(spread_bps=D(2), spreads=MappingProxyType({"SOL/USDT": D(10)}))
    venue = Venue(book=book)
    btc, sol = q(venue, BTC, "50000", 1), q(venue, "SOL/USDT", "150", 1)
    assert (btc.bid, btc.ask) == (D("49995"), D("50005"))  # 2 bps: 10 USDT wide
    assert (sol.bid, sol.ask) == (D("149.925"), D("150.075"))  # its own 10 bps
    assert btc.bid < btc.last < btc.ask


def test_a_large_market_order_walks_notional_levels_and_pays_slippage() -> None:
    venue = Venue(book=BookConfig(spread_bps=D(2), levels=10, level_step_bps=D(5),
                                  level_notional=D(100000)))  # fmt: skip
    quote = q(venue, BTC, "50000", 1)
    small = place_order(new_account(1), OrderRequest(BTC, "buy", "market", D("0.1")), venue,
                        quote, NOW)  # fmt: skip
    big = place_order(new_account(1, {"USDT": D(10**6)}),
                      OrderRequest(BTC, "buy", "market", D(5)), venue, quote, NOW)  # fmt: skip
    assert [f.price for f in small.fills] == [quote.ask]
    assert len(big.fills) == 3  # 100,000 USDT a level: about 2 BTC each
    assert big.fills[0].qty == D("1.9998")  # 100,000 / 50,005 down to the 0.0001 step
    average = sum(f.cost for f in big.fills) / sum(f.qty for f in big.fills)
    assert average > quote.ask  # slippage beyond the spread
    assert sum(f.qty for f in big.fills) == D(5)


def test_matching_the_path_fills_a_level_only_an_extreme_touched() -> None:
    venue = Venue()
    placed = place_order(new_account(1), OrderRequest(BTC, "buy", "limit", D("0.1"), D(49900)),
                         venue, q(venue, BTC, "50000", 1), NOW)  # fmt: skip
    path = [q(venue, BTC, p, s) for p, s in (("49950", 2), ("49890", 3), ("50010", 4))]
    # only the latest price: the dip to 49,890 is missed
    assert apply_price(placed.state, venue, path[-1], NOW).fills == ()
    out = apply_path(placed.state, venue, path, NOW)
    (fill,) = out.fills
    assert (fill.price, fill.taker_or_maker) == (D(49900), "maker")
    again = apply_path(out.state, venue, path, NOW)  # applying seen prices again: no-op
    assert again.fills == ()
    assert again.state == out.state


def test_a_trigger_ignores_prices_from_before_it_was_placed() -> None:
    venue = Venue()
    stop = OrderRequest(PERP, "sell", "market", D("0.1"), trigger_price=D(49000),
                        trigger_kind="stop_loss", reduce_only=False)  # fmt: skip
    placed = place_order(new_account(1), stop, venue, q(venue, PERP, "50000", 5), NOW)
    old = [q(venue, PERP, "48000", 3), q(venue, PERP, "50000", 5)]
    assert apply_path(placed.state, venue, old, NOW).fills == ()
    (fill,) = apply_path(placed.state, venue, [q(venue, PERP, "48900", 6)], NOW).fills
    assert fill.side == "sell"


def _reversed_to_dust(venue: Venue) -> VenueAccount:
    """Long 1 SOL contract, then sell 1.01: short 0.01 SOL (1.5 USDT, below the 5 USDT min)."""
    quote = q(venue, SOL_PERP, "150", 1)
    long = place_order(new_account(1), OrderRequest(SOL_PERP, "buy", "market", D(1)), venue,
                       quote, NOW)  # fmt: skip
    flip = place_order(long.state, OrderRequest(SOL_PERP, "sell", "market", D("1.01")), venue,
                       quote, NOW)  # fmt: skip
    assert flip.state.positions[SOL_PERP].qty == D("-0.01")
    return flip.state


def test_reduce_only_close_of_a_whole_dust_position_passes_the_minimum_cost() -> None:
    venue = Venue()
    state = _reversed_to_dust(venue)
    quote = q(venue, SOL_PERP, "150", 2)
    with pytest.raises(InvalidOrderError, match="below"):  # not reduce-only: refused as before
        place_order(state, OrderRequest(SOL_PERP, "buy", "market", D("0.01")), venue, quote, NOW)
    close = OrderRequest(SOL_PERP, "buy", "market", D("0.01"), reduce_only=True)
    out = place_order(state, close, venue, quote, NOW)
    assert out.state.positions[SOL_PERP].qty == 0
    assert out.orders[0].status == "closed"


def test_reduce_only_partial_close_below_the_minimum_is_still_refused() -> None:
    venue = Venue()
    quote = q(venue, SOL_PERP, "150", 1)
    long = place_order(new_account(1), OrderRequest(SOL_PERP, "buy", "market", D(1)), venue,
                       quote, NOW)  # fmt: skip
    part = OrderRequest(SOL_PERP, "sell", "market", D("0.01"), reduce_only=True)
    with pytest.raises(InvalidOrderError, match="below"):
        place_order(long.state, part, venue, quote, NOW)


def test_random_walk_is_decimal_on_the_tick_and_seeded() -> None:
    tick = D("0.001")
    path = [D(150)]
    for step in range(200):
        path.append(random_walk_step(path[-1], 42, SOL_PERP, step, D(5), tick))
    assert all(isinstance(p, Decimal) and p % tick == 0 for p in path)
    assert len(set(path)) > 50
    again = [D(150)]
    for step in range(200):
        again.append(random_walk_step(again[-1], 42, SOL_PERP, step, D(5), tick))
    assert again == path


def test_replay_delays_spread_a_candle_over_its_minute() -> None:
    ticks = [Tick(t, BTC, D(1)) for t in (0, 0, 0, 0, 60_000, 60_000, 60_000, 60_000)]
    assert replay_delays(ticks) == [15_000] * 8
    assert replay_delays([Tick(5, BTC, D(1))]) == [0]


def test_refusals_write_their_numbers_plainly() -> None:
    """Messages carry decimals as the wire does: no exponent, no run of trailing zeros (a
    DECIMAL(36,18) zero read back is `0E-18`, a product of such values has 27 places)."""
    from apps.paper.domain.markets import MarketList, check_cost, check_price, check_qty

    market = MarketList.of().by_symbol["BTC/USDT"]
    stored = Decimal("0.000000000000000000")
    cases = [
        lambda: check_cost(market, Decimal("0.000010000000000000"), Decimal("1.000000000000000000")),
        lambda: check_qty(market, stored),
        lambda: check_price(market, Decimal("0E-18")),
    ]
    for case in cases:
        with pytest.raises(InvalidOrderError) as caught:
            case()
        message = str(caught.value)
        assert "E-" not in message, message
        assert "00000" not in message, message
