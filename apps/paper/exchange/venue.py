"""`PaperVenue`: one paper account behind the `VenuePort` (CCXT unified methods and errors).

Every call loads the account's state from the store, runs a pure matching function and writes
the Outcome in one short transaction (optimistic on the account version, retried on conflict).
Results are CCXT structures with `Decimal` numbers. Resting orders, triggers and deferred fills
advance in `match()` (the worker's order sync calls it) and in `on_price()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.oms.ports import Answer, NewOrder
from apps.oms.store.boundary import IntegrityError
from apps.paper.domain import ledger
from apps.paper.domain.book import BookConfig, Quote
from apps.paper.domain.errors import PaperError
from apps.paper.domain.faults import REJECT, TIMEOUT, UNAVAILABLE, FaultConfig, decide
from apps.paper.domain.funding import apply_funding
from apps.paper.domain.matching import (
    Outcome,
    Venue,
    adjust_position,
    amend_order,
    apply_path,
    cancel_all,
    cancel_order,
    fill_part,
    place_order,
)
from apps.paper.domain.state import (
    BOTH,
    DEFAULT_LEVERAGE,
    DEFAULT_START_BALANCE,
    OrderRequest,
    PaperOrder,
    VenueAccount,
)
from apps.paper.domain.tiers import leverage_tiers
from apps.paper.exchange.derivatives import PaperDerivatives
from apps.paper.exchange.errors import as_ccxt, ccxt_errors
from apps.paper.exchange.listing import listed
from apps.paper.exchange.market_data import now_ms
from apps.paper.exchange.requests import decimal_arg, order_request
from apps.paper.exchange.structures import (
    Structure,
    balance_structure,
    order_structure,
    trade_structure,
)
from apps.paper.store.venue_store import PaperStore, VersionConflict

MAX_ATTEMPTS = 8
_UNSET = object()
Params = dict[str, Any]


class PaperVenue(PaperDerivatives):
    """A paper exchange account, CCXT-shaped, persisted in the store."""

    def __init__(
        self,
        account_id: int,
        store: PaperStore,
        *,
        venue: Venue | None = None,
        faults: FaultConfig | None = None,
        start_balances: Mapping[str, Decimal] | None = None,
        leverage: int = DEFAULT_LEVERAGE,
        clock: Callable[[], int] = now_ms,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        edit_order: bool = True,
        book_from: Callable[[Any], BookConfig] | None = None,
        maintenance_rate: Decimal = Decimal("0.005"),
        history_seed: int = 0,
    ) -> None:
        super().__init__(store, venue or Venue(markets=listed()), clock, history_seed)
        # follows the account's `paper.book` as stored (see `_follow_book`) when given
        self._book_from = book_from
        self._book_raw: Any = _UNSET
        self.maintenance_rate = maintenance_rate
        # maintenance margin by notional, derived from the rate (`apps/paper/domain/tiers.py`)
        self.tiers = leverage_tiers(maintenance_rate)
        self.account_id = account_id
        # `paper.edit_order: false` plays a venue without native edit (`has['editOrder']`
        # False, `edit_order` refused): the worker then changes orders by cancel/replace
        self.can_edit = edit_order
        if not edit_order:
            self.has = {**type(self).has, "editOrder": False}
        self.faults = faults or FaultConfig()
        self.start_balances = dict(start_balances or DEFAULT_START_BALANCE)
        self.leverage = leverage
        # per symbol, a price seq every open order has already been matched against: a later
        # match reads the path after it (an optimisation only: re-applying seen prices is a
        # no-op, see `apply_price`)
        self._seen: dict[str, int] = {}
        self._priced: set[str] = set()  # symbols whose price is stored (seeded at first use)
        self._sleep = sleep

    # --- public data, as this account sees it (its own book, when it has one) ---------------

    async def fetch_ticker(self, symbol: str, params: Params | None = None) -> Structure:
        await self._load()  # follows the account's book (spread) as stored
        return await super().fetch_ticker(symbol, params)

    async def fetch_order_book(
        self, symbol: str, limit: int | None = None, params: Params | None = None
    ) -> Structure:
        await self._load()
        return await super().fetch_order_book(symbol, limit, params)

    # --- account --------------------------------------------------------------------------

    async def fetch_balance(self, params: Params | None = None) -> Structure:
        state = await self._load()
        markets = dict(self.venue.by_symbol)
        used = {c: ledger.used(state, c, markets) for c in state.balances}
        return balance_structure(state, used, self.clock())

    # --- orders ---------------------------------------------------------------------------

    async def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: Decimal,
        price: Decimal | None = None,
        params: Params | None = None,
    ) -> Structure:
        """Place an order. Injected faults: `ExchangeNotAvailable` or `InvalidOrder` before
        placing; `RequestTimeout` after placing (the order exists: look it up by clientOrderId).
        """
        return await self._create(symbol, type, side, amount, price, params or {}, None)

    async def _create(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: Decimal,
        price: Decimal | None,
        params: Params,
        not_after_ms: int | None,
        fill_latency_ms: int | None = None,
    ) -> Structure:
        """`create_order`, refused as Binance refuses a request outside its `recvWindow`
        (-1021, `InvalidNonce`) when it arrives after `not_after_ms` (the caller stalled); the
        injected latency after that is the venue's own time, as an exchange's matching is.
        `fill_latency_ms`: this order's fill latency instead of the account's."""
        if not_after_ms is not None and self.clock() > not_after_ms:
            raise ccxt.InvalidNonce("paper -1021: the request arrived after its deadline")
        request = order_request(symbol, type, side, amount, price, params)
        market = self._market(symbol)
        fault = await self._fault()
        if fault == UNAVAILABLE:
            raise ccxt.ExchangeNotAvailable("paper injected outage: order not placed")
        if fault == REJECT:
            raise ccxt.InvalidOrder("paper injected reject: order not placed")
        if self.faults.ack_latency_ms:
            await self._sleep(self.faults.ack_latency_ms / 1000)
        if request.client_order_id and await self.store.find_order(
            self.account_id, client_order_id=request.client_order_id
        ):
            raise ccxt.InvalidOrder(f"paper duplicate clientOrderId {request.client_order_id}")
        quote = await self.quote(symbol)
        latency = fill_latency_ms or self.faults.fill_latency_ms or None

        try:
            outcome = await self._apply(
                lambda state, now: place_order(state, request, self.venue, quote, now, latency)
            )
        except IntegrityError as exc:  # a concurrent order took the same clientOrderId
            raise ccxt.InvalidOrder(
                f"paper duplicate clientOrderId {request.client_order_id}"
            ) from exc
        if fault == TIMEOUT:
            raise ccxt.RequestTimeout("paper injected timeout: outcome unknown to the caller")
        return order_structure(outcome.orders[0], market, list(outcome.fills))

    async def place_orders(self, orders: list[NewOrder]) -> list[Answer]:
        """Several orders in one request, as the batch order endpoints of Binance, Bybit and OKX
        take them: one transaction for all, each order's refusal its own answer (the orders
        before and after it stand). With injected faults each order is a request of its own
        (each draws its fault). The orders carry the request's arrival as their time, as an
        exchange stamps them when its gateway takes the request (not when this store is done).
        An order past its deadline (`NewOrder.not_after_ms`) when the batch is decided is
        refused, as Binance refuses a request outside its `recvWindow` (-1021)."""
        arrived = self.clock()
        if self._faulty():
            return [await self._answer(o) for o in orders]
        requests = [self._request(o) for o in orders]
        deadlines = [o.not_after_ms for o in orders]
        symbols = sorted({r.symbol for r in requests if isinstance(r, OrderRequest)})
        for symbol in symbols:  # a price is seeded once, on first use (`quote`)
            if symbol not in self._priced:
                await self.quote(symbol)
                self._priced.add(symbol)
        await self._ensure()
        return await self._place_batch(requests, symbols, arrived, deadlines)

    async def _place_batch(
        self,
        requests: list[OrderRequest | Exception],
        symbols: list[str],
        arrived: int,
        deadlines: list[int | None],
    ) -> list[Answer]:
        """The batch in one transaction of the paper store (`PaperStore.apply_batch`). On
        MySQL/MariaDB it holds the account's row from its first read, so it is decided once; a
        store that cannot lock the row (SQLite serialises its writers instead) raises
        VersionConflict if the account moved meanwhile, and the batch is decided again."""
        wanted = [r.client_order_id for r in requests
                  if isinstance(r, OrderRequest) and r.client_order_id]  # fmt: skip
        latency = self.faults.fill_latency_ms or None
        placed: list[Exception | Outcome] = []

        def decide(state: VenueAccount, taken: set[str], quotes: dict[str, Quote]
                   ) -> tuple[Outcome, int]:
            self._follow_book()
            now = arrived
            deciding = self.clock()  # in the store's transaction: a stalled caller shows here
            placed.clear()  # a retry after a version conflict places them all again
            for request, deadline in zip(requests, deadlines, strict=True):
                if deadline is not None and deciding > deadline:
                    placed.append(ccxt.InvalidNonce(
                        "paper -1021: the request arrived after its deadline"))
                    continue
                placed.append(self._one(state, request, now, taken, quotes, latency))
                if isinstance(placed[-1], Outcome):
                    state = placed[-1].state
            outcomes = [p for p in placed if isinstance(p, Outcome)]
            return Outcome(state, tuple(o for p in outcomes for o in p.orders),
                           tuple(f for p in outcomes for f in p.fills)), now  # fmt: skip

        async with self.store.turn(self.account_id):
            for _ in range(MAX_ATTEMPTS):
                try:
                    await self.store.apply_batch(self.account_id, wanted, symbols, decide)
                except VersionConflict:
                    continue
                except IntegrityError:  # a concurrent order took one of the client order ids
                    return [ccxt.InvalidOrder("paper duplicate clientOrderId") for _ in requests]
                return [order_structure(p.orders[0], self._market(p.orders[0].symbol),
                                        list(p.fills)) if isinstance(p, Outcome) else p
                        for p in placed]  # fmt: skip
        raise ccxt.ExchangeNotAvailable("paper account is busy, try again")

    def _one(
        self,
        state: VenueAccount,
        request: OrderRequest | Exception,
        now: int,
        taken: set[str],
        quotes: dict[str, Quote],
        latency: int | None,
    ) -> Exception | Outcome:
        """One order of a batch placed on `state`, or its refusal."""
        if isinstance(request, Exception):
            return request
        if request.client_order_id in taken:
            duplicate: Exception = ccxt.InvalidOrder(
                f"paper duplicate clientOrderId {request.client_order_id}")
            return duplicate
        try:
            return place_order(state, request, self.venue, self.view(quotes[request.symbol]),
                               now, latency)  # fmt: skip
        except PaperError as exc:
            return as_ccxt(exc)

    async def _answer(self, o: NewOrder) -> Answer:
        try:
            return await self._create(o.symbol, o.type, o.side, o.amount, o.price, o.params,
                                      o.not_after_ms)  # fmt: skip
        except ccxt.BaseError as exc:
            refused: Exception = exc
            return refused

    def _request(self, o: NewOrder) -> OrderRequest | Exception:
        try:
            self._market(o.symbol)
            return order_request(o.symbol, o.type, o.side, o.amount, o.price, o.params)
        except ccxt.BaseError as exc:
            refused: Exception = exc
            return refused

    def _faulty(self) -> bool:
        f = self.faults
        return bool(f.reject_rate or f.timeout_rate or f.unavailable_rate or f.ack_latency_ms)

    async def edit_order(
        self,
        id: str,
        symbol: str,
        type: str,
        side: str,
        amount: Decimal | None = None,
        price: Decimal | None = None,
        params: Params | None = None,
    ) -> Structure:
        """Amend qty / price / triggerPrice of an open order in place (same id); refused with
        `ccxt.NotSupported` when the account is configured without native edit."""
        if not self.can_edit:
            raise ccxt.NotSupported("paper editOrder is switched off for this account")
        order = await self._find(id, params)
        quote = await self.quote(order.symbol)
        qty = decimal_arg(amount, "amount")
        new_price = decimal_arg(price, "price")
        trigger = decimal_arg((params or {}).get("triggerPrice"), "triggerPrice")
        outcome = await self._apply(
            lambda state, now: amend_order(
                state, order.order_id, self.venue, quote, now, qty, new_price, trigger
            )
        )
        return order_structure(outcome.orders[0], self._market(order.symbol), list(outcome.fills))

    async def cancel_order(
        self, id: str, symbol: str | None = None, params: Params | None = None
    ) -> Structure:
        order = await self._find(id, params)
        outcome = await self._apply(lambda state, now: cancel_order(state, order.order_id, now))
        return order_structure(outcome.orders[0], self._market(order.symbol))

    async def fill_part(self, id: str, qty: Decimal) -> list[Structure]:
        """Fill up to `qty` more of an open order waiting for its fill latency, now (the rest
        of it when `qty` covers it): the venue filling an order in parts. The new fills."""
        order = await self._find(id, None)
        quote = await self.quote(order.symbol)
        outcome = await self._apply(
            lambda state, now: fill_part(state, order.order_id, qty, self.venue, quote, now)
        )
        return [trade_structure(f) for f in outcome.fills]

    async def cancel_all_orders(
        self, symbol: str | None = None, params: Params | None = None
    ) -> list[Structure]:
        if symbol is not None:
            self._market(symbol)
        outcome = await self._apply(lambda state, now: cancel_all(state, symbol, now))
        return [order_structure(o, self._market(o.symbol)) for o in outcome.orders]

    async def fetch_order(
        self, id: str, symbol: str | None = None, params: Params | None = None
    ) -> Structure:
        """By venue id, or by `params["clientOrderId"]` (how the worker resolves unknowns)."""
        order = await self._find(id, params)
        fills = await self.store.list_fills(self.account_id, None, None, None, order.order_id)
        return order_structure(order, self._market(order.symbol), fills)

    async def fetch_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[Structure]:
        return await self._orders(symbol, "all", since, limit)

    async def fetch_open_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[Structure]:
        return await self._orders(symbol, "open", since, limit)

    async def fetch_closed_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[Structure]:
        return await self._orders(symbol, "closed", since, limit)

    async def fetch_my_trades(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[Structure]:
        """This account's fills, oldest first, `since` inclusive (epoch ms)."""
        if symbol is not None:
            self._market(symbol)
        fills = await self.store.list_fills(self.account_id, symbol, since, limit)
        return [trade_structure(f) for f in fills]

    async def adjust_position(
        self, symbol: str, qty: Decimal, price: Decimal | None = None, position_side: str = BOTH
    ) -> Structure | None:
        """Set the perpetual position of `symbol` to `qty` signed contracts without a trade (a
        liquidation or an exchange-side adjustment; external activity for tests and drills);
        in hedge mode the `position_side` (`long` / `short`) given. Returns the position
        structure (None when it is flat now)."""
        market = self._market(symbol)
        at = price if price is not None else (await self.quote(symbol)).last
        await self._apply(lambda state, now: adjust_position(state, self.venue, symbol, qty, at,
                                                             now, position_side))  # fmt: skip
        found = [p for p in await self.fetch_positions([symbol])
                 if p["info"]["position_side"] == position_side]  # fmt: skip
        return found[0] if found and market.symbol == symbol else None

    # --- funding --------------------------------------------------------------------------

    async def apply_funding(
        self, funding_ms: int, rates: Mapping[str, Decimal]
    ) -> dict[str, Decimal]:
        """Charge or credit this account's open swap positions for the funding time
        `funding_ms` at `rates` (per symbol) and each symbol's current last price (the mark),
        in a transaction of the venue's own; returns the marks the time was charged at. A time
        charged before is not charged again: the answer is the marks it was charged at, so the
        caller books exactly what was charged whenever it asks (`domain.paper.funding`)."""
        marks = {symbol: (await self.quote(symbol)).last
                 for symbol in sorted(rates) if symbol in self.venue.by_symbol}  # fmt: skip
        charged: dict[str, Decimal] = {}

        def event(state: VenueAccount, _now: int) -> Outcome:
            outcome, _, used = apply_funding(state, self.venue, funding_ms, marks, rates)
            charged.clear()
            charged.update(used)
            return outcome

        await self._apply(event)
        return dict(charged)

    # --- matching -------------------------------------------------------------------------

    async def match(self, symbols: list[str] | None = None) -> list[Structure]:
        """Match open orders against the prices the market went through since they last looked
        (`apply_path`: the recent path from `paper_price_ticks`, then the current price): fire
        crossed triggers, run orders whose fill latency has passed, fill crossed resting
        limits. Returns the new fills."""
        state = await self._load()
        wanted: dict[str, int] = {}
        for o in state.open_orders.values():
            if not symbols or o.symbol in symbols:
                wanted[o.symbol] = min(o.price_seq, wanted.get(o.symbol, o.price_seq))
        if not wanted:
            return []
        path: list[Quote] = []
        for symbol in sorted(wanted):
            current = await self.quote(symbol)
            since = max(wanted[symbol], self._seen.get(symbol, 0))
            steps = await self.store.get_path(symbol, since, current.seq)
            path += [*(self.view(q) for q in steps if q.seq < current.seq), current]

        def event(state: VenueAccount, now: int) -> Outcome:
            return apply_path(state, self.venue, path, now)

        outcome = await self._apply(event)
        for quote in path:  # every order has seen these now (a later match starts after them)
            self._seen[quote.symbol] = max(self._seen.get(quote.symbol, 0), quote.seq)
        return [trade_structure(f) for f in outcome.fills]

    async def on_price(
        self, symbol: str, price: Decimal, bid: Decimal | None = None, ask: Decimal | None = None
    ) -> list[Structure]:
        """Set the shared price of `symbol`, then match this account against it."""
        await self.set_price(symbol, price, bid, ask)
        return await self.match([symbol])

    # --- internals ------------------------------------------------------------------------

    async def _ensure(self) -> None:
        """The account's paper rows exist (the store remembers it once committed)."""
        await self.store.ensure_account(
            self.account_id, self.start_balances, self.leverage, self.clock()
        )

    async def _load(self) -> VenueAccount:
        await self._ensure()
        state, _ = await self.store.load(self.account_id)
        self._follow_book()
        return state

    def _follow_book(self) -> None:
        """Adopt the account's `paper.book` (spread, depth) as of the last load when it changed:
        set through the API, it applies without a restart."""
        books = self.store.account_books
        if self._book_from is None or self.account_id not in books:
            return  # not read yet (a locked load leaves the config out): keep the book it has
        raw = books[self.account_id]
        if raw == self._book_raw:
            return
        self._book_raw = raw
        self.venue = replace(self.venue, book=self._book_from(raw))
        self.own_spread = isinstance(raw, dict) and raw.get("spread_bps") is not None

    async def _apply(self, event: Callable[[VenueAccount, int], Outcome]) -> Outcome:
        """Load, apply the pure event, save; reload and re-apply if another writer won."""
        await self._ensure()
        async with self.store.turn(self.account_id):
            for _ in range(MAX_ATTEMPTS):
                state, version = await self.store.load(self.account_id)
                self._follow_book()
                now = self.clock()
                with ccxt_errors():
                    outcome = event(state, now)
                if outcome.state == state and not outcome.orders and not outcome.fills:
                    return outcome
                try:
                    await self.store.save(state, version, outcome, now)
                except VersionConflict:
                    continue
                return outcome
        raise ccxt.ExchangeNotAvailable("paper account is busy, try again")

    async def _fault(self) -> str:
        if not (
            self.faults.reject_rate or self.faults.timeout_rate or self.faults.unavailable_rate
        ):
            return "none"
        await self._ensure()
        return decide(
            self.faults, self.account_id, await self.store.next_fault_seq(self.account_id)
        )

    async def _find(self, order_id: str, params: Params | None) -> PaperOrder:
        client_order_id = (params or {}).get("clientOrderId")
        await self._ensure()
        order = await self.store.find_order(
            self.account_id, order_id or None, None if order_id else client_order_id
        )
        if order is None:
            raise ccxt.OrderNotFound(
                f"paper order {order_id or client_order_id!r} not found on this account"
            )
        return order

    async def _orders(
        self, symbol: str | None, which: str, since: int | None, limit: int | None
    ) -> list[Structure]:
        if symbol is not None:
            self._market(symbol)
        await self._ensure()
        orders = await self.store.list_orders(self.account_id, symbol, which, since, limit)
        return [order_structure(o, self._market(o.symbol)) for o in orders]
