"""Client CPU of one per-request key read (`PrincipalCache.authenticate`, a cached key: what
every authenticated request pays) and of one whole `Store.read()` around a `SELECT 1` (checkout,
query, end of the transaction, return to the pool), and their ratio, which survives a change of
machine (docs/benchmarks-history.md → Eighth round).

    .venv/bin/python -m bench.read_cost --calls 2000 --runs 3 [--driver asyncmy]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

from apps.oms.service.auth_cache import PrincipalCache
from apps.oms.store.store import Store
from bench.harness import PEPPER, _seed, report, scratch_database


async def cpu_us(call: Callable[[], Awaitable[object]], calls: int) -> float:
    for _ in range(100):  # warm: pool, compiled statements, the cached principal
        await call()
    began = time.process_time()
    for _ in range(calls):
        await call()
    return round((time.process_time() - began) / calls * 1e6, 1)


async def measure(url: str, calls: int) -> dict[str, float]:
    _admin, key, _ids = await _seed(url, 1, "hedge")
    store = Store.from_url(url, pool_size=2)
    cache = PrincipalCache(store, PEPPER)
    try:

        async def read_select_1() -> object:
            async with store.read() as conn:
                return (await conn.exec_driver_sql("SELECT 1")).first()

        read = await cpu_us(read_select_1, calls)
        auth = await cpu_us(lambda: cache.authenticate(key), calls)
        return {"read_select_1_us": read, "authenticate_us": auth,
                "authenticate_per_read": round(auth / read, 3)}  # fmt: skip
    finally:
        await store.close()


def run_once(calls: int, driver: str) -> dict[str, float]:
    with scratch_database("oms_readcost", driver) as (_name, url):
        return asyncio.run(measure(url, calls))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--driver", choices=["aiomysql", "asyncmy"], default="aiomysql")
    args = parser.parse_args()
    runs = [run_once(args.calls, args.driver) for _ in range(args.runs)]
    medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    report("read cost", {"client_cpu_per_call": medians, "runs": runs, "calls": args.calls,
                         "driver": args.driver})  # fmt: skip


if __name__ == "__main__":
    main()
