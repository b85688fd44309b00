"""P2: REST accept latency of `POST /oms/commands` at a steady 100 commands/s (open loop).

Real uvicorn + worker + MariaDB on 127.0.0.1; market send_orders round-robin over 10 paper
accounts, executed by the worker while we measure. Prints a JSON summary.

    .venv/bin/python bench/p2_accept_latency.py --seconds 20 --rate 100
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp

from bench.harness import percentile, report, stack


async def run(
    base: str, key: str, accounts: list[int], rate: float, seconds: float
) -> dict[str, object]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    interval = 1 / rate
    async with aiohttp.ClientSession(base, headers={"x-api-key": key}) as session:

        async def one(i: int) -> None:
            body = {
                "account_id": accounts[i % len(accounts)],
                "command": "send_order",
                "payload": {
                    "symbol": "BTC/USDT:USDT",
                    "side": "buy" if i % 2 else "sell",
                    "type": "market",
                    "qty": "0.001",
                },
            }
            start = time.perf_counter()
            async with session.post("/oms/commands", json=body) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
            latencies.append((time.perf_counter() - start) * 1000)

        tasks = []
        begin = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = begin + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - begin
    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "statuses": statuses,
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 2),
            "p90": round(percentile(latencies, 90), 2),
            "p99": round(percentile(latencies, 99), 2),
            "max": round(max(latencies), 2),
        },
        "target": "p99 <= 10 ms",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (0: accept only)")
    parser.add_argument("--worker-nice", type=int, default=0, help="run workers at this nice level")
    args = parser.parse_args()
    with stack(accounts=10, workers=args.workers, worker_nice=args.worker_nice) as s:
        asyncio.run(run(s.base, s.trader_key, s.account_ids, args.rate, 2))  # warm-up
        result = asyncio.run(run(s.base, s.trader_key, s.account_ids, args.rate, args.seconds))
    report(
        "P2 accept latency",
        {
            "rate_per_s": args.rate,
            "workers": args.workers,
            "worker_nice": args.worker_nice,
            **result,
        },
    )


if __name__ == "__main__":
    main()
