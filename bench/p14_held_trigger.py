"""P14: a held order's trigger → its child on the venue, in the steady state.

Real uvicorn + worker + MariaDB (bench/harness.py), one paper account. `--orders` buy stops
the gateway holds (`emulation: gateway`) rest 100 apart above the market; then the price is
moved up one level at a time (`POST /paper/prices`), each move crossing exactly one stop.
Measured per stop, from the price move's answer to the child order linked on the venue (its
`exchange_order_id` set: the worker saw the price in its housekeeping round, fired the
parent, queued the child in the same transaction, and placed it), by 5-ms polls of the store:
`p50_ms`, `p99_ms`, `max_ms`. Every parent must have exactly one child (`children`).

    .venv/bin/python -m bench.p14_held_trigger [--orders 50]

One JSON line (`report_line`), with the machine's load: the figure moves with it. Across a
kill of the owner (the issue's second figure) is not measured yet.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import httpx

from bench.harness import load, mysql_connect, percentile, report_line, stack

SYMBOL = "BTC/USDT"
TOP = 60_000


def query(database: str, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with mysql_connect(database=database, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


async def price(http: httpx.AsyncClient, key: str, value: int) -> None:
    answer = await http.post("/paper/prices", json={"symbol": SYMBOL, "price": str(value)},
                             headers={"x-api-key": key})  # fmt: skip
    assert answer.status_code == 200, answer.text


async def child_placed(database: str, parent_id: int, deadline: float) -> None:
    sql = ("SELECT COUNT(*) FROM orders WHERE parent_order_id = %s "
           "AND exchange_order_id IS NOT NULL")  # fmt: skip
    while time.monotonic() < deadline:
        if query(database, sql, (parent_id,))[0][0]:
            return
        await asyncio.sleep(0.005)
    held = query(database, "SELECT state, trigger_price, fired_at FROM held_orders "
                           "WHERE order_id = %s", (parent_id,))  # fmt: skip
    order = query(database, "SELECT status, emulation FROM orders WHERE id = %s", (parent_id,))
    raise RuntimeError(f"no child of {parent_id} on the venue (held {held}, order {order})")


async def measure(base: str, database: str, key: str, account_id: int, orders: int
                  ) -> dict[str, Any]:  # fmt: skip
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        await price(http, key, TOP)
        parents = []
        for n in range(orders):
            body = {"account_id": account_id, "command": "send_order", "payload": {
                "symbol": SYMBOL, "side": "buy", "order_type": "market", "qty": "0.001",
                "stop_price": str(TOP + 100 * (n + 1)), "emulation": "gateway"}}  # fmt: skip
            answer = await http.post("/oms/commands", json=body, params={"wait": "completed"},
                                     headers={"x-api-key": key})  # fmt: skip
            assert answer.status_code == 200, answer.text
            parents.append(int(answer.json()["results"][0]["order_id"]))
        await asyncio.sleep(1)  # armed and quiet
        took = []
        for n, parent in enumerate(parents):
            await price(http, key, TOP + 100 * (n + 1) + 50)  # crosses this stop only
            moved = time.perf_counter()
            await child_placed(database, parent, time.monotonic() + 60)
            took.append((time.perf_counter() - moved) * 1000)
    children = query(database, "SELECT COUNT(*), COUNT(DISTINCT parent_order_id) FROM orders "
                               "WHERE parent_order_id IS NOT NULL")[0]  # fmt: skip
    return {"orders": orders, "children": int(children[0]),
            "parents_with_a_child": int(children[1]),
            "p50_ms": round(percentile(took, 50), 1), "p99_ms": round(percentile(took, 99), 1),
            "max_ms": round(max(took), 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--orders", type=int, default=50)
    args = parser.parse_args()
    before = load()
    with stack(accounts=1, workers=1, mode="netting") as s:
        database = s.url.rsplit("/", 1)[1].split("?", 1)[0]
        result = asyncio.run(measure(s.base, database, s.trader_key, s.account_ids[0],
                                     args.orders))  # fmt: skip
    report_line("p14_held_trigger", {**result, "load_before": before, "load_after": load()})


if __name__ == "__main__":
    main()
