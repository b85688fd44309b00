"""P14: a held order's trigger → its child on the venue, in the steady state.

Real uvicorn + worker + MariaDB (bench/harness.py), one paper account. `--orders` buy stops
the gateway holds (`emulation: gateway`) rest 100 apart above the market; then the price is
moved up one level at a time (`POST /paper/prices`), each move crossing exactly one stop.
Measured per stop, from the price move's answer to the child order linked on the venue (its
`exchange_order_id` set: the worker saw the price in its housekeeping round, fired the
parent, queued the child in the same transaction, and placed it), by 5-ms polls of the store:
`p50_ms`, `p99_ms`, `max_ms`. Every parent must have exactly one child (`children`).

    .venv/bin/python -m bench.p14_held_trigger [--orders 50]

With `--kills N`, two workers run and, before each of the first N moves, the worker owning
the account is SIGKILLed (and a fresh one started, so two stay alive: the next kill waits until
it has registered): the same figure across
a kill (`kill_p50_ms`, `kill_max_ms`), the survivor taking the account over from the missed
heartbeats of the dead one (production defaults).

    .venv/bin/python -m bench.p14_held_trigger --orders 50 --kills 5

With `--bracket`, each of `--orders` rounds is a bracket instead: a market entry with a
stop-loss 100 below and a take-profit 1,000 above, held by the gateway; once the stop-loss is
armed (before it, with `--kills`, the owner SIGKILLed) the price drops through it, and the
figure is the time from that move to the stop-loss's child linked on the venue.

    .venv/bin/python -m bench.p14_held_trigger --bracket --orders 10 --kills 5

With `--venue wire:binanceusdm` (or `wire:binance`), the account is a CCXT account of a venue
served as its own process (bench/wire.py), whose price is moved through the venue's admin
endpoint, each move at a random phase of a second: a held order on an exchange account, which
the worker watches by the exchange's ticker in its housekeeping rounds (once a second) and
whose child goes out through CCXT.

    .venv/bin/python -m bench.p14_held_trigger --orders 30 --venue wire:binanceusdm

One JSON line (`report_line`), with the machine's load: the figure moves with it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import time
from typing import Any

import httpx

from bench import wire
from bench.harness import Stack, load, mysql_connect, percentile, report_line, stack

SYMBOL = "BTC/USDT"
TOP = 60_000


def query(database: str, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with mysql_connect(database=database, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


#: where a price is moved: the gateway's paper prices, or a served venue's admin endpoint
#: (`--venue wire:…`); and the symbol traded there
MOVE: dict[str, str] = {"url": "/paper/prices", "symbol": SYMBOL}
#: on a served venue the worker reads the price once a second, so each move waits a random
#: part of a second first: moved right after the last child went out, every move would land
#: at the same phase of that round and the figure would be its period, not its spread
PHASE = random.Random(14)


async def price(http: httpx.AsyncClient, key: str, value: int) -> None:
    answer = await http.post(MOVE["url"], json={"symbol": MOVE["symbol"], "price": str(value)},
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


def kill_owner(s: Stack, database: str, account_id: int) -> None:
    """SIGKILL the worker process owning the account; start a fresh one in its place. First
    wait until every worker process started has registered: the one started at the last kill
    may still be importing on a loaded host, and killing the owner then left no survivor able
    to take over until it was up (seconds, not the takeover being measured)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        started = {p.pid for p in s.procs[1:] if p.poll() is None}
        running = query(database, "SELECT pid FROM workers WHERE status = 'running'")
        if started <= {int(pid) for (pid,) in running}:
            break
        time.sleep(0.05)
    ((owner,),) = query(database, "SELECT owner FROM account_leases WHERE account_id = %s",
                        (account_id,))  # fmt: skip
    pid = int(str(owner).rsplit(":", 2)[1])
    os.kill(pid, signal.SIGKILL)
    s.start_worker()


async def armed_stop_loss(database: str, entry_id: int, deadline: float) -> int:
    """The bracket's stop-loss order, once the gateway holds it armed (the entry filled)."""
    sql = ("SELECT h.order_id FROM order_group_members m JOIN held_orders h ON h.order_id = "
           "m.order_id WHERE m.role = 'stop_loss' AND h.state = 'armed' AND m.group_id = "
           "(SELECT group_id FROM orders WHERE id = %s)")  # fmt: skip
    while time.monotonic() < deadline:
        if rows := query(database, sql, (entry_id,)):
            return int(rows[0][0])
        await asyncio.sleep(0.01)
    raise RuntimeError(f"the stop-loss of entry {entry_id} was never armed")


async def measure_brackets(s: Stack, database: str, rounds: int, kills: int) -> dict[str, Any]:
    base, key, account_id = s.base, s.trader_key, s.account_ids[0]
    killed: list[float] = []
    took: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        for n in range(rounds):
            await price(http, key, TOP)
            body = {"account_id": account_id, "command": "send_order", "payload": {
                "symbol": MOVE["symbol"], "side": "buy", "order_type": "market", "qty": "0.001",
                "bracket_stop_loss": {"trigger_price": str(TOP - 100)},
                "bracket_take_profit": {"trigger_price": str(TOP + 1000)}}}  # fmt: skip
            answer = await http.post("/oms/commands", json=body, params={"wait": "completed"},
                                     headers={"x-api-key": key})  # fmt: skip
            assert answer.status_code == 200, answer.text
            entry_id = int(answer.json()["results"][0]["order_id"])
            stop_loss = await armed_stop_loss(database, entry_id, time.monotonic() + 120)
            await asyncio.sleep(0.5)  # armed and quiet
            if n < kills:
                kill_owner(s, database, account_id)
            await price(http, key, TOP - 150)  # through the stop-loss only
            moved = time.perf_counter()
            await child_placed(database, stop_loss, time.monotonic() + 120)
            (killed if n < kills else took).append((time.perf_counter() - moved) * 1000)
    return {"brackets": rounds, "kills": kills,
            **({"p50_ms": round(percentile(took, 50), 1), "max_ms": round(max(took), 1)}
               if took else {}),
            **({"kill_p50_ms": round(percentile(killed, 50), 1),
                "kill_max_ms": round(max(killed), 1)} if killed else {})}  # fmt: skip


async def measure(s: Stack, database: str, orders: int, kills: int) -> dict[str, Any]:
    base, key, account_id = s.base, s.trader_key, s.account_ids[0]
    killed: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        await price(http, key, TOP)
        parents = []
        for n in range(orders):
            body = {"account_id": account_id, "command": "send_order", "payload": {
                "symbol": MOVE["symbol"], "side": "buy", "order_type": "market", "qty": "0.001",
                "stop_price": str(TOP + 100 * (n + 1)), "emulation": "gateway"}}  # fmt: skip
            answer = await http.post("/oms/commands", json=body, params={"wait": "completed"},
                                     headers={"x-api-key": key})  # fmt: skip
            assert answer.status_code == 200, answer.text
            parents.append(int(answer.json()["results"][0]["order_id"]))
        await asyncio.sleep(1)  # armed and quiet
        took = []
        for n, parent in enumerate(parents):
            if MOVE["url"] != "/paper/prices":
                await asyncio.sleep(PHASE.uniform(0, 1))
            if n < kills:
                kill_owner(s, database, account_id)
            await price(http, key, TOP + 100 * (n + 1) + 50)  # crosses this stop only
            moved = time.perf_counter()
            await child_placed(database, parent, time.monotonic() + 120)
            (killed if n < kills else took).append((time.perf_counter() - moved) * 1000)
    children = query(database, "SELECT COUNT(*), COUNT(DISTINCT parent_order_id) FROM orders "
                               "WHERE parent_order_id IS NOT NULL")[0]  # fmt: skip
    return {"orders": orders, "children": int(children[0]),
            "parents_with_a_child": int(children[1]),
            "p50_ms": round(percentile(took, 50), 1), "p99_ms": round(percentile(took, 99), 1),
            "max_ms": round(max(took), 1), "kills": kills,
            **({"kill_p50_ms": round(percentile(killed, 50), 1),
                "kill_max_ms": round(max(killed), 1)} if killed else {})}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--orders", type=int, default=50)
    parser.add_argument("--kills", type=int, default=0)
    parser.add_argument("--bracket", action="store_true",
                        help="brackets: the stop-loss exit firing (across a kill with --kills)")
    # peers probe the workers' liveness locks this often (docs/worker.md); 0: heartbeats only
    parser.add_argument("--liveness-probe-seconds", type=float, default=0.2)
    parser.add_argument("--venue", choices=wire.VENUES, default="paper",
                        help="paper, or wire:DIALECT: a CCXT account of a venue served in that "
                             "dialect as its own process")  # fmt: skip
    args = parser.parse_args()
    before = load()
    extra = {"OMS_WORKER__LIVENESS_PROBE_SECONDS": str(args.liveness_probe_seconds)}
    workers = 2 if args.kills else 1
    with contextlib.ExitStack() as running:
        if args.venue == "paper":
            s = running.enter_context(stack(accounts=1, workers=workers, mode="netting",
                                            extra_env=extra))  # fmt: skip
        else:
            v = running.enter_context(wire.served(wire.dialect_of(args.venue), 1, hedge=False))
            s = running.enter_context(stack(
                accounts=1, workers=workers, mode="netting", extra_env={**extra, **v.env},
                make_accounts=v.add_accounts, watched={"venue": v.proc.pid}))  # fmt: skip
            MOVE.update(url=f"{v.announced['admin']}/price",
                        symbol=wire.symbol(args.venue, SYMBOL))  # fmt: skip
        database = s.url.rsplit("/", 1)[1].split("?", 1)[0]
        run = measure_brackets if args.bracket else measure
        result = asyncio.run(run(s, database, args.orders, args.kills))
    name = "p14_bracket" if args.bracket else "p14_held_trigger"
    report_line(name, {**result, "venue": args.venue,
                       "liveness_probe_seconds": args.liveness_probe_seconds,
                       "load_before": before, "load_after": load()})


if __name__ == "__main__":
    main()
