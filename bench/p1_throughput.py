"""P1: sustained send_order throughput, accepted -> executed on paper -> deal, position and events
committed, over 10 accounts on MariaDB (real uvicorn + worker processes on 127.0.0.1).

Market orders are posted in batches (the batch API), then we wait until every command is terminal
and count deals. Prints a JSON summary.

    .venv/bin/python -m bench.p1_throughput --commands 5000 --batch 50 --senders 4 --workers 1
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import aiohttp
from sqlalchemy import func, select

from apps.oms.store.store import Store
from apps.oms.store.tables import commands, deals
from bench.harness import report, stack


async def send_all(
    base: str, key: str, accounts: list[int], total: int, batch: int, senders: int
) -> float:
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for start in range(0, total, batch):
        queue.put_nowait(
            [
                {
                    "account_id": accounts[i % len(accounts)],
                    "command": "send_order",
                    "payload": {
                        "symbol": "BTC/USDT:USDT",
                        "side": "buy" if i % 2 else "sell",
                        "type": "market",
                        "qty": "0.001",
                    },
                }
                for i in range(start, min(total, start + batch))
            ]
        )
    async with aiohttp.ClientSession(base, headers={"x-api-key": key}) as session:

        async def sender() -> None:
            while not queue.empty():
                items = queue.get_nowait()
                async with session.post("/oms/commands", json=items) as response:
                    if response.status != 200:
                        raise RuntimeError(await response.text())

        begin = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(senders)))
        return time.perf_counter() - begin


async def wait_done(url: str, total: int, deadline_s: float) -> tuple[float, dict[str, int], int]:
    store = Store.from_url(url, pool_size=1)
    begin = time.perf_counter()
    try:
        while True:
            async with store.read() as conn:
                rows = await conn.execute(
                    select(commands.c.status, func.count()).group_by(commands.c.status)
                )
                by_status = {r[0]: int(r[1]) for r in rows}
                booked = int(
                    (await conn.execute(select(func.count()).select_from(deals))).scalar_one()
                )
            done = sum(v for k, v in by_status.items() if k in ("completed", "failed", "canceled"))
            if done >= total or time.perf_counter() - begin > deadline_s:
                return time.perf_counter() - begin, by_status, booked
            await asyncio.sleep(0.05)
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--api-workers", type=int, default=1)
    args = parser.parse_args()
    with stack(accounts=10, workers=args.workers, api_workers=args.api_workers) as s:
        begin = time.perf_counter()
        accept_s = asyncio.run(
            send_all(s.base, s.trader_key, s.account_ids, args.commands, args.batch, args.senders)
        )
        _, by_status, booked = asyncio.run(wait_done(s.url, args.commands, 600))
        total_s = time.perf_counter() - begin
    report(
        "P1 throughput",
        {
            "commands": args.commands,
            "batch": args.batch,
            "senders": args.senders,
            "workers": args.workers,
            "api_workers": args.api_workers,
            "accept_seconds": round(accept_s, 2),
            "accepted_per_s": round(args.commands / accept_s, 1),
            "end_to_end_seconds": round(total_s, 2),
            "executed_per_s": round(args.commands / total_s, 1),
            "statuses": by_status,
            "deals": booked,
            "target": ">= 1000 commands/s",
        },
    )


if __name__ == "__main__":
    main()
