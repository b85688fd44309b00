"""The cost of the request budget per exchange call: a `ccxt.async_support.binance` instance
whose `fetch` answers at once (no network), calling `fetch_time` (CCXT's cost 0.2, a weight of
1), without any limiter, with CCXT's own in-process bucket (its rate set high enough never to
wait), and with the budget over an SQLite or MariaDB store (a limit high enough never to wait:
what is measured is the hook, the local spending and the slice reservations, one per 300
calls as with Binance's real limit).
Medians of three rounds; one JSON line: µs per call and store round trips per 1,000 calls.

    nice -n 19 .venv/bin/python -m bench.request_budget [--calls 5000] [--store URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt_async

from apps.oms.config import Settings
from apps.oms.exchange.ccxt.instances import store_budgets
from apps.oms.store.migrate import upgrade_async
from apps.oms.store.store import Store


def instance(rate_limited: bool) -> Any:
    exchange = ccxt_async.binance({"enableRateLimit": rate_limited, "rateLimit": 0.001})

    async def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        return {"serverTime": 1}

    exchange.fetch = fetch
    return exchange


async def per_call_us(exchange: Any, calls: int) -> float:
    await exchange.fetch_time()  # warm
    started = time.perf_counter()
    for _ in range(calls):
        await exchange.fetch_time()
    return (time.perf_counter() - started) / calls * 1e6


async def main(calls: int, url: str) -> dict[str, Any]:
    await upgrade_async(url)
    store = Store.from_url(url, pool_size=2)
    settings = Settings(budget={"limits": {"binance": {"units": 10**9, "window_ms": 60_000}}})
    round_trips = 0
    rounds: dict[str, list[float]] = {"none": [], "ccxt_bucket": [], "budget": []}
    try:
        for _ in range(3):
            for name in rounds:
                exchange = instance(name != "none")
                if name == "budget":
                    budgets = store_budgets(store, settings)
                    assert budgets is not None
                    budget = budgets.attach(exchange, 1)
                    # slices of 300 weight, as Binance's real limit gives (5% of 6000)
                    budget.limit = budget.purse.limit = replace(
                        budget.limit, slice_share=Decimal(300) / budget.limit.units)
                    ledger = budget.ledger

                    async def counted(*args: Any, _ledger: Any = ledger) -> Any:
                        nonlocal round_trips
                        round_trips += 1
                        return await _ledger(*args)

                    budget.ledger = counted
                try:
                    rounds[name].append(await per_call_us(exchange, calls))
                finally:
                    await exchange.close()
    finally:
        await store.close()
    medians = {name: round(statistics.median(v), 1) for name, v in rounds.items()}
    return {"calls": calls, "store": url.split(":")[0], "us_per_call": medians,
            "budget_minus_none_us": round(medians["budget"] - medians["none"], 1),
            "store_round_trips_per_1000_calls": round(round_trips / (3 * (calls + 1)) * 1000, 2)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--store", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.store or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        print(json.dumps(asyncio.run(main(args.calls, url))))
