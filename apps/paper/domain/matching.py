"""The paper matching engine: pure functions from (account state, event) to an Outcome.

Events: place, cancel, amend an order, and a price change (`apply_price`), which fires triggers,
runs orders whose configured fill latency has passed and fills resting limits the price crossed.
Refusals at placement raise a PaperError and change nothing; problems found while matching later
cancel the order with a `reason` instead. The orders of a reservation group (`PaperOrder`) share
one reservation, so at most one of them executes: the moment one does, the others end with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial
from types import MappingProxyType

from apps.oms.domain.markets import Market
from apps.oms.domain.money import ZERO, quantize
from apps.paper.domain import ledger
from apps.paper.domain.book import BookConfig, Quote, levels, walk, would_take
from apps.paper.domain.errors import (
    InvalidOrderError,
    OrderNotFoundError,
    OrderWouldTakeError,
    PaperError,
)
from apps.paper.domain.groups import in_group
from apps.paper.domain.markets import MarketList
from apps.paper.domain.rules import (
    check_position_side,
    closes,
    crossed,
    trigger_direction,
    validate,
)
from apps.paper.domain.state import (
    BOTH,
    BUY,
    CANCELED,
    CLOSED,
    LIMIT,
    LONG,
    MARKET,
    OPEN,
    SHORT,
    OrderRequest,
    PaperOrder,
    VenueAccount,
    VenueFill,
    VenuePosition,
)


@dataclass(frozen=True, slots=True)
class Venue:
    """The shared simulated market: listed markets and the book shape."""

    markets: MarketList = field(default_factory=MarketList.of)
    book: BookConfig = field(default_factory=BookConfig)

    @property
    def by_symbol(self) -> Mapping[str, Market]:
        return self.markets.by_symbol


@dataclass(frozen=True, slots=True)
class Outcome:
    """New state, every order created or changed (final form) and the fills, in order."""

    state: VenueAccount
    orders: tuple[PaperOrder, ...] = ()
    fills: tuple[VenueFill, ...] = ()


def place_order(
    state: VenueAccount,
    request: OrderRequest,
    venue: Venue,
    quote: Quote,
    now_ms: int,
    fill_latency_ms: int | None = None,
) -> Outcome:
    """Accept and execute an order. Raises BadSymbol/InvalidOrder/InsufficientFunds errors.

    A market order (or the marketable part of a limit) takes from the synthetic book at once
    unless `fill_latency_ms` is given, in which case it waits for `apply_price` at or after
    `now_ms + fill_latency_ms`. Trigger orders wait for the price to cross their trigger.
    The request's position side must fit the account's position mode
    (`rules.check_position_side`); in hedge mode an order closing its side is reduce-only.
    """
    market = venue.markets.get(request.symbol)
    check_position_side(state.position_mode, request.position_side, market.is_swap)
    if closes(request.side, request.position_side):
        request = replace(request, reduce_only=True)
    validate(request, market, quote,
             position_qty=_position_qty(state, market.symbol, request.position_side))  # fmt: skip
    seq = state.next_seq
    order = _new_order(state.account_id, seq, request, market, quote, now_ms)
    state = replace(state, next_seq=seq + 1)
    if fill_latency_ms is not None and not order.is_pending_trigger:
        order = replace(order, fill_after_ms=now_ms + fill_latency_ms)
    return _placed(state, order, market, venue, quote, now_ms)


def _placed(
    state: VenueAccount,
    order: PaperOrder,
    market: Market,
    venue: Venue,
    quote: Quote,
    now_ms: int,
) -> Outcome:
    """A new or amended order rested (a trigger, or waiting for its fill latency) or executed;
    the order first in the Outcome, then the orders of its group it ended."""

    def run(state: VenueAccount) -> tuple[VenueAccount, PaperOrder, list[VenueFill]]:
        if order.is_pending_trigger or order.fill_after_ms is not None:
            rested, new = _rest(state, order, market, venue, quote, _reference_price(order, quote))
            return rested, new, []
        return _execute(state, order, market, venue, quote, now_ms)

    after, new, fills, ended = in_group(state, order, now_ms, run)
    if new.reserve_group is not None and new.is_open and not ended:  # beside its group
        ledger.check_solvent(state, after, market, dict(venue.by_symbol))
    return Outcome(after, (new, *ended), tuple(fills))


def cancel_order(state: VenueAccount, order_id: str, now_ms: int) -> Outcome:
    """Cancel an open order and release its reservation; OrderNotFoundError if not open."""
    order = state.open_orders.get(order_id)
    if order is None:
        raise OrderNotFoundError(f"order {order_id} is not open on this account")
    order = replace(order, status=CANCELED, reserved=ZERO, updated_ms=now_ms)
    return Outcome(_without(state, order_id), (order,))


def cancel_all(state: VenueAccount, symbol: str | None, now_ms: int) -> Outcome:
    """Cancel every open order (of `symbol` when given), oldest first."""
    canceled: list[PaperOrder] = []
    for order in sorted(state.open_orders.values(), key=lambda o: o.seq):
        if symbol is None or order.symbol == symbol:
            outcome = cancel_order(state, order.order_id, now_ms)
            state = outcome.state
            canceled.extend(outcome.orders)
    return Outcome(state, tuple(canceled))


def amend_order(
    state: VenueAccount,
    order_id: str,
    venue: Venue,
    quote: Quote,
    now_ms: int,
    qty: Decimal | None = None,
    price: Decimal | None = None,
    trigger_price: Decimal | None = None,
) -> Outcome:
    """Change qty, limit price or trigger price of an open order (keeps its id and fills).

    The new qty must exceed what is already filled. An amended limit that now crosses the book
    takes like a new order (post-only ones are refused).
    """
    old = state.open_orders.get(order_id)
    if old is None:
        raise OrderNotFoundError(f"order {order_id} is not open on this account")
    market = venue.markets.get(old.symbol)
    new = replace(
        old,
        qty=old.qty if qty is None else qty,
        price=old.price if price is None else price,
        trigger_price=old.trigger_price if trigger_price is None else trigger_price,
        updated_ms=now_ms,
        reserved=ZERO,
    )
    if new.qty <= old.filled:
        raise InvalidOrderError(f"amount {new.qty} does not exceed the filled {old.filled}")
    validate(
        _as_request(new), market, quote, amend=True,
        position_qty=_position_qty(state, old.symbol, old.position_side),
    )
    return _placed(_without(state, order_id), new, market, venue, quote, now_ms)


def fill_part(
    state: VenueAccount,
    order_id: str,
    qty: Decimal,
    venue: Venue,
    quote: Quote,
    now_ms: int,
) -> Outcome:
    """Execute up to `qty` more of an open order still waiting for its fill latency, now: a
    venue filling a marketable order in parts over time. A part takes from the book like the
    order would (its limit, the book's volume); what is left keeps waiting with its reservation
    re-held for the remainder. A part that covers the remainder is the order executed as when
    its fill latency has passed (the rest of a market order canceled, of a limit rested).
    OrderNotFoundError when the order is not open and waiting."""
    order = state.open_orders.get(order_id)
    if order is None or order.fill_after_ms is None:
        raise OrderNotFoundError(f"order {order_id} is not open and waiting for a fill")
    market = venue.markets.get(order.symbol)

    def run(state: VenueAccount) -> tuple[VenueAccount, PaperOrder, list[VenueFill]]:
        base = _without(state, order_id)
        if qty >= order.remaining:
            new_state, last, fills = _execute(
                base, replace(order, reserved=ZERO, updated_ms=now_ms), market, venue, quote,
                now_ms,
            )
            if last.status != OPEN:
                new_state = _without(new_state, order_id)
            return new_state, last, fills
        part = replace(order, qty=order.filled + qty, reserved=ZERO, updated_ms=now_ms)
        new_state, taken, fills = _take(base, part, market, venue, quote, now_ms)
        rested = replace(taken, qty=order.qty)
        new_state, rested = _rest(
            new_state, rested, market, venue, quote, _reference_price(rested, quote)
        )
        return new_state, rested, fills

    new_state, last, fills, ended = in_group(state, order, now_ms, run)
    return Outcome(new_state, (last, *ended), tuple(fills))


def apply_price(
    state: VenueAccount, venue: Venue, quote: Quote, now_ms: int, latest: bool = True
) -> Outcome:
    """Match this account's open orders of `quote.symbol` against a new price, oldest first.

    Invariants: a fill never exceeds the order's remaining qty nor the configured book volume;
    a resting limit fills at its limit price as maker, at most `resting_volume` per price `seq`.
    A quote with a `seq` older than an order's `price_seq` (a price it has already seen) leaves
    that order alone, so applying the same prices again changes nothing. `latest=False` marks a
    price from the path between two matches (`apply_path`): orders waiting for their fill
    latency run only at the latest price.
    """
    market = venue.markets.get(quote.symbol)
    orders: list[PaperOrder] = []
    fills: list[VenueFill] = []
    pending = sorted(
        (o for o in state.open_orders.values() if o.symbol == quote.symbol), key=lambda o: o.seq
    )
    for order in pending:
        if order.order_id not in state.open_orders:
            continue  # ended by an order of its group that executed before it
        state, changed, new_fills, ended = in_group(
            state, order, now_ms, partial(_match_one, order=order, market=market, venue=venue,
                                          quote=quote, now_ms=now_ms, latest=latest),
        )  # fmt: skip
        if changed != order:
            orders.append(changed)
        orders.extend(ended)
        fills.extend(new_fills)
    return Outcome(state, tuple(orders), tuple(fills))


def apply_path(
    state: VenueAccount, venue: Venue, quotes: list[Quote], now_ms: int
) -> Outcome:
    """Apply the prices a market went through since the last match, oldest first (any symbols;
    the last quote of each symbol is its latest). A resting order or trigger the path crossed
    and left again fills or fires as if matching had run at every step, so fills do not depend
    on how often the worker matches. Invariant: same state and path, same Outcome."""
    last_of = {q.symbol: i for i, q in enumerate(quotes)}
    orders: dict[str, PaperOrder] = {}
    fills: list[VenueFill] = []
    for i, quote in enumerate(quotes):
        out = apply_price(state, venue, quote, now_ms, latest=last_of[quote.symbol] == i)
        state = out.state
        orders.update((o.order_id, o) for o in out.orders)
        fills.extend(out.fills)
    return Outcome(state, tuple(orders.values()), tuple(fills))


def _position_qty(state: VenueAccount, symbol: str, position_side: str = BOTH) -> Decimal | None:
    position = state.position(symbol, position_side)
    return None if position is None else position.qty


def _new_order(
    account_id: int, seq: int, request: OrderRequest, market: Market, quote: Quote, now_ms: int
) -> PaperOrder:
    post_only = request.post_only or request.time_in_force == "PO"
    direction = None
    if request.trigger_price is not None:
        direction = trigger_direction(request, quote.last)
    return PaperOrder(
        order_id=f"{account_id}-{seq}",
        seq=seq,
        client_order_id=request.client_order_id,
        symbol=market.symbol,
        side=request.side,
        type=request.type,
        time_in_force="PO" if post_only else request.time_in_force,
        post_only=post_only,
        reduce_only=request.reduce_only,
        qty=request.qty,
        price=request.price if request.type == LIMIT else None,
        trigger_price=request.trigger_price,
        trigger_direction=direction,
        created_ms=now_ms,
        updated_ms=now_ms,
        fee_currency=market.quote,
        price_seq=quote.seq,
        position_side=request.position_side,
        reserve_group=request.reserve_group,
    )


def _as_request(order: PaperOrder) -> OrderRequest:
    kind = "trigger" if order.trigger_price is not None and not order.triggered else None
    return OrderRequest(
        order.symbol,
        order.side,
        order.type,
        order.qty,
        order.price,
        order.client_order_id,
        order.time_in_force,
        order.post_only,
        order.reduce_only,
        order.trigger_price if kind else None,
        kind,
        order.position_side,
        order.reserve_group,
    )


def _reference_price(order: PaperOrder, quote: Quote) -> Decimal:
    if order.price is not None:
        return order.price
    if order.trigger_price is not None and not order.triggered:
        return order.trigger_price
    return quote.ask if order.side == BUY else quote.bid


def _without(state: VenueAccount, order_id: str) -> VenueAccount:
    open_orders = dict(state.open_orders)
    open_orders.pop(order_id, None)
    return replace(state, open_orders=MappingProxyType(open_orders))


def _with(state: VenueAccount, order: PaperOrder) -> VenueAccount:
    open_orders = dict(state.open_orders)
    open_orders[order.order_id] = order
    return replace(state, open_orders=MappingProxyType(open_orders))


def _rest(
    state: VenueAccount,
    order: PaperOrder,
    market: Market,
    venue: Venue,
    quote: Quote,
    price: Decimal,
) -> tuple[VenueAccount, PaperOrder]:
    """Put an order on the book holding its reservation; InsufficientFunds if not covered."""
    amount, currency = ledger.reservation(
        market, order.side, order.remaining, price, state.leverage_for(market.symbol),
        order.reduce_only,
    )
    order = replace(order, reserved=amount, reserve_currency=currency, price_seq=quote.seq)
    after = _with(state, order)
    ledger.check_solvent(state, after, market, dict(venue.by_symbol))
    return after, order


def _execute(
    state: VenueAccount,
    order: PaperOrder,
    market: Market,
    venue: Venue,
    quote: Quote,
    now_ms: int,
) -> tuple[VenueAccount, PaperOrder, list[VenueFill]]:
    """Take what crosses, then rest (GTC limit) or cancel the remainder (market, IOC, FOK)."""
    order = replace(order, fill_after_ms=None)
    if order.reduce_only and _reducible(state, order, market) == 0:
        return state, _nothing_to_reduce(order), []
    takes = order.type == MARKET or (
        order.price is not None and would_take(quote, order.side, order.price)
    )
    if takes and order.post_only:
        raise OrderWouldTakeError(f"post-only order at {order.price} would take liquidity")
    fills: list[VenueFill] = []
    if takes:
        state, order, fills = _take(state, order, market, venue, quote, now_ms)
    if order.remaining == 0:
        return state, replace(order, status=CLOSED, reserved=ZERO), fills
    if order.type == MARKET or order.time_in_force in ("IOC", "FOK"):
        return state, replace(order, status=CANCELED, reserved=ZERO, reason="unfilled"), fills
    assert order.price is not None  # noqa: S101 - limit orders have a price
    state, order = _rest(state, order, market, venue, quote, order.price)
    return state, order, fills


def _take(
    state: VenueAccount,
    order: PaperOrder,
    market: Market,
    venue: Venue,
    quote: Quote,
    now_ms: int,
) -> tuple[VenueAccount, PaperOrder, list[VenueFill]]:
    """Walk the synthetic book up to the order's limit; FOK takes all or nothing."""
    want = min(order.remaining, _reducible(state, order, market))
    book = levels(market, quote, venue.book, "asks" if order.side == BUY else "bids")
    pieces = walk(book, order.side, want, order.price)
    available = sum((p.volume or ZERO for p in pieces), ZERO)
    if order.time_in_force == "FOK" and available < order.remaining:
        return state, order, []
    before = state
    fills: list[VenueFill] = []
    for piece in pieces:
        assert piece.volume is not None  # noqa: S101 - walk returns sized pieces
        state, order, fill = _fill(state, order, market, piece.price, piece.volume, "taker", now_ms)
        fills.append(fill)
    ledger.check_solvent(before, state, market, dict(venue.by_symbol))
    return state, order, fills


def _nothing_to_reduce(order: PaperOrder) -> PaperOrder:
    return replace(
        order, status=CANCELED, reserved=ZERO, reason="reduce-only order has nothing to reduce"
    )


def _reducible(state: VenueAccount, order: PaperOrder, market: Market) -> Decimal:
    """How much a reduce-only order may still fill: the opposite position's size (in hedge
    mode, its own position side's)."""
    if not order.reduce_only:
        return order.remaining
    position = state.position(market.symbol, order.position_side)
    if position is None or position.qty == 0 or (position.qty > 0) == (order.side == BUY):
        return ZERO
    return abs(position.qty)


def _fill(
    state: VenueAccount,
    order: PaperOrder,
    market: Market,
    price: Decimal,
    qty: Decimal,
    role: str,
    now_ms: int,
) -> tuple[VenueAccount, PaperOrder, VenueFill]:
    """Book one execution: fee at the role's rate, in quote, quantised to 18 places."""
    cost = qty * market.contract_size * price
    rate = market.taker_fee if role == "taker" else market.maker_fee
    fill = VenueFill(
        trade_id=f"{state.account_id}-T{state.next_seq}",
        order_id=order.order_id,
        client_order_id=order.client_order_id,
        symbol=market.symbol,
        side=order.side,
        price=price,
        qty=qty,
        cost=cost,
        fee=quantize(cost * rate),
        fee_currency=market.quote,
        taker_or_maker=role,
        timestamp_ms=now_ms,
        position_side=order.position_side,
    )
    state = ledger.apply_fill(replace(state, next_seq=state.next_seq + 1), market, fill)
    order = replace(
        order,
        filled=order.filled + qty,
        cost=order.cost + cost,
        fee=order.fee + fill.fee,
        last_trade_ms=now_ms,
        updated_ms=now_ms,
    )
    return state, order, fill


def _match_one(
    state: VenueAccount,
    order: PaperOrder,
    market: Market,
    venue: Venue,
    quote: Quote,
    now_ms: int,
    latest: bool = True,
) -> tuple[VenueAccount, PaperOrder, list[VenueFill]]:
    due = latest and order.fill_after_ms is not None and now_ms >= order.fill_after_ms
    fires = (
        order.is_pending_trigger
        and quote.seq >= order.price_seq
        and crossed(order.trigger_direction, order.trigger_price, quote.last)
    )
    if not (due or fires):
        return _match_resting(state, order, market, venue, quote, now_ms)
    if fires:
        order = replace(order, triggered=True)
    base = _without(state, order.order_id)
    try:
        new_state, new_order, fills = _execute(
            base, replace(order, reserved=ZERO, updated_ms=now_ms), market, venue, quote, now_ms
        )
    except PaperError as exc:
        canceled = replace(
            order, status=CANCELED, reserved=ZERO, updated_ms=now_ms, reason=str(exc)
        )
        return base, canceled, []
    if new_order.status != OPEN:
        new_state = _without(new_state, order.order_id)
    return new_state, new_order, fills


def _restingcrossed(order: PaperOrder, quote: Quote) -> bool:
    if order.type != LIMIT or order.price is None or order.is_pending_trigger:
        return False
    if order.fill_after_ms is not None or quote.seq <= order.price_seq:
        return False
    if order.side == BUY:
        return quote.last <= order.price or quote.ask <= order.price
    return quote.last >= order.price or quote.bid >= order.price


def _match_resting(
    state: VenueAccount,
    order: PaperOrder,
    market: Market,
    venue: Venue,
    quote: Quote,
    now_ms: int,
) -> tuple[VenueAccount, PaperOrder, list[VenueFill]]:
    """A resting limit the price traded through fills at its limit, as maker."""
    if not _restingcrossed(order, quote):
        return state, order, []
    limit = order.price
    assert limit is not None  # noqa: S101 - checked by _resting_crossed
    volume = venue.book.resting_volume
    qty = min(order.remaining, _reducible(state, order, market))
    if volume is not None:
        qty = min(qty, volume)
    order = replace(order, price_seq=quote.seq)
    if qty <= 0:
        return _without(state, order.order_id), _nothing_to_reduce(order), []
    before = state
    new_state, new_order, fill = _fill(state, order, market, limit, qty, "maker", now_ms)
    amount, _ = ledger.reservation(
        market, order.side, new_order.remaining, limit, state.leverage_for(market.symbol),
        order.reduce_only,
    )
    new_order = replace(new_order, reserved=amount)
    if new_order.remaining == 0:
        new_order = replace(new_order, status=CLOSED, reserved=ZERO)
        new_state = _without(new_state, order.order_id)
    else:
        new_state = _with(new_state, new_order)
    if not market.is_swap:
        # Spot: the reservation (limit price, highest fee rate) covers every fill by
        # construction; the property tests check balances never go negative.
        return new_state, new_order, [fill]
    try:
        ledger.check_solvent(before, new_state, market, dict(venue.by_symbol))
    except PaperError as exc:
        canceled = replace(order, status=CANCELED, reserved=ZERO, reason=str(exc))
        return _without(before, order.order_id), canceled, []
    return new_state, new_order, [fill]


def adjust_position(
    state: VenueAccount,
    venue: Venue,
    symbol: str,
    qty: Decimal,
    price: Decimal,
    now_ms: int,
    position_side: str = BOTH,
) -> Outcome:
    """Set the venue position of a perpetual to `qty` signed contracts without any trade, as a
    liquidation or an exchange-side adjustment would (external activity: the books learn of it
    only by comparing positions). The part that goes away realises PnL at `price` into the
    quote balance; a new or flipped position opens at `price`. In hedge mode it sets one
    position side (LONG takes qty >= 0, SHORT qty <= 0)."""
    market = venue.markets.get(symbol)
    if not market.is_swap:
        raise InvalidOrderError(f"{symbol} is not a derivative: it has no position to adjust")
    if price <= 0:
        raise InvalidOrderError("price must be > 0")
    check_position_side(state.position_mode, position_side, market.is_swap)
    if (position_side == LONG and qty < 0) or (position_side == SHORT and qty > 0):
        raise InvalidOrderError(f"a {position_side} position side cannot hold {qty}")
    old = state.position(symbol, position_side) or VenuePosition(
        symbol, leverage=state.leverage, position_side=position_side)
    pnl = ZERO
    same_side = old.qty != 0 and qty != 0 and (old.qty > 0) == (qty > 0)
    closed = old.qty if not same_side else (old.qty - qty if abs(qty) < abs(old.qty) else ZERO)
    if closed != 0:
        pnl = quantize((price - old.entry_price) * closed * market.contract_size)
    entry = ZERO if qty == 0 else old.entry_price if same_side and abs(qty) <= abs(old.qty) else price
    if same_side and abs(qty) > abs(old.qty):
        added = abs(qty) - abs(old.qty)
        entry = quantize((abs(old.qty) * old.entry_price + added * price) / abs(qty))
    position = replace(old, qty=qty, entry_price=entry, realized_pnl=old.realized_pnl + pnl,
                       updated_ms=now_ms)  # fmt: skip
    positions = dict(state.positions)
    positions[position.key] = position
    balances = dict(state.balances)
    balances[market.quote] = balances.get(market.quote, ZERO) + pnl
    return Outcome(replace(state, positions=positions, balances=balances))
