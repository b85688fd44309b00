"""The functions of MetaTrader 5's Python package (`import MetaTrader5 as mt5`), with its
signatures and semantics, on the gateway: one connection per process (`initialize`), every
function answering None / False / 0 on failure with the reason in `last_error()`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from mt5_driver import account, ledger, rates, symbols, trading
from mt5_driver import constants as c
from mt5_driver import requests as rq
from mt5_driver.books import OPEN_STATES, trade_deals, trade_order, trade_position
from mt5_driver.convert import day, in_group, ms_of, seconds
from mt5_driver.errors import NOT_CONNECTED, RES_TEXT, Failure, failure_of
from mt5_driver.session import Market, Session, connect
from mt5_driver.structures import (
    AccountInfo,
    BookInfo,
    OrderCheckResult,
    OrderSendResult,
    SymbolInfo,
    TerminalInfo,
    Tick,
    TradeDeal,
    TradeOrder,
    TradePosition,
)

T = TypeVar("T")
D = TypeVar("D")
Time = datetime | int | float
_lock = threading.RLock()
_state: dict[str, Any] = {"session": None, "error": (c.RES_S_OK, RES_TEXT[c.RES_S_OK])}


def _session() -> Session:
    found: Session | None = _state["session"]
    if found is None:
        raise NOT_CONNECTED
    return found


def _run(call: Callable[[], T], default: D) -> T | D:
    """Run one function: its answer and `last_error()` = success, or `default` and the reason."""
    with _lock:
        try:
            value = call()
        except Exception as exc:  # every failure is reported by last_error()
            failure = failure_of(exc)
            _state["error"] = (failure.code, str(failure))
            return default
        _state["error"] = (c.RES_S_OK, RES_TEXT[c.RES_S_OK])
        return value


def last_error() -> tuple[int, str]:
    """(code, description) of the last call: `RES_S_OK` after a success, else a `RES_E_*`."""
    with _lock:
        code, text = _state["error"]
        return int(code), str(text)


def initialize(path: str | None = None, *, login: int | None = None,
               password: str | None = None, server: str | None = None, timeout: int = 60_000,
               portable: bool = False) -> bool:  # fmt: skip
    """Connect to the gateway: `server` its URL, `login` the account id, `password` the API
    key (defaults: `session.py`). `path` and `portable` locate a terminal: there is none."""

    def run() -> bool:
        shutdown_session()
        _state["session"] = connect(login, password, server, timeout)
        return True

    return _run(run, False)


def login(login: int, password: str | None = None, server: str | None = None,
          timeout: int = 60_000) -> bool:  # fmt: skip
    """Switch to another account (on the same gateway unless `server` is given)."""

    def run() -> bool:
        current = _session()
        key = password or current.gateway.api_key
        new = connect(login, key, server or current.gateway.base_url, timeout)
        shutdown_session()
        _state["session"] = new
        return True

    return _run(run, False)


def shutdown_session() -> None:
    found: Session | None = _state["session"]
    if found is not None:
        found.gateway.close()
    _state["session"] = None


def shutdown() -> None:
    """Close the connection; functions answer `RES_E_INTERNAL_FAIL_CONNECT` until the next
    `initialize()`."""
    with _lock:
        shutdown_session()


def version() -> tuple[int, int, str] | None:
    """(500, build, release): the MetaTrader 5 build whose API this follows, and the gateway."""

    def run() -> tuple[int, int, str]:
        health = _session().gateway.get("/healthz")
        return 500, account.BUILD, f"{account.COMPANY} {health.get('version', '')}".strip()

    return _run(run, None)


def account_info() -> AccountInfo | None:
    return _run(lambda: account.account_info(_session()), None)


def terminal_info() -> TerminalInfo | None:
    return _run(lambda: account.terminal_info(_session()), None)


# --- symbols and market data -------------------------------------------------------------


def _ticker(s: Session, market: Market) -> dict[str, Any]:
    answer: dict[str, Any] = s.gateway.post(f"/ccxt/{s.login}/fetch_ticker",
                                            {"args": [market.symbol]})["result"]  # fmt: skip
    return answer


def _info(s: Session, market: Market, ticker: dict[str, Any]) -> SymbolInfo:
    return symbols.symbol_info(market, ticker, visible=market.name not in s.hidden,
                               hedging=s.hedging,
                               exchange_id=str(s.account.get("exchange_id")))  # fmt: skip


def symbols_total() -> int:
    return _run(lambda: len(_session().markets), 0)


def symbols_get(group: str | None = None) -> tuple[SymbolInfo, ...] | None:
    def run() -> tuple[SymbolInfo, ...]:
        s = _session()
        chosen = [m for m in s.markets.values() if group is None or in_group(m.name, group)]
        if not chosen:
            return ()
        tickers = s.gateway.post(f"/ccxt/{s.login}/fetch_tickers",
                                 {"args": [[m.symbol for m in chosen]]})["result"]  # fmt: skip
        return tuple(_info(s, m, tickers.get(m.symbol) or {}) for m in chosen)

    return _run(run, None)


def symbol_info(symbol: str) -> SymbolInfo | None:
    def run() -> SymbolInfo:
        s = _session()
        market = s.market(symbol)
        return _info(s, market, _ticker(s, market))

    return _run(run, None)


def symbol_info_tick(symbol: str) -> Tick | None:
    def run() -> Tick:
        s = _session()
        return symbols.tick_of(_ticker(s, s.market(symbol)))

    return _run(run, None)


def symbol_select(symbol: str, enable: bool = True) -> bool:
    """Show or hide a symbol in the market watch (`SymbolInfo.visible`); every market is
    shown at first. A symbol with open positions cannot be hidden."""

    def run() -> bool:
        s = _session()
        market = s.market(symbol)
        if enable:
            s.hidden.discard(market.name)
            return True
        if any(p["symbol"] == market.symbol for p in ledger.open_positions(s)):
            raise Failure(c.RES_E_FAIL, f"{symbol} has open positions")
        s.hidden.add(market.name)
        return True

    return _run(run, False)


def market_book_add(symbol: str) -> bool:
    def run() -> bool:
        s = _session()
        s.books.add(s.market(symbol).name)
        return True

    return _run(run, False)


def market_book_get(symbol: str) -> tuple[BookInfo, ...] | None:
    """The depth of market now (`fetch_order_book`), after `market_book_add(symbol)`."""

    def run() -> tuple[BookInfo, ...]:
        s = _session()
        market = s.market(symbol)
        if market.name not in s.books:
            raise Failure(c.RES_E_FAIL, f"market_book_add({symbol!r}) first")
        book = s.gateway.post(f"/ccxt/{s.login}/fetch_order_book",
                              {"args": [market.symbol, symbols.BOOK_DEPTH]})["result"]  # fmt: skip
        return symbols.book_rows(book)

    return _run(run, None)


def market_book_release(symbol: str) -> bool:
    def run() -> bool:
        s = _session()
        name = s.market(symbol).name
        if name not in s.books:
            raise Failure(c.RES_E_FAIL, f"{symbol} has no market book subscription")
        s.books.discard(name)
        return True

    return _run(run, False)


def _fetch(s: Session, market: Market) -> rates.Fetch:
    def fetch(timeframe: str, since_ms: int, limit: int) -> list[list[Any]]:
        answer: list[list[Any]] = s.gateway.post(
            f"/ccxt/{s.login}/fetch_ohlcv",
            {"args": [market.symbol, timeframe, since_ms, limit]})["result"]  # fmt: skip
        return answer

    return fetch


def _bars(symbol: str, timeframe: int, start: int, end: int) -> list[rates.Candle]:
    s = _session()
    market = s.market(symbol)
    if not s.served:
        found = s.gateway.get(f"/ccxt/{s.login}/has").get("timeframes") or {}
        s.served = rates.served_seconds(found)
    return rates.candles(_fetch(s, market), s.served, timeframe, start, end)


def copy_rates_from(symbol: str, timeframe: int, date_from: Time, count: int, /
                    ) -> npt.NDArray[np.void] | None:  # fmt: skip
    """`count` bars opening at or before `date_from`, oldest first."""

    def run() -> npt.NDArray[np.void]:
        end = seconds(date_from)
        start = end - (count + 1) * rates.period(timeframe)
        return rates.rates_array(_bars(symbol, timeframe, start, end)[-count:] if count else [])

    return _run(run, None)


def copy_rates_from_pos(symbol: str, timeframe: int, start_pos: int, count: int, /
                        ) -> npt.NDArray[np.void] | None:  # fmt: skip
    """`count` bars from bar `start_pos` back (0 is the bar open now), oldest first."""

    def run() -> npt.NDArray[np.void]:
        end = rates.now()
        start = end - (start_pos + count + 1) * rates.period(timeframe)
        bars = _bars(symbol, timeframe, start, end)
        stop = len(bars) - start_pos
        return rates.rates_array(bars[max(stop - count, 0):max(stop, 0)])

    return _run(run, None)


def copy_rates_range(symbol: str, timeframe: int, date_from: Time, date_to: Time, /
                     ) -> npt.NDArray[np.void] | None:  # fmt: skip
    """The bars opening in [date_from, date_to] (empty before the venue's history)."""
    return _run(lambda: rates.rates_array(
        _bars(symbol, timeframe, seconds(date_from), seconds(date_to))), None)


def _ticks(symbol: str, start_ms: int, end_ms: int, count: int | None, flags: int
           ) -> npt.NDArray[np.void]:  # fmt: skip
    s = _session()
    market = s.market(symbol)
    quotes, trades = rates.wanted(flags)
    found = []
    if trades:
        page = s.gateway.post(f"/ccxt/{s.login}/fetch_trades",
                              {"args": [market.symbol, start_ms, count]})["result"]  # fmt: skip
        found += rates.trade_ticks(page)
    if quotes:
        found.append(rates.quote_tick(_ticker(s, market)))
    chosen = sorted(t for t in found if start_ms <= t[0] <= end_ms)
    return rates.ticks_array(chosen[:count] if count is not None else chosen)


def copy_ticks_from(symbol: str, date_from: Time, count: int, flags: int, /
                    ) -> npt.NDArray[np.void] | None:  # fmt: skip
    """Ticks from `date_from` on: the venue's public trades (`COPY_TICKS_TRADE`) and the last
    quote (`COPY_TICKS_INFO`); the gateway keeps no quote history."""
    return _run(lambda: _ticks(symbol, seconds(date_from) * 1000, 2**62, count, flags), None)


def copy_ticks_range(symbol: str, date_from: Time, date_to: Time, flags: int, /
                     ) -> npt.NDArray[np.void] | None:  # fmt: skip
    return _run(lambda: _ticks(symbol, seconds(date_from) * 1000,
                               seconds(date_to) * 1000 + 999, None, flags), None)  # fmt: skip


# --- orders, positions, history ------------------------------------------------------------


def _open_orders(s: Session) -> list[dict[str, Any]]:
    items = s.gateway.get("/oms/orders/open", account_ids=s.login, limit=5000)["items"]
    return sorted(items, key=lambda o: int(o["id"]))


def _pick(s: Session, rows: list[dict[str, Any]], symbol: str | None, group: str | None,
          ticket: int | None, ticket_of: Callable[[dict[str, Any]], int]
          ) -> list[dict[str, Any]]:  # fmt: skip
    """MetaTrader's filters: a symbol (which wins over the ticket), a group, a ticket."""
    if symbol is not None:
        wanted = s.markets[symbol].symbol if symbol in s.markets else None
        return [r for r in rows if r["symbol"] == wanted]
    if group is not None:
        rows = [r for r in rows if in_group(s.name_of(str(r["symbol"])), group)]
    if ticket is not None:
        rows = [r for r in rows if ticket_of(r) == ticket]
    return rows


def orders_total() -> int:
    return _run(lambda: len(_open_orders(_session())), 0)


def orders_get(*, symbol: str | None = None, group: str | None = None,
               ticket: int | None = None) -> tuple[TradeOrder, ...] | None:  # fmt: skip
    def run() -> tuple[TradeOrder, ...]:
        s = _session()
        rows = _pick(s, _open_orders(s), symbol, group, ticket, lambda o: int(o["id"]))
        look = ledger.lookup(s)
        prices = {r["symbol"]: float(_ticker(s, s.by_symbol[r["symbol"]]).get("last") or 0)
                  for r in rows if r["symbol"] in s.by_symbol}  # fmt: skip
        return tuple(trade_order(o, look, prices.get(o["symbol"], 0.0)) for o in rows)

    return _run(run, None)


def positions_total() -> int:
    return _run(lambda: len(ledger.open_positions(_session())), 0)


def positions_get(*, symbol: str | None = None, group: str | None = None,
                  ticket: int | None = None) -> tuple[TradePosition, ...] | None:  # fmt: skip
    def run() -> tuple[TradePosition, ...]:
        s = _session()
        rows = sorted(ledger.open_positions(s), key=lambda p: int(p["id"]))
        rows = _pick(s, rows, symbol, group, ticket, lambda p: ledger.ticket(s, int(p["id"])))
        look = ledger.lookup(s)
        return tuple(trade_position(p, look) for p in rows)

    return _run(run, None)


def _span(date_from: Time | None, date_to: Time | None) -> tuple[int, int]:
    return (seconds(date_from) if date_from is not None else 0,
            seconds(date_to) if date_to is not None else 2**40)  # fmt: skip


def _history(s: Session, path: str, start: int, end: int) -> list[dict[str, Any]]:
    return ledger.pages(s, path, start_date=day(start), end_date=day(min(end, 2**35)))


def _history_orders(s: Session, date_from: Time | None, date_to: Time | None, group: str | None,
                    ticket: int | None, position: int | None) -> list[dict[str, Any]]:  # fmt: skip
    if ticket is not None:
        rows = s.gateway.get(f"/oms/orders/{ticket}", account_ids=s.login)["items"]
    elif position is not None:
        ids = sorted({int(d["order_id"]) for pid in ledger.positions_of_ticket(s, position)
                      for d in ledger.deals(s, position_id=pid) if d.get("order_id")})
        rows = s.gateway.get("/oms/orders/" + ",".join(map(str, ids)),
                             account_ids=s.login)["items"] if ids else []  # fmt: skip
    else:
        start, end = _span(date_from, date_to)
        rows = [o for o in _history(s, "/oms/orders/history", start, end)
                if start * 1000 <= ms_of(o["created_at"]) <= end * 1000 + 999]  # fmt: skip
        rows = _pick(s, rows, None, group, None, lambda o: 0)
    return sorted((o for o in rows if o["status"] not in OPEN_STATES), key=lambda o: int(o["id"]))


def history_orders_total(date_from: Time, date_to: Time, /) -> int:
    return _run(lambda: len(_history_orders(_session(), date_from, date_to, None, None, None)), 0)


def history_orders_get(date_from: Time | None = None, date_to: Time | None = None, /, *,
                       group: str | None = None, ticket: int | None = None,
                       position: int | None = None) -> tuple[TradeOrder, ...] | None:  # fmt: skip
    """Orders no longer active whose setup time is in the range; or by `ticket`, or every
    order of the position `position` (its ticket)."""

    def run() -> tuple[TradeOrder, ...]:
        s = _session()
        look = ledger.lookup(s)
        rows = _history_orders(s, date_from, date_to, group, ticket, position)
        return tuple(trade_order(o, look) for o in rows)

    return _run(run, None)


def _history_deals(s: Session, date_from: Time | None, date_to: Time | None, group: str | None,
                   ticket: int | None, position: int | None) -> list[TradeDeal]:  # fmt: skip
    look = ledger.lookup(s)
    if ticket is not None:  # MetaTrader: the deals of the order with this ticket
        return trade_deals(ledger.deals(s, order_id=ticket), look)
    if position is not None:
        rows = [d for pid in ledger.positions_of_ticket(s, position)
                for d in ledger.deals(s, position_id=pid)]  # fmt: skip
        return trade_deals(rows, look)
    start, end = _span(date_from, date_to)
    rows = [d for d in _history(s, "/oms/deals", start, end)
            if start * 1000 <= ms_of(d["executed_at"]) <= end * 1000 + 999]  # fmt: skip
    return trade_deals(_pick(s, rows, None, group, None, lambda d: 0), look)


def history_deals_total(date_from: Time, date_to: Time, /) -> int:
    return _run(lambda: len(_history_deals(_session(), date_from, date_to, None, None, None)), 0)


def history_deals_get(date_from: Time | None = None, date_to: Time | None = None, /, *,
                      group: str | None = None, ticket: int | None = None,
                      position: int | None = None) -> tuple[TradeDeal, ...] | None:  # fmt: skip
    """Deals executed in the range; or those of the order `ticket`, or of the position
    `position` (its ticket)."""
    return _run(lambda: tuple(_history_deals(_session(), date_from, date_to, group, ticket,
                                             position)), None)  # fmt: skip


# --- trading -------------------------------------------------------------------------------


def order_calc_margin(action: int, symbol: str, volume: float, price: float, /) -> float | None:
    def run() -> float:
        s = _session()
        if action not in range(c.ORDER_TYPE_BUY, c.ORDER_TYPE_SELL_STOP_LIMIT + 1):
            raise Failure(c.RES_E_INVALID_PARAMS, f"{action} is no order type")
        return account.calc_margin(s, s.market(symbol), volume, price)

    return _run(run, None)


def order_calc_profit(action: int, symbol: str, volume: float, price_open: float,
                      price_close: float, /) -> float | None:  # fmt: skip
    def run() -> float:
        if action not in (c.ORDER_TYPE_BUY, c.ORDER_TYPE_SELL):
            raise Failure(c.RES_E_INVALID_PARAMS, "action is ORDER_TYPE_BUY or ORDER_TYPE_SELL")
        market = _session().market(symbol)
        return account.calc_profit(market, action == c.ORDER_TYPE_BUY, volume, price_open,
                                   price_close)  # fmt: skip

    return _run(run, None)


def order_check(request: Mapping[str, Any]) -> OrderCheckResult | None:
    """Would the request be accepted, and the account after it (retcode 0: yes)."""

    def run() -> OrderCheckResult:
        s = _session()
        req = rq.normalize(request)
        try:
            trading.plan(s, req, strict=True)
        except rq.Refused as refused:
            money = account.figures(s)
            return OrderCheckResult(refused.retcode, float(money["balance"]),
                                    float(money["equity"]), float(money["profit"]),
                                    float(money["margin"]), float(money["margin_free"]),
                                    float(money["margin_level"]), refused.comment, req)  # fmt: skip
        return account.check(s, req, s.markets.get(req.symbol))

    return _run(run, None)


def order_send(request: Mapping[str, Any]) -> OrderSendResult | None:
    """Send a trade request; the answer carries MetaTrader's return code (`retcode`) and the
    gateway's tickets (`order`, `deal`) and command id (`request_id`)."""
    return _run(lambda: trading.send(_session(), rq.normalize(request)), None)
