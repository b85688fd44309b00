"""`fill_part`: a venue filling an order waiting for its fill latency in parts over time (the
served venue's partial-fill fault): each part a real execution, the reservation held for what
remains, the last part the order executed as when its latency has passed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.paper.domain import ledger
from apps.paper.domain.errors import OrderNotFoundError
from apps.paper.domain.matching import Venue, fill_part, place_order
from apps.paper.domain.state import VenueAccount
from test.unit.paper.test_matching import BTC, NOW, quote, req

D = Decimal


def used_usdt(state: VenueAccount, venue: Venue) -> Decimal:
    return ledger.used(state, "USDT", dict(venue.by_symbol))


def test_a_market_order_fills_in_parts(venue: Venue, account: VenueAccount) -> None:
    q = quote(venue, BTC, "50000")
    placed = place_order(account, req("buy", "0.3"), venue, q, NOW, fill_latency_ms=60_000)
    order_id = placed.orders[0].order_id
    held = used_usdt(placed.state, venue)
    first = fill_part(placed.state, order_id, D("0.1"), venue, q, NOW + 100)
    (order,), (fill,) = first.orders, first.fills
    assert (order.status, order.filled, order.qty, fill.qty) == ("open", D("0.1"), D("0.3"),
                                                                 D("0.1"))
    assert order.fill_after_ms == placed.orders[0].fill_after_ms  # the rest still waits
    assert 0 < used_usdt(first.state, venue) < held  # held for the remaining 0.2 only
    second = fill_part(first.state, order_id, D("0.1"), venue, q, NOW + 200)
    last = fill_part(second.state, order_id, D("0.1"), venue, q, NOW + 300)
    assert last.orders[0].status == "closed"
    assert last.orders[0].filled == D("0.3")
    assert order_id not in last.state.open_orders
    assert used_usdt(last.state, venue) == 0
    assert last.state.total("BTC") == D("0.3")


def test_a_part_beyond_the_rest_executes_the_order(venue: Venue, account: VenueAccount) -> None:
    q = quote(venue, BTC, "50000")
    placed = place_order(account, req("buy", "0.2"), venue, q, NOW, fill_latency_ms=60_000)
    out = fill_part(placed.state, placed.orders[0].order_id, D(1), venue, q, NOW + 10)
    assert (out.orders[0].status, out.orders[0].filled) == ("closed", D("0.2"))


def test_a_limit_that_does_not_cross_rests_after_its_last_part(venue: Venue,
                                                               account: VenueAccount) -> None:  # fmt: skip
    q = quote(venue, BTC, "50000")
    placed = place_order(account, req("buy", "0.2", "limit", "49000"), venue, q, NOW,
                         fill_latency_ms=60_000)  # fmt: skip
    order_id = placed.orders[0].order_id
    part = fill_part(placed.state, order_id, D("0.1"), venue, q, NOW + 10)
    assert not part.fills
    last = fill_part(part.state, order_id, D("0.2"), venue, q, NOW + 20)
    assert (last.orders[0].status, last.orders[0].fill_after_ms) == ("open", None)


def test_only_an_order_waiting_for_its_fill(venue: Venue, account: VenueAccount) -> None:
    q = quote(venue, BTC, "50000")
    resting = place_order(account, req("buy", "0.1", "limit", "49000"), venue, q, NOW)
    with pytest.raises(OrderNotFoundError):
        fill_part(resting.state, resting.orders[0].order_id, D("0.05"), venue, q, NOW)
    with pytest.raises(OrderNotFoundError):
        fill_part(resting.state, "nope", D("0.05"), venue, q, NOW)
