"""P12: the kill switch under 1,000 working paper orders (issue 53).

Real uvicorn + worker + MariaDB (bench/harness.py) and a **second API process** on the same
database. 1,000 resting paper limit orders over 10 accounts (100 each, buys far below the
market), all working on the venue; then the kill switch (`scope` all) is engaged through API
process A while a prober sends one new order after another through API process B. Measured
from the moment the kill request was sent:

- `refused_in_other_api_ms`: until the first probe through B refused with `kill_switch`
  (the halt commits at the end of the kill's transaction: probes before it are accepted,
  `probes_accepted_before_refusal`, and cancelled by the kill's queued cancels), and
  `refused_after_kill_answer_ms`: the same from the kill's answer through A;
- `kill_call_ms`: the kill request's own round trip through A (one transaction: the halt, the
  queued cancels, the audit row and the events);
- `last_cancel_ms`: from the halt's commit (`risk_halts.engaged_at`) to the last order's cancel
  recorded (`orders.updated_at` of the last canceled order, both stamped by the store's
  clock), and `all_closed_wall_ms`: until a poll of the store found no open order (client
  clock from the kill request, 20 ms polls);
- `working_after`: open orders left (0 expected) and the orders' final statuses.

    .venv/bin/python -m bench.p12_kill_switch [--orders 1000] [--accounts 10] [--driver asyncmy]

One JSON line (`report_line`). The machine's load is stated with it: the figure moves with it.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from typing import Any

import httpx

from apps.oms.domain.access import AccountFlags, Role
from apps.oms.service import admin
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.store import Store
from bench.harness import (
    PEPPER,
    ROOT,
    free_port,
    load,
    mysql_connect,
    report_line,
    stack,
    wait_ready,
)

SYMBOL = "BTC/USDT"
KILL = AccountFlags(can_risk_manage=True, can_block_account=True, can_close_position=True)


async def risk_key(url: str, account_ids: list[int]) -> str:
    """A risk officer's key with the kill switch's flags on every account."""
    store = Store.from_url(url)
    try:
        async with store.transaction() as conn:
            user = await admin.create_user(conn, CLI_ACTOR, name="bench-risk", role=Role.RISK)
            key = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=user,
                                             label="bench-risk")  # fmt: skip
            for account_id in account_ids:
                await admin.set_permission(conn, CLI_ACTOR, api_key_id=key.id,
                                           account_id=account_id, flags=KILL)  # fmt: skip
        return key.plain
    finally:
        await store.close()


def query(database: str, sql: str) -> list[tuple[Any, ...]]:
    with mysql_connect(database=database, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def order(account_id: int, n: int) -> dict[str, Any]:
    price = str(30_000 + n % 20_000)  # resting: far below the market (60,000)
    return {"account_id": account_id, "command": "send_order", "payload": {
        "symbol": SYMBOL, "side": "buy", "order_type": "limit", "qty": "0.001", "price": price}}


async def place(http: httpx.AsyncClient, key: str, accounts: list[int], per: int) -> None:
    for account_id in accounts:
        for start in range(0, per, 50):
            batch = [order(account_id, n) for n in range(start, min(per, start + 50))]
            response = await http.post("/oms/commands", json=batch, headers={"x-api-key": key})
            assert response.status_code == 200, response.text[:500]


async def wait_working(database: str, count: int, deadline: float) -> int:
    working = 0
    while time.monotonic() < deadline:
        [(working,)] = query(database, "SELECT COUNT(*) FROM orders WHERE is_open = 1 AND "
                                       "exchange_order_id IS NOT NULL")  # fmt: skip
        if working >= count:
            return int(working)
        await asyncio.sleep(0.2)
    raise RuntimeError(f"only {working} of {count} orders working")


async def probe(http: httpx.AsyncClient, key: str, account_id: int, start: float,
                stop: asyncio.Event) -> dict[str, Any]:  # fmt: skip
    """New orders through the other API process until one is refused by the kill switch; the
    ones accepted meanwhile (the halt commits at the end of the kill's transaction) are
    cancelled by the kill's `cancel_all_orders`, queued after them."""
    accepted, n = 0, 0
    while not stop.is_set():
        n += 1
        response = await http.post("/oms/commands", json=order(account_id, 10_000 + n),
                                   headers={"x-api-key": key})  # fmt: skip
        at = time.perf_counter()
        if response.status_code == 409:
            details = response.json()["error"]["details"]
            if details.get("rule") == "kill_switch":
                return {"refused_in_other_api_ms": round((at - start) * 1000, 2),
                        "refused_at": at, "probes": n,
                        "probes_accepted_before_refusal": accepted}  # fmt: skip
        elif response.status_code == 200:
            accepted += 1
    return {"refused_in_other_api_ms": None, "refused_at": None, "probes": n}


async def measure(base_a: str, base_b: str, database: str, trader: str, risk: str,
                  accounts: list[int], orders: int) -> dict[str, Any]:  # fmt: skip
    per = orders // len(accounts)
    async with httpx.AsyncClient(base_url=base_a, timeout=120) as a, \
            httpx.AsyncClient(base_url=base_b, timeout=120) as b:  # fmt: skip
        price = await a.post("/paper/prices", json={"symbol": SYMBOL, "price": "60000"},
                             headers={"x-api-key": trader})  # fmt: skip
        assert price.status_code == 200, price.text
        placed_at = time.monotonic()
        await place(a, trader, accounts, per)
        working = await wait_working(database, per * len(accounts), time.monotonic() + 600)
        placing_s = time.monotonic() - placed_at
        # warm B's path (its key cache, its statements) before the timed part
        warm = await b.post("/oms/commands", json=order(accounts[0], 99_999),
                            headers={"x-api-key": trader})  # fmt: skip
        assert warm.status_code == 200, warm.text
        stop = asyncio.Event()
        start = time.perf_counter()
        prober = asyncio.create_task(probe(b, trader, accounts[-1], start, stop))
        killed = await a.post("/oms/risk/kill", headers={"x-api-key": risk},
                              json={"scope": "all", "comment": "bench p12"})  # fmt: skip
        answered = time.perf_counter()
        kill_call_ms = round((answered - start) * 1000, 2)
        assert killed.status_code == 200, killed.text
        probed = await asyncio.wait_for(prober, 60)
        refused_at = probed.pop("refused_at")
        # after the kill's answer: how long another process still accepted (≤ 0: none)
        probed["refused_after_kill_answer_ms"] = (
            None if refused_at is None else round((refused_at - answered) * 1000, 2))
        stop.set()
        left = -1
        while time.perf_counter() - start < 600:
            [(left,)] = query(database, "SELECT COUNT(*) FROM orders WHERE is_open = 1")
            if left == 0:
                break
            await asyncio.sleep(0.02)
        closed_wall_ms = round((time.perf_counter() - start) * 1000, 2)
    [(last_cancel_us,)] = query(database, (
        "SELECT TIMESTAMPDIFF(MICROSECOND, h.engaged_at, MAX(o.updated_at)) FROM orders o, "
        "risk_halts h WHERE o.status = 'CANCELED' GROUP BY h.id"))  # fmt: skip
    statuses = dict(query(database, "SELECT status, COUNT(*) FROM orders GROUP BY status"))
    body = killed.json()
    return {
        "orders": orders, "accounts": len(accounts), "working_before": working,
        "placing_s": round(placing_s, 1), "kill_call_ms": kill_call_ms, **probed,
        "last_cancel_ms": None if last_cancel_us is None else round(last_cancel_us / 1000, 1),
        "all_closed_wall_ms": closed_wall_ms, "working_after": int(left),
        "kill_commands": len(body["commands"]), "kill_working_orders": body["working_orders"],
        "statuses": {str(k): int(v) for k, v in statuses.items()},
    }  # fmt: skip


def second_api(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "apps.cli", "api"], cwd=ROOT,
                            env={**env, "OMS_API_PORT": str(port)})  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_ready(base, time.monotonic() + 60)
    return proc, base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--driver", default="aiomysql", choices=("aiomysql", "asyncmy"))
    args = parser.parse_args()
    before = load()
    with stack(accounts=args.accounts, workers=1, driver=args.driver) as s:
        risk = asyncio.run(risk_key(s.url, s.account_ids))
        proc, base_b = second_api(s.env)
        try:
            database = s.url.rsplit("/", 1)[1].split("?", 1)[0]
            result = asyncio.run(measure(s.base, base_b, database, s.trader_key, risk,
                                         s.account_ids, args.orders))  # fmt: skip
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    report_line("p12_kill_switch", {**result, "driver": args.driver, "load_before": before,
                                    "load_after": load()})  # fmt: skip


if __name__ == "__main__":
    main()
