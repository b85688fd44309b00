"""P9: growth in accounts. CPU per command with many accounts of which some are active, against
a few accounts, and the idle cost of the accounts (quality.md: ≤ 1.3×; idle cost stated per
1,000 accounts).

Two stacks one after the other (bench/harness.py, one API and one worker process, default
settings but scheduled reconciliation off): `--base-accounts` accounts all active, then `--accounts` accounts of which
`--active` receive commands. In each: one market send per active account first (untimed: first
leases and plans), then `--idle-seconds` without commands (the idle CPU of API, worker and
store per second), then `--rate` sends per second for `--seconds`, round-robin over the active
accounts, waited for until every command is terminal. CPU per command is the whole stack's CPU
over that load window (API, worker, MariaDB) divided by the commands, as measured and net of
the idle cost of the same window. Run it under `bench.private_mariadb` so that the store's CPU
is this benchmark's alone.

    .venv/bin/python -m bench.private_mariadb -- .venv/bin/python -m bench.p9_accounts \\
        --accounts 10000 --active 1000 --rate 50 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import aiohttp

from bench.harness import mysql_connect, report, stack, stack_cpu


def database_of(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?", 1)[0]


def clone_accounts(url: str, first: int, n: int) -> list[int]:
    """`n` more accounts like `first`, with every row of `first` in the tables keyed by account
    (the trader's grants, the risk state) copied: a few multi-row statements (MariaDB's
    `seq_1_to_<n>` sequence table), where creating them one by one through
    `admin.add_account` took minutes per thousand. Returns every account id, `first` first."""
    with mysql_connect(database=database_of(url), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                    "DATABASE() AND TABLE_NAME = 'accounts' AND COLUMN_NAME <> 'id' "
                    "ORDER BY ORDINAL_POSITION")
        columns = [r[0] for r in cur.fetchall()]
        chosen = ", ".join("CONCAT('p9-', s.seq)" if c == "label" else f"a.{c}" for c in columns)
        insert = (f"INSERT INTO accounts ({', '.join(columns)}) SELECT {chosen} "  # noqa: S608
                  f"FROM accounts a JOIN seq_1_to_{n} s WHERE a.id = %s ORDER BY s.seq")
        cur.execute(insert, (first,))
        cur.execute("SELECT id FROM accounts WHERE id > %s ORDER BY id", (first,))
        ids = [first, *(int(r[0]) for r in cur.fetchall())]
        cur.execute("SELECT TABLE_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                    "DATABASE() AND COLUMN_NAME = 'account_id'")
        for (table,) in cur.fetchall():
            cur.execute(f"SELECT COUNT(*) FROM `{table}` WHERE account_id = %s", (first,))  # noqa: S608
            if not cur.fetchone()[0]:
                continue
            cur.execute("SELECT COLUMN_NAME, EXTRA FROM information_schema.COLUMNS WHERE "
                        "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
                        (table,))
            cols = [c for c, extra in cur.fetchall() if "auto_increment" not in extra]
            values = ", ".join("x.id" if c == "account_id" else f"t.{c}" for c in cols)
            insert = (f"INSERT INTO `{table}` ({', '.join(cols)}) SELECT {values} "  # noqa: S608
                      f"FROM `{table}` t JOIN accounts x ON x.id > %s WHERE t.account_id = %s")
            cur.execute(insert, (first, first))
    return ids


def unfinished(url: str) -> int:
    with mysql_connect(database=database_of(url)) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM commands WHERE status IN ('queued', 'running')")
        row = cur.fetchone()
    return int(row[0]) if row else 0


def wait_done(url: str) -> None:
    deadline = time.monotonic() + 900
    while unfinished(url):
        if time.monotonic() > deadline:
            raise TimeoutError("commands did not finish")
        time.sleep(0.2)


async def send(base: str, key: str, account_ids: list[int], rate: float, seconds: float) -> int:
    body = {"command": "send_order", "payload": {"symbol": "BTC/USDT", "side": "buy",
                                                 "type": "market", "qty": "0.001"}}
    n = int(rate * seconds)
    started = time.monotonic()
    in_flight = asyncio.Semaphore(8)  # a loaded machine falls behind the rate, never piles up
    async with aiohttp.ClientSession(base, headers={"x-api-key": key}) as session:

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            async with in_flight, session.post("/oms/commands", json={
                    **body, "account_id": account_ids[i % len(account_ids)]}) as response:
                if response.status != 200:
                    raise RuntimeError(await response.text())

        await asyncio.gather(*(one(i) for i in range(n)))
    return n


def measure(total: int, active: int, args: argparse.Namespace) -> dict[str, Any]:
    seeded_at = time.monotonic()
    every: list[int] = []

    def seed(url: str, ids: list[int]) -> None:
        every.extend(clone_accounts(url, ids[0], total - 1) if total > 1 else ids)

    # scheduled reconciliation off: at its default period (60 s) 10,000 accounts would be
    # ~170 reconcile commands a second, a load of its own, not the accounts' idle cost
    with stack(accounts=1, extra_env={"OMS_RECONCILE__SCHEDULE": "false"},
               before_start=seed) as s:
        seeded = time.monotonic() - seeded_at
        ids = every[:active]
        asyncio.run(send(s.base, s.trader_key, ids, max(args.rate, 1.0), len(ids) / args.rate))
        wait_done(s.url)
        before, started = stack_cpu(s), time.monotonic()
        time.sleep(args.idle_seconds)
        after = stack_cpu(s)
        idle = {k: (after[k] - before[k]) / (time.monotonic() - started) for k in after}
        before, started = stack_cpu(s), time.monotonic()
        n = asyncio.run(send(s.base, s.trader_key, ids, args.rate, args.seconds))
        wait_done(s.url)
        after, seconds = stack_cpu(s), time.monotonic() - started
    spent = {k: after[k] - before[k] for k in after}
    print(f"p9: {total} accounts measured", file=sys.stderr, flush=True)
    return {
        "accounts": total, "active": active, "commands": n, "setup_seconds": round(seeded, 1),
        "cpu_ms_per_command": {k: round(v * 1000 / n, 2) for k, v in spent.items()}
        | {"total": round(sum(spent.values()) * 1000 / n, 2)},
        "cpu_ms_per_command_net_of_idle": round(
            (sum(spent.values()) - sum(idle.values()) * seconds) * 1000 / n, 2),
        "idle_cpu_ms_per_s": {k: round(v * 1000, 1) for k, v in idle.items()}
        | {"total": round(sum(idle.values()) * 1000, 1)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=10000)
    parser.add_argument("--active", type=int, default=1000)
    parser.add_argument("--base-accounts", type=int, default=10)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--idle-seconds", type=float, default=20)
    args = parser.parse_args()
    small = measure(args.base_accounts, args.base_accounts, args)
    large = measure(args.accounts, args.active, args)
    per_1000 = (large["idle_cpu_ms_per_s"]["total"] - small["idle_cpu_ms_per_s"]["total"]) / (
        (args.accounts - args.base_accounts) / 1000)
    report("p9_accounts", {
        "small": small, "large": large,
        "ratio_cpu_per_command": round(large["cpu_ms_per_command"]["total"]
                                       / small["cpu_ms_per_command"]["total"], 2),
        "ratio_cpu_per_command_net_of_idle": round(
            large["cpu_ms_per_command_net_of_idle"] / small["cpu_ms_per_command_net_of_idle"], 2),
        "idle_cpu_ms_per_s_per_1000_accounts": round(per_1000, 1),
        "target": "ratio <= 1.3; idle cost per 1,000 accounts stated"})


if __name__ == "__main__":
    main()
