"""P7: per-command worker cost with a small and a large store (target: ≤ 1.5x at 1M rows).

For each size, a fresh MariaDB database gets about `rows` background rows over the hot tables
(`bench/store_fill.py`, 100 other accounts), then one hedge paper account gets `--commands`
market sends accepted through the real acceptance service; the worker's step
(`step.run_next`: joined batches) drains them in this process. Measured: wall and CPU per
executed command, statements per command (SQLAlchemy hook), and the same-run baseline of one
`SELECT 1` round trip. One JSON line per run, then a line with the medians and the ratios
large/small (CPU per command, and CPU per command in SELECT-1 units).

    .venv/bin/python -m bench.p7_store_size --rows 10000 1000000 --commands 500 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import pymysql
from sqlalchemy import text

from apps.oms.clock import utcnow
from apps.oms.config import Settings, WorkerSettings
from apps.oms.domain.access import AccountFlags, Role
from apps.oms.security.principal import Principal
from apps.oms.service.execution import step
from apps.oms.service.execution.runtime import AccountRuntime
from apps.oms.service.submit import submit
from apps.oms.store import leases
from apps.oms.store.accounts import insert_account
from apps.oms.store.store import Store
from apps.worker.venues import VenueCache, load_account
from bench.harness import report, scratch_database
from bench.store_fill import fill

FLAGS = AccountFlags(can_trade=True, can_close_position=True)
WARM = 20


async def measure(url: str, commands: int, batch: int) -> dict[str, Any]:
    store = Store.from_url(url, pool_size=2)
    try:
        async with store.transaction() as conn:
            account_id = await insert_account(
                conn, exchange_id="paper", label="p7", position_mode="hedge",
                is_testnet=False, is_live=False, config={},
            )  # fmt: skip
        who = Principal(1, "trader", Role.TRADER, 1, "api_key", None, "p7", {account_id: FLAGS})
        for i in range(commands + WARM):
            body = {"account_id": account_id, "command": "send_order",
                    "payload": {"symbol": "BTC/USDT:USDT", "side": "buy" if i % 2 else "sell",
                                "order_type": "market", "qty": "0.001"}}  # fmt: skip
            await submit(store, Settings(), who, body, wait=False)
        async with store.transaction() as conn:
            taken, _ = await leases.acquire(conn, owner="p7", now=utcnow(), lease_seconds=600,
                                            limit=1000, dialect=store.dialect)  # fmt: skip
        lease = next(t for t in taken if t.account_id == account_id)
        account = await load_account(store, account_id)
        venue = VenueCache(Settings(), store).get(account)
        assert venue is not None
        rt = AccountRuntime(store, WorkerSettings(batch_size=batch), "p7", lease, account, venue)
        stop = asyncio.Event()
        warm = AccountRuntime(store, WorkerSettings(batch_size=WARM), "p7", lease, account, venue)
        await step.run_next(warm, stop)  # the first WARM sends: caches, markets, prices
        async with store.read() as conn:
            for _ in range(50):
                await conn.execute(text("SELECT 1"))
            s1, c1 = time.perf_counter(), time.process_time()
            for _ in range(500):
                await conn.execute(text("SELECT 1"))
            select1 = (time.perf_counter() - s1) / 500
            select1_cpu = (time.process_time() - c1) / 500
        count = [0]

        def hook(*_: Any) -> None:
            count[0] += 1

        with store.watching_statements(hook):
            wall, cpu = time.perf_counter(), time.process_time()
            while await step.run_next(rt, stop):
                pass
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        await store.close()
    return {
        "wall_ms_per_command": round(wall / commands * 1000, 3),
        "cpu_ms_per_command": round(cpu / commands * 1000, 3),
        "statements_per_command": round(count[0] / commands, 2),
        "select1_wall_us": round(select1 * 1e6, 1),
        "select1_cpu_us": round(select1_cpu * 1e6, 1),
        # client CPU per command in units of one SELECT 1's client CPU (same run)
        "cpu_per_command_in_select1": round(cpu / commands / select1_cpu, 2),
    }


def run_once(rows: int, commands: int, batch: int) -> dict[str, Any]:
    with scratch_database(f"oms_p7_{rows}") as (name, url):
        with (
            pymysql.connect(host="127.0.0.1", user="root", password="", database=name,
                            autocommit=True) as conn,
            conn.cursor() as cur,
        ):  # fmt: skip
            began = time.perf_counter()
            fill(cur, rows)
            filled = time.perf_counter() - began
        result = asyncio.run(measure(url, commands, batch))
    return {"rows": rows, "commands": commands, "batch": batch,
            "fill_seconds": round(filled, 1), **result}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--commands", type=int, default=500)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    by_size: dict[int, list[dict[str, Any]]] = {r: [] for r in args.rows}
    for _ in range(args.runs):  # sizes interleaved: the machine's load hits both alike
        for rows in args.rows:
            by_size[rows].append(run_once(rows, args.commands, args.batch))
            report("P7 store size", by_size[rows][-1])
    keys = ("cpu_ms_per_command", "wall_ms_per_command", "statements_per_command",
            "cpu_per_command_in_select1", "select1_wall_us")  # fmt: skip
    medians = {r: {k: statistics.median(x[k] for x in runs) for k in keys}
               for r, runs in by_size.items()}  # fmt: skip
    small, large = medians[min(args.rows)], medians[max(args.rows)]
    report("P7 store size median", {
        "runs": args.runs, "medians": {str(r): m for r, m in medians.items()},
        "ratio_cpu": round(large["cpu_ms_per_command"] / small["cpu_ms_per_command"], 2),
        "ratio_cpu_in_select1": round(
            large["cpu_per_command_in_select1"] / small["cpu_per_command_in_select1"], 2),
        "ratio_wall": round(large["wall_ms_per_command"] / small["wall_ms_per_command"], 2),
        "target": "<= 1.5x",
    })  # fmt: skip


if __name__ == "__main__":
    main()
