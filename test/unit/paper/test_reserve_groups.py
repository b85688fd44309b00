"""Reservation groups of the matching core (the legs of an order list): the legs hold together
the largest of their reservations, the moment one executes (a fill or a trigger) the others end
with reason GROUP_EXPIRED, and no balance goes below zero on the way."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from apps.paper.domain import ledger
from apps.paper.domain.book import BookConfig, Quote, make_quote
from apps.paper.domain.errors import InsufficientFundsError
from apps.paper.domain.matching import (
    Outcome,
    Venue,
    apply_path,
    apply_price,
    cancel_order,
    fill_part,
    place_order,
)
from apps.paper.domain.state import (
    CANCELED,
    GROUP_EXPIRED,
    OrderRequest,
    PaperOrder,
    VenueAccount,
    new_account,
)

D = Decimal
BTC = "BTC/USDT"
NOW = 1_760_000_000_000
SPOT = Venue().markets.get(BTC)
MAX_FEE = SPOT.max_fee_rate  # what a buy reserves for its fee


def quote(venue: Venue, price: str, seq: int) -> Quote:
    return make_quote(venue.markets.get(BTC), D(price), venue.book, None, None, seq, NOW)


def used(state: VenueAccount, currency: str, venue: Venue) -> Decimal:
    return ledger.used(state, currency, dict(venue.by_symbol))


def free(state: VenueAccount, currency: str, venue: Venue) -> Decimal:
    return state.total(currency) - used(state, currency, venue)


def limit_maker(side: str, qty: str, price: str, group: str | None = "7") -> OrderRequest:
    return OrderRequest(BTC, side, "limit", D(qty), D(price), post_only=True,
                        reserve_group=group)  # fmt: skip


def stop(side: str, qty: str, trigger: str, price: str | None = None,
         group: str | None = "7") -> OrderRequest:  # fmt: skip
    return OrderRequest(BTC, side, "limit" if price else "market", D(qty),
                        D(price) if price else None, trigger_price=D(trigger),
                        trigger_kind="stop_loss", reserve_group=group)  # fmt: skip


def place_all(state: VenueAccount, venue: Venue, *requests: OrderRequest) -> Outcome:
    out = Outcome(state)
    for request in requests:
        out = place_order(out.state, request, venue, quote(venue, "50000", 1), NOW)
    return out


def sell_oco(venue: Venue, qty: str = "1", holding: str = "1") -> Outcome:
    """A SELL OCO on an account holding exactly `holding` BTC: the limit maker above (id 1-1),
    the stop below (id 1-2)."""
    account = new_account(1, {"BTC": D(holding), "USDT": D(0)})
    return place_all(account, venue, limit_maker("sell", qty, "52000"), stop("sell", qty, "48000"))


# --- the ledger rule ----------------------------------------------------------------------------


def _order(order_id: str, reserved: str, currency: str, group: str | None) -> PaperOrder:
    return PaperOrder(order_id, int(order_id), None, BTC, "sell", "limit", "GTC", False, False,
                      D(1), D(1), None, None, NOW, NOW, "USDT", reserved=D(reserved),
                      reserve_currency=currency, reserve_group=group)  # fmt: skip


def test_used_holds_each_group_once_at_its_largest_and_sums_the_rest(venue: Venue) -> None:
    orders = [_order("1", "0.4", "BTC", None), _order("2", "1", "BTC", "7"),
              _order("3", "0.6", "BTC", "7"), _order("4", "0.3", "BTC", "8"),
              _order("5", "0.2", "BTC", "8"), _order("6", "5000", "USDT", "7"),
              _order("7", "0.1", "BTC", None)]  # fmt: skip
    state = replace(new_account(1), open_orders={o.order_id: o for o in orders})
    assert used(state, "BTC", venue) == D("0.4") + D(1) + D("0.3") + D("0.1")
    assert used(state, "USDT", venue) == D(5000)  # a group's reservation is per currency
    alone = replace(state, open_orders={o.order_id: replace(o, reserve_group=None)
                                        for o in orders})  # fmt: skip
    assert used(alone, "BTC", venue) == D("2.6")  # without groups: every order's own


# --- placing ------------------------------------------------------------------------------------


def test_a_sell_oco_of_everything_held_is_accepted_and_holds_the_quantity_once(
    venue: Venue,
) -> None:
    out = sell_oco(venue)
    assert [o.status for o in out.state.open_orders.values()] == ["open", "open"]
    assert [o.reserved for o in out.state.open_orders.values()] == [D(1), D(1)]  # each its own
    assert (used(out.state, "BTC", venue), free(out.state, "BTC", venue)) == (D(1), D(0))


def test_without_a_group_the_second_leg_would_hold_it_again(venue: Venue) -> None:
    account = new_account(1, {"BTC": D(1)})
    first = place_all(account, venue, limit_maker("sell", "1", "52000", group=None))
    try:
        place_all(first.state, venue, stop("sell", "1", "48000", group=None))
    except InsufficientFundsError:
        return
    raise AssertionError("an ungrouped second order was accepted")


def test_a_buy_oco_holds_the_dearer_leg_with_its_fee(venue: Venue) -> None:
    account = new_account(1, {"USDT": D(100000)})
    out = place_all(account, venue, limit_maker("buy", "1.5", "48000"),
                    stop("buy", "1.5", "51000", "51100"))  # fmt: skip
    assert len(out.state.open_orders) == 2  # summed they would hold 148,6xx of the 100,000
    assert used(out.state, "USDT", venue) == D("1.5") * D(51100) * (1 + MAX_FEE)


def test_a_group_still_needs_its_largest_reservation_covered(venue: Venue) -> None:
    account = new_account(1, {"BTC": D(1)})
    first = place_all(account, venue, limit_maker("sell", "1", "52000"))
    try:
        place_all(first.state, venue, stop("sell", "1.1", "48000"))
    except InsufficientFundsError:
        return
    raise AssertionError("a leg beyond the balance was accepted")


def test_an_ordinary_order_sees_the_group_held_once(venue: Venue) -> None:
    out = sell_oco(venue, qty="0.6")
    out = place_all(out.state, venue, limit_maker("sell", "0.4", "53000", group=None))
    assert (used(out.state, "BTC", venue), free(out.state, "BTC", venue)) == (D(1), D(0))
    try:
        place_all(out.state, venue, limit_maker("sell", "0.01", "53000", group=None))
    except InsufficientFundsError:
        return
    raise AssertionError("an order beyond the free balance was accepted")


# --- one executes, the others end ----------------------------------------------------------------


def test_the_limit_fills_and_the_stop_ends_in_the_same_outcome(venue: Venue) -> None:
    placed = sell_oco(venue)
    out = apply_price(placed.state, venue, quote(venue, "52001", 2), NOW + 1)
    by_id = {o.order_id: o for o in out.orders}
    assert (by_id["1-1"].status, by_id["1-1"].filled) == ("closed", D(1))
    ended = by_id["1-2"]
    assert (ended.status, ended.reason, ended.reserved) == (CANCELED, GROUP_EXPIRED, D(0))
    assert out.state.open_orders == {}
    fee = D(52000) * SPOT.maker_fee
    assert (out.state.total("BTC"), used(out.state, "BTC", venue)) == (D(0), D(0))
    assert (out.state.total("USDT"), free(out.state, "USDT", venue)) == (D(52000) - fee,
                                                                         D(52000) - fee)


def test_the_stop_fires_on_everything_held_and_the_limit_ends(venue: Venue) -> None:
    placed = sell_oco(venue)
    out = apply_price(placed.state, venue, quote(venue, "47990", 2), NOW + 1)
    by_id = {o.order_id: o for o in out.orders}
    fired = by_id["1-2"]
    assert (fired.status, fired.filled, fired.reason) == ("closed", D(1), None)  # not refused
    assert (by_id["1-1"].status, by_id["1-1"].reason) == (CANCELED, GROUP_EXPIRED)
    assert (out.state.total("BTC"), used(out.state, "BTC", venue)) == (D(0), D(0))
    assert out.state.total("USDT") > 0


def test_a_path_through_both_legs_executes_only_the_first(venue: Venue) -> None:
    placed = sell_oco(venue)
    path = [quote(venue, "52001", 2), quote(venue, "47000", 3)]
    out = apply_path(placed.state, venue, path, NOW + 1)
    assert [(f.order_id, f.qty) for f in out.fills] == [("1-1", D(1))]
    assert {o.order_id: o.status for o in out.orders} == {"1-1": "closed", "1-2": CANCELED}
    assert out.state.total("BTC") == 0


def test_a_partial_fill_ends_the_sibling_and_the_rest_holds_its_remainder() -> None:
    venue = Venue(book=BookConfig(resting_volume=D("0.4")))
    placed = sell_oco(venue)
    out = apply_price(placed.state, venue, quote(venue, "52001", 2), NOW + 1)
    rest = out.state.open_orders["1-1"]
    assert (rest.filled, rest.reserved) == (D("0.4"), D("0.6"))
    assert "1-2" not in out.state.open_orders
    assert (out.state.total("BTC"), used(out.state, "BTC", venue)) == (D("0.6"), D("0.6"))


def test_a_leg_that_rests_without_executing_leaves_its_group_as_it_was(venue: Venue) -> None:
    account = new_account(1, {"BTC": D(1)})
    q = quote(venue, "50000", 1)
    first = place_order(account, limit_maker("sell", "1", "52000"), venue, q, NOW, 500)
    placed = place_order(first.state, stop("sell", "1", "48000"), venue, q, NOW)
    due = apply_price(placed.state, venue, quote(venue, "50000", 2), NOW + 500)  # rests now
    assert {o.order_id: o.status for o in due.orders} == {"1-1": "open"}
    assert set(due.state.open_orders) == {"1-1", "1-2"}
    assert (used(due.state, "BTC", venue), free(due.state, "BTC", venue)) == (D(1), D(0))


def test_a_part_filled_by_the_venue_ends_the_sibling(venue: Venue) -> None:
    account = new_account(1, {"BTC": D(1), "USDT": D(0)})
    q = quote(venue, "50000", 1)
    first = place_order(account, OrderRequest(BTC, "sell", "limit", D(1), D(49000),
                                              reserve_group="7"), venue, q, NOW, 500)  # fmt: skip
    placed = place_order(first.state, stop("sell", "1", "48000"), venue, q, NOW)
    out = fill_part(placed.state, "1-1", D("0.3"), venue, q, NOW + 1)
    assert (out.orders[0].filled, out.orders[0].reserved) == (D("0.3"), D("0.7"))
    assert [(o.order_id, o.reason) for o in out.orders[1:]] == [("1-2", GROUP_EXPIRED)]
    assert (out.state.total("BTC"), free(out.state, "BTC", venue)) == (D("0.7"), D(0))


def test_cancelling_the_legs_releases_the_reservation_once(venue: Venue) -> None:
    placed = sell_oco(venue, qty="0.6")
    one = cancel_order(placed.state, "1-1", NOW + 1)
    assert (used(one.state, "BTC", venue), free(one.state, "BTC", venue)) == (D("0.6"), D("0.4"))
    both = cancel_order(one.state, "1-2", NOW + 2)
    assert (used(both.state, "BTC", venue), free(both.state, "BTC", venue)) == (D(0), D(1))


@settings(max_examples=60, deadline=None)
@given(side=st.sampled_from(("buy", "sell")),
       prices=st.lists(st.integers(45000, 55000), min_size=1, max_size=8))  # fmt: skip
def test_a_group_on_exact_funds_never_goes_below_zero(side: str, prices: list[int]) -> None:
    """Whatever path the price takes, at most one leg executes and nothing goes negative."""
    venue = Venue(book=BookConfig(resting_volume=D("0.25")))
    if side == "sell":
        out = sell_oco(venue)
    else:
        need = D(51100) * (1 + MAX_FEE)
        out = place_all(new_account(1, {"USDT": need, "BTC": D(0)}), venue,
                        limit_maker("buy", "1", "48000"), stop("buy", "1", "51000", "51100"))  # fmt: skip
    assert len(out.state.open_orders) == 2
    state, executed = out.state, set()
    for seq, price in enumerate(prices, start=2):
        step = apply_price(state, venue, quote(venue, str(price), seq), NOW + seq)
        state = step.state
        executed |= {f.order_id for f in step.fills}
        for currency in ("BTC", "USDT"):
            assert state.total(currency) >= 0
            assert free(state, currency, venue) >= 0
    assert len(executed) <= 1
