"""P11: the gateway's own latency on the real path: accept → the venue receiving the request.

Real uvicorn + worker + MariaDB (bench/harness.py); market send_orders go out open-loop at
`--rate` per second over 10 paper accounts. A send is accepted when the API writes its command
(`commands.created_at`, the API's clock); the venue receives it when the paper venue takes the
request that carries its order (`paper_orders.created_at`: a batch's orders carry the request's
arrival, as an exchange stamps an order when its gateway takes it). Both clocks are this host's,
so their difference is the gateway's share of a send: the wake-up, the write-ahead and the
venue call, before the venue's own work. The two are joined by the order's client order id,
the one the venue is given. The first `--warmup` seconds run at the same rate and are left out.

    .venv/bin/python -m bench.p11_gateway_latency --seconds 20 --rate 100 --driver asyncmy
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC
from typing import Any

import aiohttp

from bench.harness import (
    Stack,
    cpu_per_command,
    mysql_connect,
    percentile,
    report,
    stack,
    stack_cpu,
)

JOINED = (
    "SELECT c.id, TIMESTAMPDIFF(MICROSECOND, c.created_at, p.created_at), p.created_at,"
    " TIMESTAMPDIFF(MICROSECOND, c.created_at, c.started_at),"
    " TIMESTAMPDIFF(MICROSECOND, c.started_at, v.created_at),"
    " TIMESTAMPDIFF(MICROSECOND, v.created_at, p.created_at)"
    " FROM commands c"
    " JOIN orders o ON o.id = c.order_id"
    " JOIN order_venue_orders v ON v.client_order_id = o.client_order_id"
    " JOIN paper_orders p ON p.client_order_id = o.client_order_id AND p.account_id = c.account_id"
    " WHERE c.id >= %s AND c.command_type = 'send_order'"
)
# the stages of accept → venue, each from the stamps of the rows it writes (the processes'
# clocks, one host): the API's `commands.created_at` → the worker's claim (`started_at`: the
# wake-up and the claim) → its write-ahead (`order_venue_orders.created_at`) → the venue's stamp
STAGES = ("accept_to_claim", "claim_to_write_ahead", "write_ahead_to_venue")


async def send(s: Stack, rate: float, seconds: float) -> dict[int, float]:
    """Send `rate * seconds` market orders open-loop; the command ids accepted, each with the
    wall-clock time its acknowledgement arrived."""
    accepted: dict[int, float] = {}
    interval = 1 / rate
    async with aiohttp.ClientSession(s.base, headers={"x-api-key": s.trader_key}) as session:

        async def one(i: int) -> None:
            body = {"account_id": s.account_ids[i % len(s.account_ids)], "command": "send_order",
                    "payload": {"symbol": "BTC/USDT:USDT", "side": "buy" if i % 2 else "sell",
                                "type": "market", "qty": "0.001"}}  # fmt: skip
            async with session.post("/oms/commands", json=body) as response:
                found = await response.json()
            acked = time.time()
            if response.status < 300:
                accepted.update((int(r["command_id"]), acked) for r in found["results"] if r["ok"])

        tasks = []
        begin = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = begin + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return accepted


def received(s: Stack, first: int, count: int, deadline: float) -> list[Any]:
    """(command id, accept → venue ms, the venue's stamp) of the sends from command `first`
    on, once `count` reached the venue (or at `deadline`)."""
    database = s.url.rsplit("/", 1)[1].split("?", 1)[0]
    rows: list[Any] = []
    while time.monotonic() < deadline:
        with mysql_connect(database=database) as conn, conn.cursor() as cur:
            cur.execute(JOINED, (first,))
            rows = list(cur.fetchall())
        if len(rows) >= count:
            break
        time.sleep(0.2)
    return rows


def summary(values: list[float]) -> dict[str, float]:
    return {f"p{q}": round(percentile(values, q), 2) for q in (50, 90, 99)} | {
        "max": round(max(values, default=float("nan")), 2)
    }


def run(s: Stack, rate: float, seconds: float, warmup: float) -> dict[str, Any]:
    asyncio.run(send(s, rate, warmup))
    cpu_before = stack_cpu(s)
    accepted = asyncio.run(send(s, rate, seconds))
    rows = received(s, min(accepted, default=0), len(accepted), time.monotonic() + 30)
    cpu = cpu_per_command(cpu_before, stack_cpu(s), len(accepted))
    from_stored = [int(r[1]) / 1000 for r in rows]
    from_ack = [(r[2].replace(tzinfo=UTC).timestamp() - accepted[int(r[0])]) * 1000
                for r in rows if int(r[0]) in accepted]  # fmt: skip
    return {
        "rate": rate,
        "seconds": seconds,
        "accepted": len(accepted),
        "reached_venue": len(rows),
        # from the API writing the command (its `created_at`, stamped before the API's commit)
        "accept_to_venue_ms": summary(from_stored),
        # from the client holding the acknowledgement (the command committed)
        "ack_to_venue_ms": summary(from_ack),
        "stages_ms": {name: summary([int(r[3 + i]) / 1000 for r in rows]) for i, name in enumerate(STAGES)},
        "cpu_ms_per_command": cpu,  # API, worker and MariaDB over the timed sends
        "warmup_seconds": warmup,
        "target": "p50 <= 3 ms, p99 <= 10 ms",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--driver", default="asyncmy", choices=("aiomysql", "asyncmy"))
    args = parser.parse_args()
    with stack(accounts=args.accounts, driver=args.driver) as s:
        result = run(s, args.rate, args.seconds, args.warmup)
    result["driver"] = args.driver
    report("p11_gateway_latency", result)


if __name__ == "__main__":
    main()
