"""Client CPU of one keyed SELECT through SQLAlchemy, built per call against built once (a
module constant with `bindparam`), against the same SQL through `exec_driver_sql`, and against
the constant sent on the driver's cursor (`store/direct.py`), beside a `SELECT 1` of the same
connection; then one 6-row outbox INSERT through SQLAlchemy and directly. Why hot statements
are constants and go direct (docs/architecture.md → Stores; docs/benchmarks-history.md → Seventh and
Seventeenth rounds).

    .venv/bin/python -m bench.statement_cost --executions 1000 --runs 3 [--driver asyncmy]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.clock import utcnow
from apps.oms.store import direct
from apps.oms.store.outbox import INSERT, NewEvent
from apps.oms.store.store import Store
from apps.oms.store.tables import positions
from bench.harness import report, scratch_database

P = positions.c
CONSTANT = select(positions).where(P.id == bindparam("b_id"))


def raw_event(*, account_id: int | None, namespace: str, event: str,
              payload: dict[str, object]) -> NewEvent:
    """An outbox row of a made-up event (the statement's cost is what is measured)."""
    return {"account_id": account_id, "namespace": namespace, "event": event, "strategy_id": None,
            "payload": payload, "created_at": utcnow()}  # fmt: skip


EVENTS = [raw_event(account_id=None, namespace="oms", event="order_new",
                   payload={"id": n, "symbol": "BTC/USDT", "qty": "0.1", "status": "open"})
          for n in range(6)]  # fmt: skip
WARMUP = 100  # executions of each kind before the measured ones


Kinds = dict[str, Callable[[], Awaitable[Any]]]
Meter = Callable[[Kinds], Awaitable[dict[str, float]]]


async def measure_kinds(url: str, meter: Meter) -> dict[str, float]:
    """Every statement kind, read kinds on one read connection, then write kinds in one
    transaction; `meter` runs each kind of a group and returns a figure per kind (the time here,
    instructions in bench.statement_instructions)."""
    store = Store.from_url(url, pool_size=1)
    sql = str(CONSTANT.compile(dialect=store.engine.dialect))
    try:
        async with store.read() as conn:
            found = await meter(read_kinds(conn, sql))
        async with store.transaction() as conn:
            found |= await meter(write_kinds(conn))
        return found
    finally:
        await store.close()


def read_kinds(conn: AsyncConnection, sql: str) -> Kinds:
    """The keyed SELECT four ways beside `SELECT 1`; `sql` is CONSTANT compiled for the dialect."""

    async def select_1() -> Any:
        return (await conn.exec_driver_sql("SELECT 1")).first()

    async def built() -> Any:
        return (await conn.execute(select(positions).where(P.id == 1))).first()

    async def constant() -> Any:
        return (await conn.execute(CONSTANT, {"b_id": 1})).first()

    async def driver_sql() -> Any:
        return (await conn.exec_driver_sql(sql, (1,))).first()

    async def constant_direct() -> Any:
        return await direct.fetch_one(conn, CONSTANT, {"b_id": 1})

    return {"select_1": select_1, "built_per_call": built, "constant": constant,
            "exec_driver_sql": driver_sql, "constant_direct": constant_direct}  # fmt: skip


def write_kinds(conn: AsyncConnection) -> Kinds:
    """The 6-row outbox INSERT through SQLAlchemy and directly (inside one open transaction)."""

    async def insert_sqlalchemy() -> Any:
        return await conn.execute(INSERT, EVENTS)

    async def insert_direct() -> Any:
        return await direct.insert_rows(conn, INSERT, EVENTS)

    return {"insert_6_rows": insert_sqlalchemy, "insert_6_rows_direct": insert_direct}


async def measure(url: str, executions: int) -> dict[str, float]:
    return await measure_kinds(url, lambda kinds: _timed(kinds, executions))


async def _timed(kinds: Kinds, executions: int) -> dict[str, float]:
    found: dict[str, float] = {}
    for name, run in kinds.items():
        for _ in range(WARMUP):  # warm: pool, compiled cache
            await run()
        began = time.process_time()
        for _ in range(executions):
            await run()
        found[name] = round((time.process_time() - began) / executions * 1e6, 1)
    return found


def run_once(executions: int, driver: str) -> dict[str, float]:
    with scratch_database("oms_stmt", driver) as (_name, url):
        return asyncio.run(measure(url, executions))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--driver", choices=["aiomysql", "asyncmy"], default="aiomysql")
    args = parser.parse_args()
    runs = [run_once(args.executions, args.driver) for _ in range(args.runs)]
    medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    report("statement cost", {"client_cpu_us_per_execution": medians, "runs": runs,
                              "executions": args.executions, "driver": args.driver})  # fmt: skip


if __name__ == "__main__":
    main()
