"""Matching core: market walks, resting limits, post-only, IOC/FOK, triggers, fees, balances."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.paper.domain import ledger
from apps.paper.domain.book import Quote, make_quote
from apps.paper.domain.errors import (
    BadSymbolError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderNotFoundError,
    OrderWouldTakeError,
)
from apps.paper.domain.matching import (
    Venue,
    amend_order,
    apply_price,
    cancel_all,
    cancel_order,
    place_order,
)
from apps.paper.domain.state import OrderRequest, VenueAccount

D = Decimal
BTC = "BTC/USDT"
PERP = "BTC/USDT:USDT"

NOW = 1_760_000_000_000


def quote(venue: Venue, symbol: str, price: str, seq: int = 1, **kw: str) -> Quote:
    bid = Decimal(kw["bid"]) if "bid" in kw else None
    ask = Decimal(kw["ask"]) if "ask" in kw else None
    market = venue.markets.get(symbol)
    return make_quote(market, Decimal(price), venue.book, bid, ask, seq, NOW)


def req(side: str, qty: str, type_: str = "market", price: str | None = None, **kw: object):
    return OrderRequest(
        kw.pop("symbol", BTC), side, type_, D(qty), D(price) if price else None, **kw  # type: ignore[arg-type]
    )


def free(state: VenueAccount, venue: Venue, currency: str) -> Decimal:
    return state.total(currency) - ledger.used(state, currency, dict(venue.by_symbol))


def test_market_buy_fills_at_price_with_taker_fee(venue: Venue, account: VenueAccount) -> None:
    out = place_order(account, req("buy", "0.1"), venue, quote(venue, BTC, "50000"), NOW)
    (order,), (fill,) = out.orders, out.fills
    assert order.status == "closed"
    assert order.filled == D("0.1")
    assert (fill.price, fill.qty, fill.cost, fill.fee) == (D(50000), D("0.1"), D(5000), D(5))
    assert fill.taker_or_maker == "taker"
    assert out.state.total("BTC") == D("0.1")
    assert out.state.total("USDT") == D(100000) - D(5000) - D(5)


def test_market_order_walks_the_book(deep_venue: Venue, account: VenueAccount) -> None:
    q = quote(deep_venue, BTC, "50000")
    out = place_order(account, req("buy", "1.5"), deep_venue, q, NOW)
    prices = [f.price for f in out.fills]
    assert [f.qty for f in out.fills] == [D(1), D("0.5")]
    assert prices[0] == q.ask
    assert prices[1] > prices[0]
    assert out.orders[0].status == "closed"


def test_market_order_beyond_book_cancels_rest(account: VenueAccount) -> None:
    from apps.paper.domain.book import BookConfig

    venue = Venue(book=BookConfig(levels=2, level_volume=D("0.1")))
    out = place_order(account, req("buy", "0.5"), venue, quote(venue, BTC, "50000"), NOW)
    assert out.orders[0].filled == D("0.2")
    assert out.orders[0].status == "canceled"


def test_resting_limit_fills_when_price_trades_through(venue: Venue, account: VenueAccount) -> None:
    out = place_order(
        account, req("buy", "0.2", "limit", "49000"), venue, quote(venue, BTC, "50000"), NOW
    )
    order = out.orders[0]
    assert order.status == "open"
    assert not out.fills
    assert free(out.state, venue, "USDT") == D(100000) - D("0.2") * 49000 * D("1.001")
    same = apply_price(out.state, venue, quote(venue, BTC, "49500", seq=2), NOW + 1)
    assert not same.fills
    hit = apply_price(same.state, venue, quote(venue, BTC, "48000", seq=3), NOW + 2)
    (fill,) = hit.fills
    assert (fill.price, fill.taker_or_maker, fill.fee) == (D(49000), "maker", D("9.8"))
    assert hit.orders[0].status == "closed"
    assert hit.state.open_orders == {}
    assert free(hit.state, venue, "USDT") == D(100000) - D(9800) - D("9.8")


def test_resting_limit_partial_when_volume_short(deep_venue: Venue, account: VenueAccount) -> None:
    q1 = quote(deep_venue, BTC, "50000")
    out = place_order(account, req("buy", "1.2", "limit", "49000"), deep_venue, q1, NOW)
    first = apply_price(out.state, deep_venue, quote(deep_venue, BTC, "48900", seq=2), NOW)
    assert [f.qty for f in first.fills] == [D("0.5")]
    assert first.orders[0].status == "open"
    assert first.orders[0].remaining == D("0.7")
    again = apply_price(first.state, deep_venue, quote(deep_venue, BTC, "48900", seq=2), NOW)
    assert not again.fills, "the same price seq gives no more volume"
    second = apply_price(first.state, deep_venue, quote(deep_venue, BTC, "48800", seq=3), NOW)
    third = apply_price(second.state, deep_venue, quote(deep_venue, BTC, "48800", seq=4), NOW)
    assert third.orders[0].status == "closed"
    assert third.fills[0].qty == D("0.2")


def test_marketable_limit_takes_up_to_limit_and_rests(deep_venue: Venue, account: VenueAccount) -> None:
    q = quote(deep_venue, BTC, "50000")
    out = place_order(account, req("buy", "1.5", "limit", str(q.ask)), deep_venue, q, NOW)
    assert sum(f.qty for f in out.fills) == D(1)
    assert out.orders[0].status == "open"
    assert out.orders[0].remaining == D("0.5")


def test_post_only_rejected_if_it_would_take(venue: Venue, account: VenueAccount) -> None:
    q = quote(venue, BTC, "50000")
    with pytest.raises(OrderWouldTakeError):
        place_order(account, req("buy", "0.1", "limit", "50000", post_only=True), venue, q, NOW)
    out = place_order(account, req("buy", "0.1", "limit", "49999", post_only=True), venue, q, NOW)
    assert out.orders[0].status == "open"
    assert out.orders[0].time_in_force == "PO"


def test_ioc_and_fok(deep_venue: Venue, account: VenueAccount) -> None:
    q = quote(deep_venue, BTC, "50000")
    ioc = place_order(
        account, req("buy", "3", "limit", str(q.ask), time_in_force="IOC"), deep_venue, q, NOW
    )
    assert ioc.orders[0].filled == D(1)
    assert ioc.orders[0].status == "canceled"
    fok = place_order(
        account, req("buy", "3", "limit", str(q.ask), time_in_force="FOK"), deep_venue, q, NOW
    )
    assert fok.orders[0].filled == 0
    assert fok.orders[0].status == "canceled"
    assert not fok.fills
    assert fok.state.balances == account.balances


def test_stop_and_take_profit_triggers(venue: Venue, account: VenueAccount) -> None:
    q = quote(venue, BTC, "50000")
    state = place_order(account, req("buy", "1"), venue, q, NOW).state
    stop = place_order(
        state, req("sell", "0.5", trigger_price=D(48000), trigger_kind="stop_loss"), venue, q, NOW
    )
    tp = place_order(
        stop.state, req("sell", "0.5", "limit", "52000", trigger_price=D(52000),
                        trigger_kind="take_profit"), venue, q, NOW,
    )
    calm = apply_price(tp.state, venue, quote(venue, BTC, "49000", seq=2), NOW)
    assert not calm.fills
    fall = apply_price(calm.state, venue, quote(venue, BTC, "47900", seq=3), NOW)
    assert [(f.price, f.qty) for f in fall.fills] == [(D(47900), D("0.5"))]
    rise = apply_price(fall.state, venue, quote(venue, BTC, "52100", seq=4), NOW)
    assert [(f.price, f.taker_or_maker) for f in rise.fills] == [(D("52100"), "taker")]
    assert rise.state.total("BTC") == 0
    assert rise.state.open_orders == {}


def test_trigger_that_would_fire_at_once_is_refused(venue: Venue, account: VenueAccount) -> None:
    state = place_order(account, req("buy", "1"), venue, quote(venue, BTC, "50000"), NOW).state
    with pytest.raises(InvalidOrderError):
        place_order(
            state, req("sell", "1", trigger_price=D(51000), trigger_kind="stop_loss"), venue,
            quote(venue, BTC, "50000"), NOW,
        )


def test_spot_refuses_beyond_free(venue: Venue, account: VenueAccount) -> None:
    q = quote(venue, BTC, "50000")
    with pytest.raises(InsufficientFundsError):
        place_order(account, req("buy", "2"), venue, q, NOW)
    with pytest.raises(InsufficientFundsError):
        place_order(account, req("sell", "0.1"), venue, q, NOW)
    resting = place_order(account, req("buy", "1.9", "limit", "50000"), venue,
                          quote(venue, BTC, "51000"), NOW)
    with pytest.raises(InsufficientFundsError):
        place_order(resting.state, req("buy", "0.2", "limit", "50000"), venue,
                    quote(venue, BTC, "51000"), NOW)


def test_bad_input(venue: Venue, account: VenueAccount) -> None:
    q = quote(venue, BTC, "50000")
    with pytest.raises(BadSymbolError):
        place_order(account, req("buy", "1", symbol="DOGE/USDT"), venue, q, NOW)
    for qty in ("0.00001", "0.00015", "0"):
        with pytest.raises(InvalidOrderError):
            place_order(account, req("buy", qty), venue, q, NOW)
    with pytest.raises(InvalidOrderError):
        place_order(account, req("buy", "0.1", "limit", "49999.05"), venue, q, NOW)
    with pytest.raises(InvalidOrderError):
        place_order(account, req("buy", "0.1", "limit"), venue, q, NOW)
    with pytest.raises(OrderNotFoundError):
        cancel_order(account, "1-99", NOW)


def test_cancel_and_amend(venue: Venue, account: VenueAccount) -> None:
    q = quote(venue, BTC, "50000")
    out = place_order(account, req("buy", "0.1", "limit", "49000", client_order_id="c1"),
                      venue, q, NOW)
    order_id = out.orders[0].order_id
    amended = amend_order(out.state, order_id, venue, q, NOW, qty=D("0.2"), price=D(48000))
    assert amended.orders[0].qty == D("0.2")
    assert amended.orders[0].price == D(48000)
    assert amended.orders[0].order_id == order_id
    assert amended.orders[0].client_order_id == "c1"
    assert ledger.used(amended.state, "USDT", dict(venue.by_symbol)) == D("0.2") * 48000 * D(
        "1.001"
    )
    taken = amend_order(amended.state, order_id, venue, q, NOW, price=D(50000))
    assert taken.orders[0].status == "closed"
    assert taken.fills[0].taker_or_maker == "taker"
    with pytest.raises(OrderNotFoundError):
        cancel_order(taken.state, order_id, NOW)
    two = place_order(amended.state, req("buy", "0.1", "limit", "40000"), venue, q, NOW)
    cleared = cancel_all(two.state, BTC, NOW)
    assert {o.status for o in cleared.orders} == {"canceled"}
    assert len(cleared.orders) == 2
    assert ledger.used(cleared.state, "USDT", dict(venue.by_symbol)) == 0


def test_perp_margin_position_and_pnl(venue: Venue, account: VenueAccount) -> None:
    q = quote(venue, PERP, "50000")
    short = place_order(account, req("sell", "1", symbol=PERP), venue, q, NOW)
    pos = short.state.positions[PERP]
    assert pos.qty == D(-1)
    assert pos.entry_price == D(50000)
    assert ledger.used(short.state, "USDT", dict(venue.by_symbol)) == D(5000)
    assert short.state.total("USDT") == D(100000) - D(25)  # taker 5 bps
    cover = place_order(short.state, req("buy", "1", symbol=PERP, reduce_only=True), venue,
                        quote(venue, PERP, "49000", seq=2), NOW)
    assert cover.state.positions[PERP].qty == 0
    assert cover.state.positions[PERP].realized_pnl == D(1000)
    assert cover.state.total("USDT") == D(100000) - D(25) + D(1000) - D("24.5")
    with pytest.raises(InsufficientFundsError):
        place_order(account, req("buy", "21", symbol=PERP), venue, q, NOW)


def test_perp_reversal_opens_remainder(venue: Venue, account: VenueAccount) -> None:
    q = quote(venue, PERP, "50000")
    long = place_order(account, req("buy", "1", symbol=PERP), venue, q, NOW)
    flip = place_order(long.state, req("sell", "3", symbol=PERP), venue,
                       quote(venue, PERP, "51000", seq=2), NOW)
    pos = flip.state.positions[PERP]
    assert pos.qty == D(-2)
    assert pos.entry_price == D(51000)
    assert pos.realized_pnl == D(1000)


def test_reduce_only_cannot_open(venue: Venue, account: VenueAccount) -> None:
    out = place_order(account, req("sell", "1", symbol=PERP, reduce_only=True), venue,
                      quote(venue, PERP, "50000"), NOW)
    assert out.orders[0].filled == 0
    assert out.orders[0].status == "canceled"


def test_fill_latency_defers_the_fill(venue: Venue, account: VenueAccount) -> None:
    q = quote(venue, BTC, "50000")
    out = place_order(account, req("buy", "0.1"), venue, q, NOW, fill_latency_ms=500)
    assert out.orders[0].status == "open"
    assert not out.fills
    early = apply_price(out.state, venue, q, NOW + 100)
    assert not early.fills
    due = apply_price(early.state, venue, q, NOW + 500)
    assert due.fills[0].qty == D("0.1")
    assert due.orders[0].status == "closed"
