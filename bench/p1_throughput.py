"""P1: sustained send_order throughput, accepted -> executed on paper -> deal, position and events
committed, over 10 accounts on MariaDB (real uvicorn + worker processes on 127.0.0.1).

Market orders are posted in batches (the batch API), then we wait until every command is terminal
and count deals. Prints one JSON line per run (and, with `--runs 3`, a last line with the
medians). `--drain` accepts every command before the worker starts, then times the worker alone
(`executed_per_s` is then the worker's rate; without it, end-to-end including the accepts).
Every run also measures a same-run baseline, one `SELECT 1` round trip from this process
(`select1_wall_us`), and reports `executed_per_s x select1_wall_us / 1e6` as `per_round_trip`
(commands executed per SELECT-1 round-trip time: a ratio that survives a change of load).

    .venv/bin/python -m bench.p1_throughput --commands 2000 --batch 50 --senders 4 --workers 1
    .venv/bin/python -m bench.p1_throughput --commands 2000 --drain --runs 3
    .venv/bin/python -m bench.p1_throughput --commands 4000 --drain --mode netting

`--mode` sets the accounts' position mode (default hedge: every market send opens a position;
netting: the sends of an account add to, reduce and reverse one position).

`--venue wire:binanceusdm` (or `wire:binance`) runs the same over the wire: the 10 accounts are
CCXT accounts of a venue served as its own process (bench/wire.py); the run then also reports
the venue's CPU per command, the share of the worker's CPU spent in CCXT (its CPU sampled,
`worker_profile`) and `cpu_split_ms_per_command` (gateway, CCXT, venue). A command counts as
executed once it is terminal *and* its deal is booked (over the wire, a futures order's fill is
booked by the worker's order sync after the command ended).

    .venv/bin/python -m bench.p1_throughput --commands 1000 --venue wire:binanceusdm

The stack is up when the API answers and every worker has registered; `--warmup` sends (200 by
default, not with `--drain`) are then executed untimed, so that the timed run measures the
sustained rate rather than each account's first lease and the plans built on first use.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

import aiohttp
from sqlalchemy import func, select

from apps.oms.store.queue import UNFINISHED
from apps.oms.store.store import Store
from apps.oms.store.tables import commands, deals
from bench import wire
from bench.harness import cpu_per_command, record_shape, report, select1_baseline, stack_cpu


async def send_all(
    base: str, key: str, accounts: list[int], total: int, batch: int, senders: int,
    symbol: str = "BTC/USDT:USDT",
) -> float:
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for start in range(0, total, batch):
        queue.put_nowait(
            [
                {
                    "account_id": accounts[i % len(accounts)],
                    "command": "send_order",
                    "payload": {
                        "symbol": symbol,
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


async def count_deals(conn: Any) -> int:
    return int((await conn.execute(select(func.count()).select_from(deals))).scalar_one())


async def wait_done(
    url: str, total: int, deadline_s: float, first: list[float] | None = None,
    deals_wanted: int = 0,
) -> tuple[float, dict[str, int], int]:
    """Poll until the `total` commands (all accepted before the call) are terminal and at
    least `deals_wanted` deals are booked (once the commands are: a CCXT order's fills may be
    booked by the order sync after its command ended); `first` gets (time, count) of the first
    poll that saw any finished command (the worker's start-up excluded from a rate).

    Until `first` is known, each poll counts the *unfinished* commands through the `(status,
    account_id)` index (the rows still queued or running, not the whole table: a `GROUP BY
    status` over every command every 50 ms grew with the run and was a visible share of
    MariaDB's CPU in the figures it reports); after that a poll only asks whether any is left
    (one index entry read instead of the backlog's thousand: the count was ~3 % of MariaDB's
    statement time in P1, twenty-first round). The statuses and the deals are counted once, at
    the end."""
    store = Store.from_url(url, pool_size=1)
    begin = time.perf_counter()
    try:
        while True:
            async with store.read() as conn:
                if first is not None and not first:
                    unfinished = int((await conn.execute(
                        select(func.count()).select_from(commands)
                        .where(commands.c.status.in_(UNFINISHED)))).scalar_one())  # fmt: skip
                else:
                    left = (await conn.execute(select(commands.c.id).where(
                        commands.c.status.in_(UNFINISHED)).limit(1))).first()  # fmt: skip
                    unfinished = 0 if left is None else 1
            done = total - unfinished  # called once every command was accepted
            if first is not None and not first and done:
                first.extend((time.perf_counter(), done))
            if done >= total and deals_wanted:
                async with store.read() as conn:
                    if await count_deals(conn) < deals_wanted:
                        done = total - 1  # every command ended, a fill is still to book
            if done >= total or time.perf_counter() - begin > deadline_s:
                elapsed = time.perf_counter() - begin
                break
            await asyncio.sleep(0.05)
        async with store.read() as conn:
            rows = await conn.execute(
                select(commands.c.status, func.count()).group_by(commands.c.status)
            )
            by_status = {r[0]: int(r[1]) for r in rows}
            booked = await count_deals(conn)
        return elapsed, by_status, booked
    finally:
        await store.close()


def warm_up(s: Any, args: argparse.Namespace) -> tuple[float, dict[str, int], int]:
    """`--warmup` sends, accepted and executed before the timed run (not with `--drain`, where
    no worker runs yet): each account's first lease, its venue's markets and prices and the
    statement plans built on first use are a start-up cost, not the sustained rate. Returns
    how long it took and what it left in the store (subtracted from the run's counts)."""
    if args.drain or args.warmup <= 0:
        return 0.0, {}, 0
    begin = time.perf_counter()
    asyncio.run(send_all(s.base, s.trader_key, s.account_ids, args.warmup, args.batch,
                         args.senders, wire.symbol(args.venue, "BTC/USDT:USDT")))  # fmt: skip
    _, by_status, booked = asyncio.run(wait_done(s.url, args.warmup, 300, None, args.warmup))
    return time.perf_counter() - begin, by_status, booked


def run_once(args: argparse.Namespace) -> dict[str, Any]:
    workers = 0 if args.drain else args.workers
    extra = {"OMS_WORKER__BATCH_SIZE": str(args.batch_size)} if args.batch_size is not None else {}
    if args.no_group:
        extra["OMS_WORKER__GROUP_COMMIT"] = "false"
    with wire.stack_on(args.venue, accounts=10, workers=workers, api_workers=args.api_workers,
                       extra_env=extra, driver=args.driver, mode=args.mode,
                       cpu_split=not args.no_cpu_split) as s:  # fmt: skip
        baseline = select1_baseline(s.url)
        warm_s, warm_status, warm_deals = warm_up(s, args)
        begin = time.perf_counter()
        cpu_begin = stack_cpu(s)
        # the first worker's CPU by whose work it is (with --drain, from its start)
        sampling = None if args.drain else wire.Sampling.start(s, s.procs[1].pid)
        accept_s = asyncio.run(send_all(s.base, s.trader_key, s.account_ids, args.commands,
                                        args.batch, args.senders,
                                        wire.symbol(args.venue, "BTC/USDT:USDT")))  # fmt: skip
        cpu_accepted = stack_cpu(s)
        if args.drain:
            begin = time.perf_counter()
            for _ in range(args.workers):
                s.start_worker()
            sampling = wire.Sampling.start(s, s.procs[-args.workers].pid)
        first: list[float] = []
        _, by_status, booked = asyncio.run(wait_done(s.url, args.commands, 900, first,
                                                     warm_deals + args.commands))  # fmt: skip
        by_status = {k: v - warm_status.get(k, 0) for k, v in by_status.items()}
        booked -= warm_deals
        end = time.perf_counter()
        cpu_end = stack_cpu(s)
        worker_profile = sampling.stop() if sampling is not None else None
        total_s = end - begin
        after = select1_baseline(s.url)
        shape = record_shape(s)
    select1 = statistics.median([baseline["select1_wall_us"], after["select1_wall_us"]])
    rate = args.commands / total_s
    cpu_total = cpu_per_command(cpu_begin, cpu_end, args.commands)
    return {
        "venue": args.venue,
        "commands": args.commands,
        "batch": args.batch,
        "senders": args.senders,
        "workers": args.workers,
        "mode": args.mode,
        "api_workers": args.api_workers,
        "drain": args.drain,
        "driver": args.driver,
        "worker_batch_size": args.batch_size,
        "warmup_commands": 0 if args.drain else args.warmup,
        "warmup_seconds": round(warm_s, 2),
        "accept_seconds": round(accept_s, 2),
        "accepted_per_s": round(args.commands / accept_s, 1),
        "end_to_end_seconds": round(total_s, 2),
        "executed_per_s": round(rate, 1),
        # from the first finished command on: the worker's start-up (imports, registration,
        # first lease) excluded
        "executed_per_s_running": round((args.commands - first[1]) / (end - first[0]), 1)
        if first and end > first[0]
        else None,
        # when the first poll (every 50 ms) saw a finished command, and how many it saw
        "first_finished_after_s": round(first[0] - begin, 3) if first else None,
        "first_finished_count": first[1] if first else None,
        "select1_wall_us": select1,
        "select1_cpu_us": statistics.median([baseline["select1_cpu_us"], after["select1_cpu_us"]]),
        "per_round_trip": round(rate * select1 / 1e6, 4),
        "statuses": by_status,
        "deals": booked,
        "group_commit": not args.no_group,
        "recorded": shape,
        # CPU milliseconds per command of the API, the worker(s) and MariaDB: while the
        # commands were sent, after that until the last one finished, and in all
        "cpu_ms_per_command": {
            "accepting": cpu_per_command(cpu_begin, cpu_accepted, args.commands),
            "after": cpu_per_command(cpu_accepted, cpu_end, args.commands),
            "total": cpu_total,
        },
        # the worker's CPU by whose work it was (bench/wire.py), and the total per command split
        # between the gateway (API, MariaDB, worker outside CCXT), CCXT and the venue's process
        "worker_profile": worker_profile,
        "cpu_split_ms_per_command": wire.cpu_split(
            cpu_total, worker_profile["samples"] if worker_profile else None),
        "target": ">= 1000 commands/s",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--api-workers", type=int, default=1)
    parser.add_argument("--drain", action="store_true", help="time the worker alone")
    parser.add_argument("--warmup", type=int, default=200,
                        help="sends executed before the timed run (not with --drain; 0: none)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--mode", choices=["hedge", "netting", "strategy_netting"],
                        default="hedge", help="the accounts' position mode")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="worker.batch_size (0: joined path off)"
    )
    parser.add_argument("--no-group", action="store_true",
                        help="worker.group_commit off (each account commits its own batches)")
    parser.add_argument("--driver", choices=["aiomysql", "asyncmy"], default="aiomysql",
                        help="MySQL driver of the API and worker processes")  # fmt: skip
    wire.add_arguments(parser)
    args = parser.parse_args()
    runs = []
    for _ in range(args.runs):
        runs.append(run_once(args))
        report("P1 throughput", runs[-1])
    if args.runs > 1:
        keys = ("executed_per_s", "accepted_per_s", "select1_wall_us", "per_round_trip")
        medians = {k: statistics.median(r[k] for r in runs) for k in keys}
        report(
            "P1 throughput median",
            {
                "runs": args.runs,
                "drain": args.drain,
                **medians,
                "all": json.loads(json.dumps([r["executed_per_s"] for r in runs])),
            },
        )


if __name__ == "__main__":
    main()
