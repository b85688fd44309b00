"""P2: REST accept latency of `POST /oms/commands` at a steady 100 commands/s (open loop).

Real uvicorn + worker + MariaDB on 127.0.0.1; market send_orders round-robin over 10 paper
accounts, executed by the worker while we measure. Prints a JSON summary.

    .venv/bin/python -m bench.p2_accept_latency --seconds 20 --rate 100 [--workers 0] [--driver asyncmy]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp

from apps.oms import heap
from bench.harness import add_client_gc, baseline_server, load, percentile, report_line, stack


async def run(
    base: str, key: str, accounts: list[int], rate: float, seconds: float
) -> dict[str, object]:
    latencies: list[float] = []
    sent_at: list[float] = []  # seconds into the run each request was sent, as `latencies`
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
            sent_at.append(start - begin)

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
        # when the slowest request was sent (a stall at the start or in the middle of a run)
        "slowest_sent_at_s": round(max(zip(latencies, sent_at, strict=True))[1], 2),
        "target": "p99 <= 10 ms",
    }


async def baseline(base: str, key: str, rate: float, seconds: float) -> dict[str, object]:
    """The same open loop against the trivial `SELECT 1` route (bench/baseline_app.py)."""
    latencies: list[float] = []
    interval = 1 / rate
    async with aiohttp.ClientSession(base, headers={"x-api-key": key}) as session:

        async def one() -> None:
            start = time.perf_counter()
            async with session.post("/baseline/select1", json={"n": 1}) as response:
                await response.read()
            latencies.append((time.perf_counter() - start) * 1000)

        tasks = []
        begin = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = begin + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return {
        "p50": round(percentile(latencies, 50), 2),
        "p99": round(percentile(latencies, 99), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (0: accept only)")
    parser.add_argument("--worker-nice", type=int, default=0, help="run workers at this nice level")
    parser.add_argument("--runs", type=int, default=3, help="rounds (the median p99 is reported)")
    parser.add_argument("--driver", choices=("aiomysql", "asyncmy"), default="aiomysql")
    add_client_gc(parser)
    args = parser.parse_args()
    load_before = load()
    runs: list[dict[str, object]] = []
    with stack(
        accounts=10, workers=args.workers, worker_nice=args.worker_nice, driver=args.driver
    ) as s:
        asyncio.run(run(s.base, s.trader_key, s.account_ids, args.rate, 2))  # warm-up
        with baseline_server(s.url) as base_url:
            asyncio.run(baseline(base_url, s.trader_key, args.rate, 2))  # warm-up
            if args.client_gc == "freeze":  # out of the timings (apps/oms/heap.py)
                heap.settle("bench client")
            for _ in range(args.runs):  # interleaved: a change of machine load hits both
                result = asyncio.run(
                    run(s.base, s.trader_key, s.account_ids, args.rate, args.seconds)
                )
                result["baseline_select_1_ms"] = asyncio.run(
                    baseline(base_url, s.trader_key, args.rate, args.seconds)
                )
                runs.append(result)
    ordered = sorted(runs, key=lambda r: float(r["latency_ms"]["p99"]))  # type: ignore[index]
    median = ordered[len(ordered) // 2]
    p99 = float(median["latency_ms"]["p99"])  # type: ignore[index]
    base_p99 = float(median["baseline_select_1_ms"]["p99"])  # type: ignore[index]
    report_line(
        "P2 accept latency",
        {
            "rate_per_s": args.rate,
            "workers": args.workers,
            "worker_nice": args.worker_nice,
            "driver": args.driver,
            "client_heap_frozen": args.client_gc == "freeze",
            "runs": args.runs,
            **median,
            "p99_ratio_to_baseline": round(p99 / base_p99, 2) if base_p99 else None,
            "all_runs_p99_ms": [r["latency_ms"]["p99"] for r in runs],  # type: ignore[index]
            "load_before": load_before,
            "load_after": load(),
        },
    )


if __name__ == "__main__":
    main()
