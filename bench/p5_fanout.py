"""P5: one event fanned out to 1,000 websocket subscribers.

Real uvicorn + worker + MariaDB (bench/harness.py). N clients subscribe to one paper account;
then one market send_order every `--interval` seconds. For each command we time the arrival of
its `order_accepted` event on every subscriber: from the HTTP request being sent (includes the
accept, the sequencer and the tailer poll) and from the first subscriber's receipt (the fan-out
spread). The clients run in this one process, so their own CPU is part of the figure.

    .venv/bin/python -m bench.p5_fanout --subscribers 1000 --events 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import aiohttp
import websockets

from bench.harness import percentile, report, stack


async def subscriber(
    url: str,
    key: str,
    account_id: int,
    arrivals: dict[int, list[float]],
    ready: asyncio.Event,
    compression: str | None,
) -> Any:
    ws = await websockets.connect(
        url,
        additional_headers={"x-api-key": key},
        max_queue=None,
        compression=compression,
        open_timeout=60,
    )
    await ws.recv()
    await ws.send(
        json.dumps(
            {
                "id": 1,
                "action": "subscribe",
                "payload": {"account_ids": [account_id], "with_snapshot": False},
            }
        )
    )
    await ws.recv()

    async def read() -> None:
        async for text in ws:
            if '"order_accepted"' in text:  # cheap filter before parsing
                order_id = json.loads(text)["payload"]["order_id"]
                arrivals.setdefault(order_id, []).append(time.perf_counter())

    ready.set()
    return ws, asyncio.create_task(read())


async def run(
    base: str,
    key: str,
    account_id: int,
    n: int,
    events: int,
    interval: float,
    compression: str | None,
) -> dict[str, Any]:
    url = base.replace("http", "ws") + "/ws"
    arrivals: dict[int, list[float]] = {}
    clients = []
    for batch in range(0, n, 50):  # connect in batches: the server accepts ~thousands/s
        clients += await asyncio.gather(
            *(
                subscriber(url, key, account_id, arrivals, asyncio.Event(), compression)
                for _ in range(batch, min(n, batch + 50))
            )
        )
    sent: dict[int, float] = {}
    async with aiohttp.ClientSession(base, headers={"x-api-key": key}) as session:
        for _ in range(events):
            body = {
                "account_id": account_id,
                "command": "send_order",
                "payload": {"symbol": "BTC/USDT", "side": "buy", "type": "market", "qty": "0.001"},
            }
            start = time.perf_counter()
            async with session.post("/oms/commands", json=body) as response:
                sent[int((await response.json())["results"][0]["order_id"])] = start
            await asyncio.sleep(interval)
    await asyncio.sleep(2)
    delivery, spread, complete = [], [], 0
    for order_id, start in sent.items():
        times = arrivals.get(order_id, [])
        complete += len(times) == n
        delivery += [(t - start) * 1000 for t in times]
        spread += [(t - min(times)) * 1000 for t in times]
    for ws, task in clients:
        task.cancel()
        await ws.close()
    return {
        "subscribers": n,
        "events": events,
        "compression": compression or "none",
        "events_delivered_to_all": complete,
        "send_to_delivery_ms": summary(delivery),
        "fanout_spread_ms": summary(spread),
        "target": "p99 delivery <= 100 ms",
    }


def summary(values: list[float]) -> dict[str, float]:
    return {f"p{q}": round(percentile(values, q), 2) for q in (50, 90, 99)} | {
        "max": round(max(values, default=float("nan")), 2)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--compression", choices=["deflate", "none"], default="deflate")
    args = parser.parse_args()
    compression = None if args.compression == "none" else "deflate"
    with stack(accounts=1) as s:
        result = asyncio.run(
            run(
                s.base,
                s.trader_key,
                s.account_ids[0],
                args.subscribers,
                args.events,
                args.interval,
                compression,
            )
        )
    report("p5_fanout", result)


if __name__ == "__main__":
    main()
