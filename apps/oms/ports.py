"""Ports the worker uses to reach the outside world; adapters implement them.

`VenuePort` is one exchange account as the worker sees it, paper or CCXT alike. It speaks CCXT's
unified vocabulary: the method names and arguments of `ccxt.async_support.Exchange`, results
shaped like CCXT's unified structures (every unified key present, `info` holding the raw venue
payload) and errors raised as CCXT's own classes (`ccxt.BadSymbol`, `ccxt.InvalidOrder`,
`ccxt.OrderNotFound`, `ccxt.InsufficientFunds`, `ccxt.RequestTimeout`,
`ccxt.ExchangeNotAvailable`, ...).

Numbers: every numeric field of a result (price, amount, cost, fee, balances, ...) is a `Decimal`
(or None); implementations must never let a float reach book-keeping. Adapters over CCXT set
`exchange.number = str` and convert. Timestamps are epoch milliseconds (`int`) as in CCXT.

Finding an order whose placement outcome is unknown: `fetch_order(id="", symbol,
{"clientOrderId": ...})` looks it up by the client order id given at `create_order(...,
params={"clientOrderId": ...})`; it raises `ccxt.OrderNotFound` when the venue never got it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, TypeGuard, TypeVar, runtime_checkable

#: A CCXT unified structure (order, trade, balance, position, ticker, market, order book).
Structure = dict[str, Any]
Params = dict[str, Any]
#: a hedge account's order param: the side ("long" / "short") of the gateway position the
#: order opens or closes; a CCXT venue turns it into the exchange's own parameter
#: (`exchange/ccxt/position_modes.py`), other venues ignore it
GATEWAY_POSITION_SIDE = "gatewayPositionSide"


@runtime_checkable
class VenuePort(Protocol):
    """One venue account, CCXT-shaped. All calls are async and may raise CCXT errors."""

    id: str

    async def load_markets(
        self, reload: bool = False, params: Params | None = None
    ) -> dict[str, Structure]: ...

    async def fetch_markets(self, params: Params | None = None) -> list[Structure]: ...

    async def fetch_ticker(self, symbol: str, params: Params | None = None) -> Structure: ...

    async def fetch_mark_price(self, symbol: str) -> Structure:
        """A ticker carrying the symbol's `markPrice` (what a held mark-price trigger
        watches)."""
        ...

    async def fetch_tickers(
        self, symbols: list[str] | None = None, params: Params | None = None
    ) -> dict[str, Structure]: ...

    async def fetch_order_book(
        self, symbol: str, limit: int | None = None, params: Params | None = None
    ) -> Structure: ...

    async def fetch_trades(
        self,
        symbol: str,
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[Structure]: ...

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[list[Any]]: ...

    async def fetch_balance(self, params: Params | None = None) -> Structure: ...

    async def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: Decimal,
        price: Decimal | None = None,
        params: Params | None = None,
    ) -> Structure: ...

    async def edit_order(
        self,
        id: str,
        symbol: str,
        type: str,
        side: str,
        amount: Decimal | None = None,
        price: Decimal | None = None,
        params: Params | None = None,
    ) -> Structure: ...

    async def cancel_order(
        self, id: str, symbol: str | None = None, params: Params | None = None
    ) -> Structure: ...

    async def cancel_all_orders(
        self, symbol: str | None = None, params: Params | None = None
    ) -> list[Structure]: ...

    async def fetch_order(
        self, id: str, symbol: str | None = None, params: Params | None = None
    ) -> Structure: ...

    async def fetch_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[Structure]: ...

    async def fetch_open_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[Structure]: ...

    async def fetch_closed_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[Structure]: ...

    async def fetch_my_trades(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[Structure]: ...

    async def fetch_positions(
        self, symbols: list[str] | None = None, params: Params | None = None
    ) -> list[Structure]: ...

    async def close(self) -> None: ...


@runtime_checkable
class MarginVenuePort(VenuePort, Protocol):
    """A venue with derivatives account settings and their reference data, CCXT's unified
    methods: leverage and margin mode per symbol (the setters are restricted `/ccxt`
    functions the worker runs), leverage tiers and trading fees. The paper venue and
    `CcxtVenue` (passing through to the exchange) implement it; kept apart from `VenuePort` so
    that a venue without derivatives (and the tests' fakes) still is a `VenuePort`."""

    async def set_leverage(
        self, leverage: Any, symbol: str | None = None, params: Params | None = None
    ) -> Structure: ...

    async def fetch_leverage(self, symbol: str, params: Params | None = None) -> Structure: ...

    async def set_margin_mode(
        self, marginMode: str, symbol: str | None = None, params: Params | None = None
    ) -> Structure: ...

    async def fetch_margin_mode(self, symbol: str, params: Params | None = None) -> Structure: ...

    async def fetch_margin_modes(
        self, symbols: list[str] | None = None, params: Params | None = None
    ) -> dict[str, Structure]: ...

    async def fetch_leverage_tiers(
        self, symbols: list[str] | None = None, params: Params | None = None
    ) -> dict[str, list[Structure]]: ...

    async def fetch_market_leverage_tiers(
        self, symbol: str, params: Params | None = None
    ) -> list[Structure]: ...

    async def fetch_trading_fee(self, symbol: str, params: Params | None = None) -> Structure: ...

    async def fetch_trading_fees(self, params: Params | None = None) -> dict[str, Structure]: ...


@runtime_checkable
class MatchingVenuePort(VenuePort, Protocol):
    """A simulated venue whose resting orders, triggers and latency-deferred fills advance only
    when the worker asks (the paper venue). The worker's order sync calls `match` before it
    polls `fetch_open_orders` / `fetch_my_trades`; the fills it returns are CCXT trades."""

    async def match(self, symbols: list[str] | None = None) -> list[Structure]: ...


@runtime_checkable
class StreamingVenuePort(VenuePort, Protocol):
    """A venue that pushes the account's own orders and trades over a private stream (CCXT
    Pro's `watch_orders` / `watch_my_trades`: each call returns what arrived since the last
    one, waiting for the next update if nothing did). `streams` says whether this instance can
    stream at all (a `ccxt.<id>` account cannot; a `ccxtpro.<id>` one whose exchange has both
    watches can): the order sync then books from the stream and polls only to repair."""

    def streams(self) -> bool: ...

    async def watch_my_trades(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[Structure]: ...

    async def watch_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: Params | None = None,
    ) -> list[Structure]: ...


@runtime_checkable
class KnownMarkets(Protocol):
    """A venue whose markets, once loaded, can be read without a request (`None` before the
    first load). The executors read instruments inside their transactions: a refresh that
    is due waits for the next venue call outside them (`CcxtVenue._call`), so no transaction
    ever waits on an exchange; a venue that never loaded them is warmed before the step's
    first transaction (`AccountRuntime.warm_markets`)."""

    def loaded_markets(self) -> dict[str, Structure] | None: ...


@dataclass(frozen=True, slots=True)
class NewOrder:
    """One order to place: `create_order`'s arguments."""

    symbol: str
    type: str
    side: str
    amount: Decimal
    price: Decimal | None
    params: Params
    #: the last instant (epoch ms) at which the order may still go out (`send_deadline`): a
    #: venue that takes a deadline refuses it after that, as Binance refuses a request outside
    #: its `recvWindow`; `place_orders` sends nothing past it
    not_after_ms: int | None = None


class SendWindowPassed(TimeoutError):
    """Not sent: the order's send deadline passed before it could go (its worker stalled).
    Its outcome is handled as unknown: looked up by client order id until the lookup window
    ends, by which time no stalled sender may place it any more."""


#: the share of the outcome-unknown lookup window within which a written-ahead order may still
#: be sent. Whoever resolves an unknown outcome looks the order up until the window ends, then
#: rejects it as never placed; a sender that stalled (paused, swapped out, its host frozen)
#: must not place it after that. Half the window leaves the other half for clock skew between
#: hosts and for the request's own flight.
SEND_SHARE = 0.5


def send_deadline(written_ahead_ms: int, window_seconds: float) -> int:
    """The epoch ms after which an order written ahead at `written_ahead_ms` is not sent."""
    return written_ahead_ms + int(window_seconds * SEND_SHARE * 1000)


def sendable(order: NewOrder, now_ms: int) -> bool:
    return order.not_after_ms is None or now_ms <= order.not_after_ms


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


#: what a venue answered for one order of a batch: its order structure, or the CCXT error it
#: raised for that order
Answer = Structure | BaseException


@runtime_checkable
class BatchVenuePort(VenuePort, Protocol):
    """A venue that takes several orders in one request (Binance, Bybit and OKX have batch
    order endpoints; the paper venue takes a batch in one transaction of its own). Unlike CCXT's
    `create_orders`, which folds a refused order into a `rejected` structure, each order's
    answer keeps the CCXT error class it failed with, as `create_order` would have raised it;
    an error of the request itself (a timeout, the venue unreachable) raises for all of them."""

    async def place_orders(self, orders: list[NewOrder]) -> list[Answer]: ...


async def place_orders(venue: VenuePort, orders: list[NewOrder], seconds: float) -> list[Answer]:
    """Each order's answer, in order: in one request where the venue takes batches, else one
    `create_order` after the other; a request that fails or times out answers with its error
    for every order it carried (their outcome is unknown: looked up, never re-sent). An order
    whose send deadline passed is not sent (`SendWindowPassed`)."""
    late: Answer = SendWindowPassed("not sent: its send deadline passed")
    if implements(venue, BatchVenuePort):
        now = _now_ms()
        going = [o for o in orders if sendable(o, now)]
        try:
            got = await asyncio.wait_for(venue.place_orders(going), seconds) if going else []
        except Exception as exc:
            return [exc if sendable(o, now) else late for o in orders]
        if len(got) != len(going):
            raise ValueError(f"the venue answered {len(got)} of {len(going)} orders")
        placed = iter(got)
        return [next(placed) if sendable(o, now) else late for o in orders]
    answers: list[Answer] = []
    for order in orders:
        if not sendable(order, _now_ms()):  # checked again just before each request
            answers.append(late)
            continue
        try:
            answers.append(await asyncio.wait_for(venue.create_order(
                order.symbol, order.type, order.side, order.amount, order.price, order.params),
                seconds))  # fmt: skip
        except Exception as exc:
            answers.append(exc)
    return answers


@dataclass(frozen=True, slots=True)
class OcoLeg:
    """One leg of a venue's own OCO: a plain limit (`price`), or a stop (`stop_price`) or a
    take-profit (`take_profit_price`) that sends a market or limit order (`type`)."""

    client_order_id: str
    type: str
    price: Decimal | None = None
    stop_price: Decimal | None = None
    take_profit_price: Decimal | None = None


class AnswerWithoutLegs(ValueError):
    """The venue took an OCO request but its answer does not show both legs: their outcome
    is unknown (looked up by client order id, never placed again)."""


@runtime_checkable
class OcoVenuePort(VenuePort, Protocol):
    """A venue with an OCO of its own (Binance spot's order list): two legs of one symbol, side
    and amount placed in one request, and the venue itself ends the other leg the moment one
    executes, so that no race between the two can fill both. Answers each leg's order
    structure in the legs' order; a refusal (a CCXT error) places neither leg; an answer that
    does not show both raises `AnswerWithoutLegs`."""

    async def create_oco(
        self, symbol: str, side: str, amount: Decimal, legs: tuple[OcoLeg, OcoLeg],
        list_client_order_id: str,
    ) -> list[Structure]: ...


@runtime_checkable
class FundingVenuePort(MatchingVenuePort, Protocol):
    """A simulated venue that charges perpetual funding itself (the paper venue). It charges a
    funding time once and answers with the marks it charged at, asked again too: the worker
    books the funding deals from that answer, after the venue's own transaction, so a crash
    between the two is repaired by asking again."""

    async def apply_funding(
        self, funding_ms: int, rates: Mapping[str, Decimal]
    ) -> dict[str, Decimal]: ...


class StoredVenueState(Protocol):
    """What a venue that keeps its prices, wallets and leverages in the gateway's database (the
    paper venue) lets the books read in their own transaction, for acceptance's reference price
    and the portfolio's marks, balances and margins. `conn` is the store's `Connection` of that
    transaction; the venue's own store module sends the statements on its own tables."""

    #: an account's leverage before the venue first wrote its account row
    default_leverage: int

    async def last(self, conn: Any, symbol: str) -> Decimal | None: ...

    async def lasts(self, conn: Any, symbols: Iterable[str]) -> dict[str, Decimal]: ...

    async def wallet(self, conn: Any, account_id: int) -> list[tuple[str, Decimal]]:
        """The account's balances (currency, total), by currency."""
        ...

    async def leverages(self, conn: Any, account_id: int) -> tuple[int, dict[str, int]]:
        """The account's leverage and its per-symbol overrides; `(0, {})` before the venue's
        first call for the account wrote its row."""
        ...


P = TypeVar("P")
_IMPLEMENTS: dict[tuple[type, Any], bool] = {}


def implements(obj: object, port: Callable[..., P]) -> TypeGuard[P]:
    """`isinstance(obj, port)` for a runtime-checkable port, answered once per class: typing's
    check looks up every member of the protocol on each call (~1.5 % of a worker's CPU at
    P3's 100 commands/s, docs/benchmarks-history.md → Seventeenth round). Ports are implemented by
    methods of the class, so the class decides."""
    key = (type(obj), port)
    found = _IMPLEMENTS.get(key)
    if found is None:
        found = _IMPLEMENTS[key] = isinstance(obj, port)  # type: ignore[arg-type]
    return found
