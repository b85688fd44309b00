"""P3: accept → `position_*` event received on a websocket, at a steady 100 commands/s.

Real uvicorn + worker + MariaDB (bench/harness.py). One websocket client subscribes to every
account; market send_orders go out open-loop over 10 paper accounts. For each command we match
its `deal_created` (by order id) to the `position_*` event that follows it in the same commit
and time it from the moment the HTTP request was sent and from the moment it was acknowledged.
The stack's first `--warmup` seconds (default 2) run at the same rate and are reported apart
(`warmup`): each account's first lease, its venue's markets and prices and the statement plans
built on first use made the first ~0.4 s of every run 60-220 ms per command, ~40 commands, a
cold start that alone decided the p99 of a 20-second run. The timed run starts once the worker
has registered (`harness.wait_workers`) and, by default, with this client's heap frozen
(`--client-gc`).

    .venv/bin/python -m bench.p3_ws_latency --seconds 20 --rate 100

`--venue wire:binanceusdm` (or `wire:binance`) runs the same over the wire: the 10 accounts are
CCXT accounts of a venue served as its own process (bench/wire.py); the run then also reports
the venue's CPU per command, the share of the worker's CPU spent in CCXT (its CPU sampled over
the timed run, `worker_profile`) and `cpu_split_ms_per_command` (gateway, CCXT, venue).

    .venv/bin/python -m bench.p3_ws_latency --seconds 10 --venue wire:binanceusdm

`--stages` also reads the worker's metrics endpoint before and after the timed run and reports
the mean time of each stage of a batch of sends over the run (`oms_send_stage_seconds`:
write_ahead, place, record, and of the group commit group_wait and group_tx).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import aiohttp
import websockets

from apps.oms import heap
from bench import wire
from bench.harness import (
    Stack,
    add_client_gc,
    cpu_per_command,
    free_port,
    mysql_connect,
    percentile,
    record_shape,
    report,
    stack_cpu,
)


async def listen(ws: Any, deals: dict[int, int], received: dict[int, float]) -> None:
    """order_id of the latest deal per position; time of the first position_* event after it."""
    pending: dict[int, int] = {}  # position_id -> order_id
    async for text in ws:
        message = json.loads(text)
        event, payload = message.get("event", ""), message.get("payload") or {}
        if event == "deal_created":
            pending[int(payload["position_id"])] = int(payload["order_id"])
        elif event.startswith("position_") and payload.get("position_id") is not None:
            order_id = pending.pop(int(payload["position_id"]), None)
            if order_id is not None and order_id not in received:
                received[order_id] = time.perf_counter()
                deals[order_id] = int(message["seq"])


STAGE = "oms_send_stage_seconds"
COUNTERS = {"Questions": "all", "Com_select": "select", "Com_insert": "insert",
            "Com_update": "update", "Com_delete": "delete", "Com_commit": "commit"}  # fmt: skip


def statement_counts() -> dict[str, int]:
    """The server's statement counters (`SHOW GLOBAL STATUS`) by kind."""
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN ("
                    + ", ".join(f"'{name}'" for name in COUNTERS) + ")")
        return {COUNTERS[name]: int(value) for name, value in cur.fetchall()}


async def stage_totals(session: aiohttp.ClientSession, url: str) -> dict[str, tuple[float, float]]:
    """Per stage, the histogram's (sum, count) as the worker's metrics endpoint reports it."""
    async with session.get(url) as response:
        text = await response.text()
    found: dict[str, list[float]] = {}
    for line in text.splitlines():
        for part, at in ((f"{STAGE}_sum{{", 0), (f"{STAGE}_count{{", 1)):
            if line.startswith(part):
                stage = line.split('stage="', 1)[1].split('"', 1)[0]
                found.setdefault(stage, [0.0, 0.0])[at] = float(line.rsplit(" ", 1)[1])
    return {stage: (v[0], v[1]) for stage, v in found.items()}


def stage_means(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]
) -> dict[str, dict[str, float]]:
    """Mean ms and count of each stage between two readings."""
    means: dict[str, dict[str, float]] = {}
    for stage, (total, count) in sorted(after.items()):
        total_0, count_0 = before.get(stage, (0.0, 0.0))
        if count > count_0:
            means[stage] = {"mean_ms": round((total - total_0) / (count - count_0) * 1000, 2),
                            "count": count - count_0}  # fmt: skip
    return means


async def run(
    s: Stack, rate: float, seconds: float, freeze: bool = True, warmup: float = 2.0,
    metrics_url: str | None = None, symbol: str = "BTC/USDT",
) -> dict[str, Any]:
    """`warmup` seconds at the same rate first, timed apart (the stack's first commands: each
    account's first lease, venue markets and prices, statement plans built on first use),
    then the measured `seconds`."""
    base, key, accounts = s.base, s.trader_key, s.account_ids
    received: dict[int, float] = {}
    deals: dict[int, int] = {}
    ws = await websockets.connect(
        base.replace("http", "ws") + "/ws", additional_headers={"x-api-key": key}, max_queue=None
    )
    await ws.recv()
    await ws.send(
        json.dumps(
            {
                "id": 1,
                "action": "subscribe",
                "payload": {"account_ids": accounts, "with_snapshot": False},
            }
        )
    )
    await ws.recv()
    listener = asyncio.create_task(listen(ws, deals, received))
    async with aiohttp.ClientSession(base, headers={"x-api-key": key}) as session:

        async def one(i: int, sent: dict[int, tuple[float, float]]) -> None:
            body = {
                "account_id": accounts[i % len(accounts)],
                "command": "send_order",
                "payload": {"symbol": symbol, "side": "buy", "type": "market", "qty": "0.001"},
            }
            start = time.perf_counter()
            async with session.post("/oms/commands", json=body) as response:
                item = (await response.json())["results"][0]
            sent[int(item["order_id"])] = (start, time.perf_counter())

        async def phase(count: int) -> dict[int, tuple[float, float]]:
            """`count` sends open-loop at `rate`; waits (10 s at most) for their events."""
            sent: dict[int, tuple[float, float]] = {}
            tasks = []
            begin = time.perf_counter()
            for i in range(count):
                await asyncio.sleep(max(0.0, begin + i / rate - time.perf_counter()))
                tasks.append(asyncio.create_task(one(i, sent)))
            await asyncio.gather(*tasks)
            deadline = time.perf_counter() + 10
            while any(o not in received for o in sent) and time.perf_counter() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            return sent

        warm = await phase(int(rate * warmup))
        if freeze:  # this client's own full GC walks out of the timings (apps/oms/heap.py)
            heap.settle("bench client")
        stages_before = await stage_totals(session, metrics_url) if metrics_url else {}
        statements_before = statement_counts()
        cpu_before = stack_cpu(s)
        sampling = wire.Sampling.start(s, s.procs[1].pid)
        sent = await phase(int(rate * seconds))
        cpu = cpu_per_command(cpu_before, stack_cpu(s), len(sent))
        worker_profile = sampling.stop()
        statements = {name: round((count - statements_before[name]) / max(len(sent), 1), 2)
                      for name, count in statement_counts().items()}  # fmt: skip
        stages = (stage_means(stages_before, await stage_totals(session, metrics_url))
                  if metrics_url else None)  # fmt: skip
    listener.cancel()
    await ws.close()
    from_send = [(received[o] - s) * 1000 for o, (s, _a) in sent.items() if o in received]
    from_ack = [(received[o] - a) * 1000 for o, (_s, a) in sent.items() if o in received]
    warm_send = [(received[o] - s) * 1000 for o, (s, _a) in warm.items() if o in received]
    return {
        "rate": rate,
        "seconds": seconds,
        "commands": len(sent),
        "events_matched": len(from_send),
        "send_to_event_ms": summary(from_send),
        "ack_to_event_ms": summary(from_ack),
        # API, worker, MariaDB (and the venue's process over the wire), from the first send to
        # the last event; the split between the gateway, CCXT and the venue (bench/wire.py)
        "cpu_ms_per_command": cpu,
        "worker_profile": worker_profile,
        "cpu_split_ms_per_command": wire.cpu_split(
            cpu, worker_profile["samples"] if worker_profile else None),
        **({"stages": stages} if stages is not None else {}),
        # the server's statement counters over the timed run, per command (the whole server:
        # run it alone)
        "statements_per_command": statements,
        "client_heap_frozen": freeze,
        # the untimed first seconds of the stack, reported apart
        "warmup": {
            "seconds": warmup,
            "commands": len(warm),
            "events_matched": len(warm_send),
            "send_to_event_ms": summary(warm_send),
        },
        "target": "p50 <= 20 ms, p99 <= 60 ms",
    }


def summary(values: list[float]) -> dict[str, float]:
    return {f"p{q}": round(percentile(values, q), 2) for q in (50, 90, 99)} | {
        "max": round(max(values, default=float("nan")), 2)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument(
        "--no-wake", action="store_true", help="workers poll only (no UDP wake-ups from the API)"
    )
    parser.add_argument("--driver", default="aiomysql", choices=("aiomysql", "asyncmy"))
    parser.add_argument("--no-group", action="store_true",
                        help="worker.group_commit off (each account commits its own batches)")
    parser.add_argument("--stages", action="store_true",
                        help="report the mean time of each stage of a batch of sends (the "
                             "worker's metrics endpoint)")
    add_client_gc(parser)
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="seconds sent at the rate first and reported apart (`warmup`)")
    wire.add_arguments(parser)
    args = parser.parse_args()
    extra = {"OMS_WORKER__WAKE_HOST": ""} if args.no_wake else {}
    if args.no_group:
        extra["OMS_WORKER__GROUP_COMMIT"] = "false"
    metrics_url = None
    if args.stages:
        metrics_port = free_port()
        extra["OMS_WORKER__METRICS_PORT"] = str(metrics_port)
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    with wire.stack_on(args.venue, accounts=args.accounts, extra_env=extra, driver=args.driver,
                       cpu_split=not args.no_cpu_split) as s:  # fmt: skip
        result = asyncio.run(run(s, args.rate, args.seconds, args.client_gc == "freeze", args.warmup,
                                 metrics_url, wire.symbol(args.venue, "BTC/USDT")))  # fmt: skip
        result["recorded"] = record_shape(s)
    result["venue"] = args.venue
    result["wake_ups"] = not args.no_wake
    result["group_commit"] = not args.no_group
    result["driver"] = args.driver
    report("p3_ws_latency", result)


if __name__ == "__main__":
    main()
