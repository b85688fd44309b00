"""What the stack costs with nothing to do: CPU per second of the API, the worker and MariaDB,
and the statements per second by kind, while the account tasks of `--accounts` paper accounts
run (leased by a short burst of market sends) and no command comes. At a steady rate R this
cost is spread over R commands a second: the floor under every per-command figure at low rates.

    .venv/bin/python -m bench.private_mariadb --performance-schema -- \\
        .venv/bin/python -m bench.idle_cost --accounts 10 --seconds 3

The statements are counted only where the server keeps digests (`performance_schema`, which
`bench.private_mariadb --performance-schema` turns on); elsewhere the CPU alone is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.harness import mysql_connect, report, stack, stack_cpu
from bench.p11_gateway_latency import send

DIGESTS = (
    "SELECT COUNT_STAR, LEFT(DIGEST_TEXT, 120)"
    " FROM performance_schema.events_statements_summary_by_digest"
    " WHERE SCHEMA_NAME = %s ORDER BY COUNT_STAR DESC"
)


def digests_on() -> bool:
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@performance_schema")
        return bool(cur.fetchone()[0])


def statements(database: str, seconds: float) -> dict[str, Any]:
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute(DIGESTS, (database,))
        rows = [(int(n), str(text)) for n, text in cur.fetchall()]
    return {"per_second": round(sum(n for n, _ in rows) / seconds, 1),
            "top": [{"per_second": round(n / seconds, 1), "statement": text}
                    for n, text in rows[:20]]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--settle", type=float, default=1.5, help="after the burst, before measuring")
    parser.add_argument("--driver", default="asyncmy", choices=("aiomysql", "asyncmy"))
    args = parser.parse_args()
    counted = digests_on()
    with stack(accounts=args.accounts, driver=args.driver) as s:
        database = s.url.rsplit("/", 1)[1].split("?", 1)[0]
        asyncio.run(send(s, 50, 2))  # every account leased, its task running
        time.sleep(args.settle)
        if counted:
            with mysql_connect() as conn, conn.cursor() as cur:
                cur.execute("TRUNCATE performance_schema.events_statements_summary_by_digest")
        before, began = stack_cpu(s), time.monotonic()
        # settle + seconds stay under the tasks' idle release (IDLE_RELEASE, 5 s), after which
        # a quiet task ends and its account is parked (apps/worker/account_task.py)
        time.sleep(args.seconds)
        after, took = stack_cpu(s), time.monotonic() - began
        result: dict[str, Any] = {
            "accounts": args.accounts, "seconds": round(took, 2), "driver": args.driver,
            "cpu_ms_per_second": {k: round((after[k] - before[k]) * 1000 / took, 1) for k in before},
        }  # fmt: skip
        if counted:
            result["statements"] = statements(database, took)
    report("idle_cost", result)


if __name__ == "__main__":
    main()
