"""Micro-benchmark of the pure paper matching core: operations per second, JSON summary.

    .venv/bin/python bench/paper_matching.py [--seconds 2]

Operations (each on one account state, no I/O):
  market_order   place a 0.01 BTC market order (walks a finite 10-level book)
  limit_rest     place a resting limit buy below the price (reserves quote)
  cancel         cancel one resting order
  price_tick     apply a new price to an account holding 50 resting orders (fills some)
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from decimal import Decimal

from apps.paper.domain.book import BookConfig, make_quote
from apps.paper.domain.matching import (
    Outcome,
    Venue,
    apply_price,
    cancel_order,
    place_order,
)
from apps.paper.domain.state import OrderRequest, VenueAccount, new_account

D = Decimal
VENUE = Venue(book=BookConfig(spread_bps=D(2), level_volume=D("0.5"), resting_volume=D("0.1")))
MARKET = VENUE.markets.get("BTC/USDT")
QUOTE = make_quote(MARKET, D(50000), VENUE.book, seq=1)


def rich_account() -> VenueAccount:
    return new_account(1, {"USDT": D(10**9), "BTC": D(10**4)})


def measure(name: str, op: Callable[[int], Outcome], seconds: float) -> dict[str, object]:
    count, fills, start = 0, 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            fills += len(op(count).fills)
            count += 1
    elapsed = time.perf_counter() - start
    return {
        "op": name,
        "count": count,
        "seconds": round(elapsed, 3),
        "ops_per_s": round(count / elapsed),
        "fills_per_s": round(fills / elapsed),
    }


def with_resting(n: int) -> VenueAccount:
    state = rich_account()
    for i in range(n):
        price = D(49000) + D(20) * i
        state = place_order(
            state, OrderRequest("BTC/USDT", "buy", "limit", D("0.2"), price), VENUE, QUOTE, 0
        ).state
    return state


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0)
    seconds = parser.parse_args().seconds
    account = rich_account()
    market = OrderRequest("BTC/USDT", "buy", "market", D("0.01"))
    limit = OrderRequest("BTC/USDT", "buy", "limit", D("0.01"), D(49000))
    one_resting = place_order(account, limit, VENUE, QUOTE, 0)
    resting = with_resting(50)
    ticks = [
        make_quote(MARKET, D(49500) - D(i % 40) * 10, VENUE.book, seq=2 + i) for i in range(1000)
    ]
    results = [
        measure("market_order", lambda i: place_order(account, market, VENUE, QUOTE, i), seconds),
        measure("limit_rest", lambda i: place_order(account, limit, VENUE, QUOTE, i), seconds),
        measure(
            "cancel",
            lambda i: cancel_order(one_resting.state, one_resting.orders[0].order_id, i),
            seconds,
        ),
        measure(
            "price_tick_50_resting",
            lambda i: apply_price(resting, VENUE, ticks[i % 1000], i),
            seconds,
        ),
    ]
    print(
        json.dumps(
            {
                "benchmark": "paper_matching",
                "python": platform.python_version(),
                "machine": platform.machine(),
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
