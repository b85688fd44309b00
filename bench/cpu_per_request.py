"""API CPU per request (process CPU time, user + system) of the real app, called in-process as
ASGI (no HTTP client, no load generator in the measured process) on a fresh MariaDB database:
`SELECT 1` baseline route (bench/baseline_app.py, same store and driver), `GET /oms/positions/open`
and `/oms/orders/open` (limit=100, 1,000 open rows over 10 accounts), and `POST /oms/commands`
send_order (single, and a list of `--batch` sends, 10 by default). Rounds interleaved, medians
of three; figures are also given as ratios to the baseline, which survive a change of machine.
One JSON line.

    .venv/bin/python -m bench.cpu_per_request [--driver asyncmy] [--requests 300] [--batch 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI

from apps.api.app import create_app
from apps.oms.clock import utcnow
from apps.oms.config import load_settings
from apps.oms.store import sequencer
from apps.oms.store.migrate import upgrade
from bench.baseline_app import app_from_env
from bench.harness import PEPPER, _mysql, _seed, load, report_line
from bench.p4_reads import seed_rows

Call = Callable[[], Awaitable[dict[str, Any]]]


async def call(app: FastAPI, method: str, path: str, key: str, body: bytes = b"") -> dict[str, Any]:
    bare, _, query = path.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": bare, "raw_path": bare.encode(), "query_string": query.encode(),
        "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "app": app,
        "headers": [(b"host", b"bench"), (b"x-api-key", key.encode()),
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
    }  # fmt: skip
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # never disconnects
        raise AssertionError("unreachable")

    out: dict[str, Any] = {"body": b""}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return out


async def cpu_ms(fn: Call, n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        result = await fn()
        if result["status"] != 200:
            raise RuntimeError(f"status {result['status']}: {result['body'][:300]!r}")
    return (time.process_time() - start) * 1000 / n


async def settle(app: FastAPI) -> None:
    """What a worker's sequencer does for the accepted commands' events, then the API's tailer
    (unmeasured): reads after accepts are answered by the read model again, as with a worker."""
    store = app.state.store
    async with store.transaction() as conn:
        await sequencer.ensure_state(conn, utcnow())
    while True:
        async with store.transaction() as conn:
            if not await sequencer.assign(conn, utcnow()):
                break
    while await app.state.stream_hub.poll_once():
        pass


async def measure(
    url: str, requests: int, runs: int, read_model: bool, batch: int = 10
) -> dict[str, Any]:
    _admin, key, ids = await _seed(url, 10, "hedge")
    await seed_rows(url, ids, 100)
    settings = load_settings(
        database={"url": url}, security={"api_key_pepper": PEPPER}, api={"read_model": read_model}
    )
    app = create_app(settings)
    os.environ["OMS_DATABASE_URL"] = url
    baseline = app_from_env()
    counter = iter(range(10**9))

    def order() -> dict[str, Any]:
        n = next(counter)
        return {"account_id": ids[n % len(ids)], "command": "send_order",
                "payload": {"symbol": "BTC/USDT:USDT", "side": "buy" if n % 2 else "sell",
                            "type": "market", "qty": "0.001"}}  # fmt: skip

    every = ",".join(map(str, ids))
    cases: dict[str, tuple[Call, int]] = {
        "baseline_select_1": (lambda: call(baseline, "GET", "/baseline/select1", ""), 1),
        "positions_open": (
            lambda: call(app, "GET", f"/oms/positions/open?limit=100&account_ids={every}", key),
            1,
        ),
        "orders_open": (
            lambda: call(app, "GET", f"/oms/orders/open?limit=100&account_ids={every}", key),
            1,
        ),
        "accept_send_order": (
            lambda: call(app, "POST", "/oms/commands", key, json.dumps(order()).encode()),
            1,
        ),
        f"accept_batch_of_{batch}_per_command": (
            lambda: call(
                app, "POST", "/oms/commands", key,
                json.dumps([order() for _ in range(batch)]).encode(),
            ),
            batch,
        ),
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    async with app.router.lifespan_context(app), baseline.router.lifespan_context(baseline):
        for fn, _ in cases.values():
            await cpu_ms(fn, 20)  # warm-up (caches, pools, first-use key touch)
        await settle(app)
        for _ in range(runs):
            for name, (fn, per) in cases.items():
                n = max(1, requests // per)
                samples[name].append(round(await cpu_ms(fn, n) / per, 3))
            await settle(app)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians["baseline_select_1"]
    return {
        "cpu_ms_per_request": medians,
        "ratio_to_baseline": {k: round(v / base, 2) for k, v in medians.items()},
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--driver", choices=("aiomysql", "asyncmy"), default="aiomysql")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=10, help="sends per list in the list case")
    parser.add_argument(
        "--read-model", choices=("on", "off"), default="on",
        help="off: open reads from the store (the fallback path), for comparison",
    )  # fmt: skip
    args = parser.parse_args()
    load_before = load()
    name = f"oms_bench_cpu_{os.getpid()}_{int(time.time())}"
    _mysql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    url = f"mysql+{args.driver}://root@127.0.0.1:3306/{name}"
    try:
        upgrade(url)
        result = asyncio.run(measure(url, args.requests, args.runs, args.read_model == "on", args.batch))
    finally:
        _mysql(f"DROP DATABASE IF EXISTS `{name}`")
    report_line(
        "API CPU per request",
        {
            "driver": args.driver,
            "read_model": args.read_model,
            "requests": args.requests,
            "runs": args.runs,
            **result,
            "note": "in-process ASGI; no worker runs (accepted commands stay queued)",
            "load_before": load_before,
            "load_after": load(),
        },
    )


if __name__ == "__main__":
    main()
