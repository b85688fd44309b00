"""P6: resident memory (RSS) of one API process and one worker process with 100 accounts and
100,000 orders in the store (10 % of them open, plus 10 open positions per account), after a
warm-up that reads every account's open orders and positions and executes commands on every
account. Beside them: the RSS of the trivial `SELECT 1` FastAPI app (bench/baseline_app.py).
Three rounds (reads + commands, then a sample); medians. Prints one JSON line, with the sum of
the API's and the worker's (`api_plus_worker_mb`), which the target bounds.

    .venv/bin/python -m bench.p6_memory
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import insert

from apps.oms.store.store import Store
from apps.oms.store.tables import orders, positions
from bench.harness import BASELINE_PIDS, baseline_server, load, report_line, stack

CHUNK = 5000


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for {pid}")


async def seed(url: str, accounts: list[int], total_orders: int) -> None:
    now = datetime.now(UTC)
    one = Decimal("0.01")
    per_account = total_orders // len(accounts)
    store = Store.from_url(url)
    rows: list[dict[str, Any]] = []
    try:
        for a in accounts:
            for i in range(per_account):
                is_open = i % 10 == 0
                rows.append(
                    {
                        "account_id": a, "client_order_id": f"m{a}x{i}", "symbol": "BTC/USDT",
                        "side": "buy" if i % 2 else "sell", "order_type": "limit", "qty": one,
                        "price": Decimal(40000 + i % 100), "filled_qty": Decimal(0) if is_open else one,
                        "status": "SUBMITTED" if is_open else "FILLED", "is_open": is_open,
                        "created_at": now, "updated_at": now,
                    }
                )  # fmt: skip
                if len(rows) >= CHUNK:
                    async with store.transaction() as conn:
                        await conn.execute(insert(orders), rows)
                    rows = []
        async with store.transaction() as conn:
            if rows:
                await conn.execute(insert(orders), rows)
            await conn.execute(
                insert(positions),
                [
                    {
                        "account_id": a, "symbol": "BTC/USDT", "strategy_id": 0, "side": "buy",
                        "qty": one, "avg_price": Decimal(50000), "state": "open",
                        "is_open": True, "opened_at": now, "updated_at": now,
                    }
                    for a in accounts
                    for _ in range(10)
                ],
            )  # fmt: skip
    finally:
        await store.close()


async def warm(base: str, key: str, accounts: list[int], admin_key: str) -> None:
    """Every account read (open orders, positions, one history page) and one market order each
    executed (the worker loads every account's state and the venue), plus one refused send and
    one failed venue lookup."""
    async with aiohttp.ClientSession(base, headers={"x-api-key": key}) as session:
        await session.post(
            "/paper/prices",
            json={"symbol": "BTC/USDT:USDT", "price": "50000"},
            headers={"x-api-key": admin_key},
        )
        for a in accounts:
            for path in ("/oms/orders/open", "/oms/positions/open", "/oms/orders/history"):
                async with session.get(path, params={"account_ids": str(a)}) as response:
                    await response.read()
        body = [
            {
                "account_id": a,
                "command": "send_order",
                "payload": {"symbol": "BTC/USDT:USDT", "side": "buy", "type": "market", "qty": "0.001"},
            }
            for a in accounts
        ]
        # one send the venue refuses (far beyond the balance) and one lookup it cannot answer:
        # the error paths (CCXT's error classes, `to_oms_error`) are part of the footprint
        body.append({"account_id": accounts[0], "command": "send_order", "payload": {
            "symbol": "BTC/USDT:USDT", "side": "buy", "type": "market", "qty": "1000000"}})  # fmt: skip
        async with session.post(f"/ccxt/{accounts[0]}/fetch_order",
                                json={"args": ["no-such-order", "BTC/USDT:USDT"]}) as response:  # fmt: skip
            await response.read()
        async with session.post("/oms/commands", json=body) as response:
            await response.read()
            ids = [r["command_id"] for r in (await response.json())["results"]]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the worker executed them all
            query = ",".join(map(str, ids))
            async with session.get(f"/oms/commands/{query}") as response:
                items = (await response.json())["items"]
            if all(i["status"] in ("completed", "failed", "canceled") for i in items):
                return
            await asyncio.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--driver", choices=("aiomysql", "asyncmy"), default="aiomysql")
    args = parser.parse_args()
    load_before = load()
    samples: dict[str, list[float]] = {"api": [], "worker": [], "baseline_select_1": []}
    with stack(
        accounts=args.accounts,
        workers=1,
        driver=args.driver,
        before_start=lambda url, ids: asyncio.run(seed(url, ids, args.orders)),
    ) as s:
        api, worker = s.procs[0], s.procs[1]
        with baseline_server(s.url) as base:
            for _ in range(args.runs):
                asyncio.run(warm(s.base, s.trader_key, s.account_ids, s.admin_key))

                async def touch_baseline(base_url: str = base) -> None:
                    async with aiohttp.ClientSession(base_url) as session:
                        for _ in range(50):
                            async with session.get("/baseline/select1") as response:
                                await response.read()

                asyncio.run(touch_baseline())
                samples["api"].append(rss_mb(api.pid))
                samples["worker"].append(rss_mb(worker.pid))
                samples["baseline_select_1"].append(rss_mb(BASELINE_PIDS[base]))
    samples["api_plus_worker"] = [a + w for a, w in zip(samples["api"], samples["worker"], strict=True)]
    medians = {name: statistics.median(values) for name, values in samples.items()}
    report_line(
        "P6 memory",
        {
            "accounts": args.accounts,
            "orders": args.orders,
            "open_orders": args.orders // 10,
            "open_positions": args.accounts * 10,
            "driver": args.driver,
            "runs": args.runs,
            "rss_mb": medians,
            "api_ratio_to_baseline": round(medians["api"] / medians["baseline_select_1"], 2),
            "samples_mb": samples,
            # quality.md: "memory of one API process + one worker … <= 300 MB": read as their
            # sum (the stricter reading; until the twenty-first round this said "each")
            "api_plus_worker_mb": round(medians["api_plus_worker"], 1),  # median of the sums
            "target": "<= 300 MB, API + worker together",
            "load_before": load_before,
            "load_after": load(),
        },
    )


if __name__ == "__main__":
    main()
