"""The quotes the gateway reads from a CCXT venue for its clients (`fetch_ticker`,
`fetch_tickers`, `fetch_order_book`, `fetch_l2_order_book` through `/ccxt`), kept as the
venue's last quote (`market_quotes`): the reference price acceptance values an order that names
no price at (a market order against its strategy's allocation, notional limits, exposure;
`risk_snapshot.reference_price`, at most 10 s old). Nothing else brings a CCXT venue's prices
into the store. The paper venue keeps its own prices and records nothing here.

A process writes a symbol's quote at most once per `RECORD_EVERY` (bots poll tickers many
times a second between them, and a reference price may be 10 s old): a read whose quotes were
all written less than that ago writes nothing."""

from __future__ import annotations

import logging
import weakref
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from apps.oms.domain.money import DecimalFormatError, parse_decimal
from apps.oms.exchange.profiles import profile
from apps.oms.store import quotes
from apps.oms.store.store import Store

log = logging.getLogger(__name__)
QUOTE_READS = frozenset({"fetch_ticker", "fetch_tickers", "fetch_order_book",
                         "fetch_l2_order_book"})  # fmt: skip
Seen = tuple[str, Decimal | None, Decimal | None, Decimal | None]  # symbol, bid, ask, last
#: how often a process writes one symbol's quote at the most
RECORD_EVERY = timedelta(seconds=1)
#: when each (venue, symbol) quote was last written, per store
_WRITTEN: weakref.WeakKeyDictionary[Store, dict[tuple[str, str], datetime]] = (
    weakref.WeakKeyDictionary())


def due(seen: list[Seen], written: dict[tuple[str, str], datetime], exchange_id: str,
        now: datetime) -> list[Seen]:  # fmt: skip
    """The quotes to write now: those of symbols not written within `RECORD_EVERY`."""
    return [q for q in seen if (last := written.get((exchange_id, q[0]))) is None
            or now - last >= RECORD_EVERY or now < last]  # fmt: skip


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return None
    try:
        number = parse_decimal(value)
    except DecimalFormatError:
        return None
    return number if number > 0 else None


def _top(levels: Any) -> Decimal | None:
    if isinstance(levels, list) and levels and isinstance(levels[0], list) and levels[0]:
        return _number(levels[0][0])
    return None


def seen_quotes(func: str, result: Any) -> list[Seen]:
    """The quotes in a market-data answer (JSON-ready CCXT structures), by symbol: a ticker's
    bid, ask and last; an order book's best bid and ask (no last)."""
    if func in ("fetch_order_book", "fetch_l2_order_book"):
        if not isinstance(result, dict) or not isinstance(result.get("symbol"), str):
            return []
        bid, ask = _top(result.get("bids")), _top(result.get("asks"))
        return [(result["symbol"], bid, ask, None)] if bid or ask else []
    if func == "fetch_ticker":
        tickers = [result]
    elif func == "fetch_tickers" and isinstance(result, dict):
        tickers = list(result.values())
    else:
        return []
    seen: dict[str, Seen] = {}
    for ticker in tickers:
        if isinstance(ticker, dict) and isinstance(ticker.get("symbol"), str):
            bid, ask, last = (_number(ticker.get(k)) for k in ("bid", "ask", "last"))
            if bid or ask or last:
                seen[ticker["symbol"]] = (ticker["symbol"], bid, ask, last)
    return [seen[s] for s in sorted(seen)]  # one order of rows for every writer


async def record(store: Store, exchange_id: str | None, func: str, result: Any,
                 now: datetime) -> None:  # fmt: skip
    """Keep the quotes of a CCXT venue's market-data answer as its last ones. The answer stands
    whether or not they were kept (a failure is logged, never raised)."""
    if func not in QUOTE_READS or exchange_id is None or profile(exchange_id).prices_in_store:
        return
    written = _WRITTEN.setdefault(store, {})
    seen = due(seen_quotes(func, result), written, exchange_id, now)
    if not seen:
        return
    try:
        async with store.transaction() as conn:
            for symbol, bid, ask, last in seen:
                await quotes.record_quote(conn, exchange_id, symbol, bid, ask, last, now)
    except Exception:  # a store outage or a concurrent first insert: the next read records it
        log.warning("quotes of %s not recorded", exchange_id, exc_info=True)
        return
    for symbol, *_ in seen:
        written[(exchange_id, symbol)] = now
