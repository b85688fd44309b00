"""The liveness probe's statement (apps/oms/store/liveness.py `PROBE_LOCKS`, 5 per second per
worker) against a `workers` table holding many rows of workers that stopped long ago (a row per
worker process ever started stays). Prints, per table size, the mean time of one probe over 200
on one connection (client side: the server's work plus a round trip on localhost), and the plan.

    python -m bench.liveness_probe_cost 10 1000 10000 100000
    python -m bench.liveness_probe_cost --no-index 10 1000 10000 100000   # a scan, as before

Uses its own database (`oms_bench_probe_cost`, dropped at the end) on 127.0.0.1:3306, root."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta

import pymysql
from sqlalchemy import create_engine
from sqlalchemy.dialects import mysql

from apps.oms.store.liveness import PROBE_LOCKS, lock_name
from apps.oms.store.tables import workers

DB = "oms_bench_probe_cost"
PROBES = 200


def main(sizes: list[int], *, index: bool) -> None:
    admin = pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True)
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {DB}")
    admin.cursor().execute(f"CREATE DATABASE {DB}")
    try:
        workers.create(create_engine(f"mysql+pymysql://root@127.0.0.1/{DB}"))
        if not index:
            admin.cursor().execute(f"DROP INDEX ix_workers_status_heartbeat_at ON {DB}.workers")
        compiled = PROBE_LOCKS.compile(dialect=mysql.dialect())
        conn = pymysql.connect(host="127.0.0.1", user="root", password="", database=DB,
                               autocommit=True)  # fmt: skip
        cur = conn.cursor()
        cur.execute("SELECT CONNECTION_ID(), @@server_id")
        connection_id, server_id = cur.fetchone()
        mine = f"{lock_name(DB, 'me')}-s{server_id}"
        cur.execute("SELECT GET_LOCK(%s, 0)", (mine,))
        now = datetime.now(UTC).replace(tzinfo=None)
        old = now - timedelta(days=1)
        params = {**compiled.params, "b_since": now - timedelta(seconds=3.5), "b_me": "me",
                  "b_mine": mine, "b_connection": connection_id,
                  "b_started": now - timedelta(hours=1)}  # fmt: skip
        positional = [params[name] for name in compiled.positiontup or ()]
        rows = 0
        for size in sizes:
            batch = [(f"old-{i}", "h", 1, "stopped", old, old, None,
                      f"{lock_name(DB, f'old-{i}')}-s{server_id}") for i in range(rows, size)]
            for start in range(0, len(batch), 5000):
                cur.executemany("INSERT INTO workers VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                                batch[start:start + 5000])  # fmt: skip
            rows = size
            cur.execute(str(compiled), positional)
            began = time.perf_counter()
            for _ in range(PROBES):
                cur.execute(str(compiled), positional)
                cur.fetchall()
            ms = (time.perf_counter() - began) / PROBES * 1000
            cur.execute(f"EXPLAIN {compiled}", positional)
            plan = cur.fetchone()
            print(json.dumps({"workers_rows": size, "probe_ms": round(ms, 2),
                              "access": plan[3], "key": plan[5]}))  # fmt: skip
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {DB}")


if __name__ == "__main__":
    args = sys.argv[1:]
    sizes = [int(arg) for arg in args if arg != "--no-index"] or [10, 1000, 10000, 100000]
    main(sizes, index="--no-index" not in args)
