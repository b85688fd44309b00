"""`CcxtVenue`: the `VenuePort` over a `ccxt.async_support` exchange (one long-lived instance per
account). CCXT runs with `exchange.number = str` so no float is ever produced; every numeric
field of a unified structure is converted to `Decimal` here (`info` stays the raw payload).
Markets are loaded once and refreshed after `markets_ttl_seconds`."""

from __future__ import annotations

import time
from decimal import Decimal, InvalidOperation
from typing import Any

from apps.oms import metrics
from apps.oms.exchange.ccxt import binance_oco
from apps.oms.exchange.ccxt.instances import close_for_good
from apps.oms.exchange.ccxt.position_modes import order_params
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.oms.ports import MarginVenuePort, OcoLeg, Params, StreamingVenuePort, Structure

NUMERIC = frozenset({
    "price", "amount", "cost", "filled", "remaining", "average", "stopPrice", "triggerPrice",
    "takeProfitPrice", "stopLossPrice", "rate", "free", "used", "total", "bid", "ask", "last",
    "high", "low", "open", "close", "previousClose", "bidVolume", "askVolume", "baseVolume",
    "quoteVolume", "vwap", "change", "percentage", "contracts", "contractSize", "notional",
    "entryPrice", "markPrice", "unrealizedPnl", "realizedPnl", "leverage", "liquidationPrice",
    "collateral", "initialMargin", "maintenanceMargin", "marginRatio", "indexPrice",
    "maker", "taker", "tier", "minNotional", "maxNotional", "maintenanceMarginRate",
    "maxLeverage", "longLeverage", "shortLeverage",
})  # fmt: skip


def _number(value: Any) -> Any:
    if value is None or isinstance(value, bool | Decimal):
        return value
    if isinstance(value, str | int | float):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return value
    return value


def decimals(value: Any, key: str | None = None) -> Any:
    """Numeric fields of a CCXT structure (recursively, `info` excepted) as `Decimal`."""
    if isinstance(value, dict) and key in ("free", "used", "total"):
        return {k: _number(v) for k, v in value.items()}  # balance totals by currency
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k == "info":
                out[k] = v
            elif k in NUMERIC and not isinstance(v, dict | list):
                out[k] = _number(v)
            else:
                out[k] = decimals(v, k)
        return out
    if isinstance(value, list):
        return [decimals(v, key) for v in value]
    if key in ("free", "used", "total") or key in NUMERIC:
        return _number(value)
    return value


#: how an exchange is asked for an order by its client order id, where CCXT's class does not
#: translate `clientOrderId` itself: the exchange's own parameter and what else it needs
CLIENT_ID_LOOKUP: dict[str, tuple[str, dict[str, Any]]] = {
    "bybit": ("orderLinkId", {}),
}
#: what an exchange's `fetch_order` needs on every lookup, by id or client order id: CCXT's
#: bybit refuses one without `acknowledged` (its unified account finds an order among the
#: account's last 500 only); without it a cancel's final state, or the sync of an order gone
#: from the open ones, would fail on every Bybit order
ORDER_LOOKUP_PARAMS: dict[str, dict[str, Any]] = {"bybit": {"acknowledged": True}}


#: exchanges that list open orders a page at a time, newest first, and how the next page is
#: asked for: the page's size and the parameter naming the oldest order listed so far (OKX's
#: `orders-pending`: 100 a request, `after` an `ordId`). CCXT asks one page; the gateway's
#: order sync takes an open order missing from the list for ended, so the list must be whole.
OPEN_ORDER_PAGES: dict[str, tuple[int, str]] = {"okx": (100, "after")}
#: at most this many pages of open orders are asked for (10,000 orders on OKX)
MAX_PAGES = 100


class CcxtVenue:
    """One CCXT exchange account behind the `VenuePort`."""

    def __init__(self, exchange: Any, *, markets_ttl_seconds: float = 3600.0) -> None:
        self.exchange = exchange
        self.id: str = str(exchange.id)
        self.has: dict[str, Any] = exchange.has
        self.timeframes: dict[str, Any] = dict(getattr(exchange, "timeframes", None) or {})
        self.markets_ttl_seconds = markets_ttl_seconds
        self._markets_at: float | None = None

    async def _call(self, name: str, *args: Any) -> Any:
        await self.load_markets()
        with metrics.venue_call(self.id, name):
            result = await getattr(self.exchange, name)(*args)
        return decimals(result)

    async def load_markets(
        self, reload: bool = False, params: Params | None = None
    ) -> dict[str, Structure]:
        now = time.monotonic()
        stale = self._markets_at is None or now - self._markets_at > self.markets_ttl_seconds
        if reload or stale:
            with metrics.venue_call(self.id, "load_markets"):
                await self.exchange.load_markets(True, params or {})
            self._markets_at = now
        markets: dict[str, Structure] = self.exchange.markets
        return markets

    def loaded_markets(self) -> dict[str, Structure] | None:
        """The markets as last loaded, with no request (None before the first load)."""
        markets: dict[str, Structure] | None = self.exchange.markets or None
        return markets

    async def fetch_markets(self, params: Params | None = None) -> list[Structure]:
        return list((await self.load_markets(False, params)).values())

    async def fetch_ticker(self, symbol: str, params: Params | None = None) -> Structure:
        result: Structure = await self._call("fetch_ticker", symbol, params or {})
        return result

    async def fetch_mark_price(self, symbol: str) -> Structure:
        """CCXT's `fetch_mark_price` where the exchange has it (Binance's and OKX's tickers
        carry no mark price), else its ticker (Bybit's carries one)."""
        name = "fetch_mark_price" if self.exchange.has.get("fetchMarkPrice") else "fetch_ticker"
        result: Structure = await self._call(name, symbol, {})
        return result

    async def fetch_tickers(
        self, symbols: list[str] | None = None, params: Params | None = None
    ) -> dict[str, Structure]:
        result: dict[str, Structure] = await self._call("fetch_tickers", symbols, params or {})
        return result

    async def fetch_order_book(
        self, symbol: str, limit: int | None = None, params: Params | None = None
    ) -> Structure:
        book: Structure = await self._call("fetch_order_book", symbol, limit, params or {})
        for side in ("bids", "asks"):
            book[side] = [[_number(x) for x in level] for level in book.get(side) or []]
        return book

    async def fetch_trades(
        self, symbol: str, since: int | None = None, limit: int | None = None,
        params: Params | None = None,
    ) -> list[Structure]:
        result: list[Structure] = await self._call("fetch_trades", symbol, since, limit, params or {})
        return result

    async def fetch_ohlcv(
        self, symbol: str, timeframe: str = "1m", since: int | None = None,
        limit: int | None = None, params: Params | None = None,
    ) -> list[list[Any]]:
        await self.load_markets()
        rows = await self.exchange.fetch_ohlcv(symbol, timeframe, since, limit, params or {})
        return [[row[0], *(_number(x) for x in row[1:])] for row in rows]

    async def fetch_balance(self, params: Params | None = None) -> Structure:
        balance: Structure = await self._call("fetch_balance", params or {})
        return balance

    async def create_order(
        self, symbol: str, type: str, side: str, amount: Decimal,
        price: Decimal | None = None, params: Params | None = None,
    ) -> Structure:
        # strings keep the exact decimal; CCXT applies the market precision to them
        price_arg = None if price is None else str(price)
        # a hedge account's position side, as the exchange names it (contracts only)
        contract = bool(((await self.load_markets()).get(symbol) or {}).get("contract", True))
        order: Structure = await self._call(
            "create_order", symbol, type, side, str(amount), price_arg,
            order_params(self.id, params or {}, contract),
        )
        return order

    async def create_oco(
        self, symbol: str, side: str, amount: Decimal, legs: tuple[OcoLeg, OcoLeg],
        list_client_order_id: str,
    ) -> list[Structure]:
        """Binance spot's own OCO (`binance_oco`): one request, each leg's order structure
        back in the legs' order. Another exchange has none (`NotSupported`): acceptance
        refuses such an OCO before it is queued."""
        method = getattr(self.exchange, binance_oco.METHOD, None)
        if self.id not in binance_oco.EXCHANGES or method is None:
            raise ccxt.NotSupported(f"{self.id} has no OCO order list of its own")
        kind = (getattr(self.exchange, "options", None) or {}).get("defaultType", "spot")
        if kind != "spot":  # the order list endpoint is the spot wallet's
            raise ccxt.NotSupported(f"{self.id}'s OCO order list is spot's (defaultType {kind})")
        await self.load_markets()
        market = self.exchange.market(symbol)
        try:
            params = binance_oco.request(
                market["id"], side, self.exchange.amount_to_precision(symbol, str(amount)),
                legs, list_client_order_id,
                lambda p: self.exchange.price_to_precision(symbol, str(p)))
        except ValueError as exc:  # nothing was sent
            raise ccxt.InvalidOrder(str(exc)) from exc
        with metrics.venue_call(self.id, "create_oco"):
            answer = await method(params)
        return [decimals(self.exchange.parse_order(report, market))
                for report in binance_oco.reports_by_leg(answer, legs)]  # fmt: skip

    async def edit_order(
        self, id: str, symbol: str, type: str, side: str, amount: Decimal | None = None,
        price: Decimal | None = None, params: Params | None = None,
    ) -> Structure:
        amount_arg = None if amount is None else str(amount)
        price_arg = None if price is None else str(price)
        order: Structure = await self._call(
            "edit_order", id, symbol, type, side, amount_arg, price_arg, params or {}
        )
        return order

    async def cancel_order(
        self, id: str, symbol: str | None = None, params: Params | None = None
    ) -> Structure:
        order: Structure = await self._call("cancel_order", id, symbol, params or {})
        return order

    async def cancel_all_orders(
        self, symbol: str | None = None, params: Params | None = None
    ) -> list[Structure]:
        orders: list[Structure] = await self._call("cancel_all_orders", symbol, params or {})
        return orders

    async def fetch_order(
        self, id: str, symbol: str | None = None, params: Params | None = None
    ) -> Structure:
        """An order by id, or (no id) by `params["clientOrderId"]`: the lookup that settles an
        unknown outcome. CCXT passes a lookup's params through, and only some of its classes
        read `clientOrderId` there (`CLIENT_ID_LOOKUP` spells it for the others); an answer
        naming another client order id is no answer (`OrderNotFound`): Bybit, asked without
        its own spelling, answers with the account's first open order."""
        wanted = None if id else (params or {}).get("clientOrderId")
        exchange_id = str(getattr(self.exchange, "id", ""))
        sent = {**ORDER_LOOKUP_PARAMS.get(exchange_id, {}), **(params or {})}
        if wanted is not None:
            spelling = CLIENT_ID_LOOKUP.get(exchange_id)
            if spelling is not None:
                key, extra = spelling
                sent = {**{k: v for k, v in sent.items() if k != "clientOrderId"},
                        key: wanted, **extra}  # fmt: skip
        order: Structure = await self._call("fetch_order", id, symbol, sent)
        answered = order.get("clientOrderId")
        if wanted is not None and answered is not None and str(answered) != str(wanted):
            raise ccxt.OrderNotFound(
                f"asked for client order id {wanted}, the venue answered {answered}")
        return order

    async def _listing(self, name: str, symbol: str | None, since: int | None,
                       limit: int | None, params: Params | None) -> list[Structure]:
        result: list[Structure] = await self._call(name, symbol, since, limit, params or {})
        return result

    async def fetch_orders(self, symbol: str | None = None, since: int | None = None,
                           limit: int | None = None, params: Params | None = None
                           ) -> list[Structure]:
        return await self._listing("fetch_orders", symbol, since, limit, params)

    async def fetch_open_orders(self, symbol: str | None = None, since: int | None = None,
                                limit: int | None = None, params: Params | None = None
                                ) -> list[Structure]:
        """Every open order (of `symbol`): on an exchange that lists them a page at a time
        (`OPEN_ORDER_PAGES`), the pages after a full one too, unless the caller asked for a
        `limit` or a page itself."""
        page = await self._listing("fetch_open_orders", symbol, since, limit, params)
        paged = OPEN_ORDER_PAGES.get(self.id)
        if paged is None or limit is not None or paged[1] in (params or {}):
            return page
        size, cursor = paged
        orders = {str(o["id"]): o for o in page}
        for _ in range(MAX_PAGES - 1):
            if len(page) < size:
                break
            oldest = min(page, key=lambda o: (o.get("timestamp") or 0))  # CCXT sorts by time
            page = await self._listing("fetch_open_orders", symbol, since, None,
                                       {**(params or {}), cursor: str(oldest["id"])})  # fmt: skip
            fresh = {str(o["id"]): o for o in page if str(o["id"]) not in orders}
            if not fresh:
                break  # nothing older (or the exchange ignored the cursor)
            orders.update(fresh)
        return sorted(orders.values(), key=lambda o: o.get("timestamp") or 0)

    async def fetch_closed_orders(self, symbol: str | None = None, since: int | None = None,
                                  limit: int | None = None, params: Params | None = None
                                  ) -> list[Structure]:
        return await self._listing("fetch_closed_orders", symbol, since, limit, params)

    async def fetch_my_trades(self, symbol: str | None = None, since: int | None = None,
                              limit: int | None = None, params: Params | None = None
                              ) -> list[Structure]:
        return await self._listing("fetch_my_trades", symbol, since, limit, params)

    async def fetch_positions(
        self, symbols: list[str] | None = None, params: Params | None = None
    ) -> list[Structure]:
        result: list[Structure] = await self._call("fetch_positions", symbols, params or {})
        return result

    async def venue_hedged(self) -> bool | None:
        """Whether the exchange account is in hedge position mode (the worker compares it with
        the gateway account's at start). CCXT's `fetch_position_mode` where the class has it;
        OKX's too (its class has the method, its `has` does not list it: the `posMode` of
        `GET /api/v5/account/config`), whatever `defaultType` (CCXT's okx defaults to spot, and
        one OKX trading account holds its SPOT and SWAP with one `posMode`); Bybit's by the
        `positionIdx` of a linear symbol's position rows (its class reads no mode); None when
        there is no mode to compare: a spot account (`defaultType` spot or margin), an exchange
        whose mode CCXT does not read, no rows."""
        if self.id == "okx":
            return bool((await self._call("fetch_position_mode", None, {}))["hedged"])
        if str(self.exchange.options.get("defaultType", "spot")) in ("spot", "margin"):
            return None
        if self.has.get("fetchPositionMode"):
            mode: Structure = await self._call("fetch_position_mode", None, {})
            return None if mode.get("hedged") is None else bool(mode["hedged"])
        if self.id != "bybit":
            return None
        linear = sorted(s for s, m in (await self.load_markets()).items()
                        if m.get("linear") and m.get("swap") and m.get("active") is not False)  # fmt: skip
        if not linear:
            return None
        rows = await self.fetch_positions(linear[:1])
        flags = {bool(r["hedged"]) for r in rows if r.get("hedged") is not None}
        return flags.pop() if len(flags) == 1 else None

    # --- derivatives settings and reference data (`MarginVenuePort`), passed through ---------

    async def set_leverage(
        self, leverage: Any, symbol: str | None = None, params: Params | None = None
    ) -> Structure:
        result: Structure = await self._call("set_leverage", leverage, symbol, params or {})
        return result

    async def fetch_leverage(self, symbol: str, params: Params | None = None) -> Structure:
        result: Structure = await self._call("fetch_leverage", symbol, params or {})
        return result

    async def set_margin_mode(
        self, marginMode: str, symbol: str | None = None, params: Params | None = None
    ) -> Structure:
        result: Structure = await self._call("set_margin_mode", marginMode, symbol, params or {})
        return result

    async def fetch_margin_mode(self, symbol: str, params: Params | None = None) -> Structure:
        result: Structure = await self._call("fetch_margin_mode", symbol, params or {})
        return result

    async def fetch_margin_modes(
        self, symbols: list[str] | None = None, params: Params | None = None
    ) -> dict[str, Structure]:
        result: dict[str, Structure] = await self._call("fetch_margin_modes", symbols,
                                                        params or {})  # fmt: skip
        return result

    async def fetch_leverage_tiers(
        self, symbols: list[str] | None = None, params: Params | None = None
    ) -> dict[str, list[Structure]]:
        result: dict[str, list[Structure]] = await self._call("fetch_leverage_tiers", symbols,
                                                              params or {})  # fmt: skip
        return result

    async def fetch_market_leverage_tiers(
        self, symbol: str, params: Params | None = None
    ) -> list[Structure]:
        result: list[Structure] = await self._call("fetch_market_leverage_tiers", symbol,
                                                   params or {})  # fmt: skip
        return result

    async def fetch_trading_fee(self, symbol: str, params: Params | None = None) -> Structure:
        result: Structure = await self._call("fetch_trading_fee", symbol, params or {})
        return result

    async def fetch_trading_fees(self, params: Params | None = None) -> dict[str, Structure]:
        result: dict[str, Structure] = await self._call("fetch_trading_fees", params or {})
        return result

    async def close(self) -> None:
        """Close the exchange's sessions for good (`close_for_good`)."""
        await close_for_good(self.exchange)

    def streams(self) -> bool:
        """True for a CCXT Pro instance whose exchange watches the account's orders and
        trades (`has`), False for a plain `ccxt.async_support` one."""
        return bool(self.has.get("watchOrders") and self.has.get("watchMyTrades")
                    and hasattr(self.exchange, "watch_my_trades"))  # fmt: skip

    async def _watch(self, name: str, symbol: str | None, since: int | None, limit: int | None,
                     params: Params | None) -> list[Structure]:  # fmt: skip
        await self.load_markets()
        result = await getattr(self.exchange, name)(symbol, since, limit, params or {})
        converted: list[Structure] = decimals(list(result))
        return converted

    async def watch_my_trades(self, symbol: str | None = None, since: int | None = None,
                              limit: int | None = None,
                              params: Params | None = None) -> list[Structure]:  # fmt: skip
        return await self._watch("watch_my_trades", symbol, since, limit, params)

    async def watch_orders(self, symbol: str | None = None, since: int | None = None,
                           limit: int | None = None,
                           params: Params | None = None) -> list[Structure]:  # fmt: skip
        return await self._watch("watch_orders", symbol, since, limit, params)


def as_margin_port(venue: CcxtVenue) -> MarginVenuePort:
    """The adapter's derivatives pass-through (mypy checks CcxtVenue against the port here)."""
    return venue


def as_streaming_port(venue: CcxtVenue) -> StreamingVenuePort:
    """The adapter's private streams (mypy checks CcxtVenue against the port here)."""
    return venue
