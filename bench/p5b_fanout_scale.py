"""P5b: one event fanned out to many websocket subscribers over several API processes, with
the clients in their own processes; outbox tailing and the events bus side by side (issue #39).

Per mode (`tail`: every API process tails the outbox; `bus`: they consume from NATS JetStream,
`bus.consume`): a fresh stack (bench/harness.py) with `--api-workers` uvicorn processes, one
nats-server started here (own port, own store directory; both modes run it, only `bus` uses
it), `--client-procs` client processes holding `--subscribers` sockets between them, all
subscribed to one paper account. Then `--rounds` rounds of `--events` market sends, one every
`--interval` s. Each `order_accepted` arrival is stamped with CLOCK_MONOTONIC (one clock for
every process of the machine); the fan-out spread of an event is each arrival minus the first
arrival of that event anywhere. Reported per mode: the spread and send → delivery percentiles
per round and their medians over the rounds, and the CPU seconds per event of the store
(MariaDB), the API processes, the workers and nats-server over each round, net of their idle
cost (the same window measured without events, also reported per second). Run it under
`bench.private_mariadb` so that the store's CPU is this benchmark's alone.

    .venv/bin/python -m bench.p5b_fanout_scale --subscribers 10000 --api-workers 4 \\
        --client-procs 4 --events 10 --rounds 3 --modes tail,bus
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import websockets

from bench.harness import ROOT, cpu_seconds, database_pids, free_port, percentile, report, stack

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


# --- client process ------------------------------------------------------------------------------

async def client_main(url: str, key: str, account_id: int, n: int) -> None:
    arrivals: dict[int, list[float]] = {}
    sockets = []
    for start in range(0, n, 50):
        sockets += await asyncio.gather(*(connect(url, key, account_id)
                                          for _ in range(start, min(n, start + 50))))
    readers = [asyncio.create_task(read(ws, arrivals)) for ws in sockets]
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for task in readers:
        task.cancel()
    print(json.dumps(arrivals), flush=True)
    for ws in sockets:
        with contextlib.suppress(Exception):
            await ws.close()


async def connect(url: str, key: str, account_id: int) -> Any:
    ws = await websockets.connect(url, additional_headers={"x-api-key": key}, max_queue=None,
                                  compression=None, open_timeout=300)
    await ws.recv()
    await ws.send(json.dumps({"id": 1, "action": "subscribe", "payload": {
        "account_ids": [account_id], "with_snapshot": False}}))
    await ws.recv()
    return ws


async def read(ws: Any, arrivals: dict[int, list[float]]) -> None:
    async for text in ws:
        if '"order_accepted"' in text:
            order_id = json.loads(text)["payload"]["order_id"]
            arrivals.setdefault(order_id, []).append(time.monotonic())


# --- the run -------------------------------------------------------------------------------------

def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True,
                           check=False).stdout.split()  # fmt: skip
    return [int(p) for p in found]


def cpu_now(api_pid: int, worker_pids: list[int], nats_pid: int) -> dict[str, float]:
    api = [api_pid, *children(api_pid)]
    return {"mariadb": sum(cpu_seconds(p) for p in database_pids()),
            "api": sum(cpu_seconds(p) for p in api),
            "worker": sum(cpu_seconds(p) for p in worker_pids),
            "nats": cpu_seconds(nats_pid)}  # fmt: skip


def settle(api_pid: int, seconds: float = 120) -> None:
    """Until the API processes are done with the connects (under 10 % of a core for a second),
    so that the idle window measures idle."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pids = [api_pid, *children(api_pid)]
        before = sum(cpu_seconds(p) for p in pids)
        time.sleep(1)
        if sum(cpu_seconds(p) for p in pids) - before < 0.1:
            return


async def send_events(base: str, key: str, account_id: int, events: int,
                      interval: float) -> dict[int, float]:  # fmt: skip
    sent: dict[int, float] = {}
    async with aiohttp.ClientSession(base, headers={"x-api-key": key}) as session:
        for _ in range(events):
            body = {"account_id": account_id, "command": "send_order", "payload": {
                "symbol": "BTC/USDT", "side": "buy", "type": "market", "qty": "0.001"}}
            start = time.monotonic()
            async with session.post("/oms/commands", json=body) as response:
                sent[int((await response.json())["results"][0]["order_id"])] = start
            await asyncio.sleep(interval)
    return sent


def run_mode(mode: str, args: argparse.Namespace, nats_url: str, nats_pid: int) -> dict[str, Any]:
    env = {"OMS_BUS__URL": nats_url, "OMS_BUS__CONSUME": "true",
           "OMS_BUS__STREAM": f"P5B_{os.getpid()}_{int(time.time())}"} if mode == "bus" else {}
    with stack(accounts=1, api_workers=args.api_workers, extra_env=env) as s:
        api_pid, *worker_pids = (p.pid for p in s.procs)
        url = s.base.replace("http", "ws") + "/ws"
        per = -(-args.subscribers // args.client_procs)
        clients = [subprocess.Popen(
            [sys.executable, "-m", "bench.p5b_fanout_scale", "client", url, s.trader_key,
             str(s.account_ids[0]), str(min(per, args.subscribers - i * per))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, text=True)
            for i in range(args.client_procs)]  # fmt: skip
        connect_started = time.monotonic()
        for proc in clients:
            line = proc.stdout.readline() if proc.stdout is not None else ""
            if line.strip() != "ready":
                raise RuntimeError(f"a client process did not get its sockets ready: {line!r}")
        connect_seconds = time.monotonic() - connect_started
        settle(api_pid)
        # the same window without events: what the stack costs idle with these sockets open
        before, idle_started = cpu_now(api_pid, worker_pids, nats_pid), time.monotonic()
        time.sleep(args.events * args.interval + 3)
        after = cpu_now(api_pid, worker_pids, nats_pid)
        idle = {k: (after[k] - before[k]) / (time.monotonic() - idle_started) for k in after}
        rounds = []
        for _ in range(args.rounds):
            before, started = cpu_now(api_pid, worker_pids, nats_pid), time.monotonic()
            sent = asyncio.run(send_events(s.base, s.trader_key, s.account_ids[0], args.events,
                                           args.interval))  # fmt: skip
            time.sleep(3)
            after = cpu_now(api_pid, worker_pids, nats_pid)
            seconds = time.monotonic() - started
            # per event, net of the idle cost of the same window
            rounds.append((sent, {k: (after[k] - before[k] - idle[k] * seconds) / args.events
                                  for k in after} | {f"{k}_raw": (after[k] - before[k]) / args.events
                                                     for k in after}))  # fmt: skip
        arrivals: dict[int, list[float]] = {}
        for proc in clients:
            assert proc.stdin is not None
            assert proc.stdout is not None
            proc.stdin.write("stop\n")
            proc.stdin.flush()
            for order_id, times in json.loads(proc.stdout.readline()).items():
                arrivals.setdefault(int(order_id), []).extend(times)
            proc.wait(timeout=120)
    result = summarise(mode, args, rounds, arrivals, connect_seconds)
    result["idle_cpu_ms_per_s"] = {k: round(v * 1000, 1) for k, v in idle.items()}
    return result


def summarise(mode: str, args: argparse.Namespace,
              rounds: list[tuple[dict[int, float], dict[str, float]]],
              arrivals: dict[int, list[float]], connect_seconds: float) -> dict[str, Any]:  # fmt: skip
    per_round = []
    for sent, cpu in rounds:
        spread, delivery, complete = [], [], 0
        for order_id, start in sent.items():
            times = arrivals.get(order_id, [])
            complete += len(times) == args.subscribers
            spread += [(t - min(times)) * 1000 for t in times]
            delivery += [(t - start) * 1000 for t in times]
        per_round.append({
            "delivered_to_all": f"{complete}/{len(sent)}",
            "spread_ms": {f"p{q}": round(percentile(spread, q), 1) for q in (50, 99)},
            "send_to_delivery_ms": {f"p{q}": round(percentile(delivery, q), 1) for q in (50, 99)},
            "cpu_ms_per_event_net_of_idle": {k: round(v * 1000, 1) for k, v in cpu.items()}})

    def median(path: tuple[str, str]) -> float:
        return round(statistics.median(r[path[0]][path[1]] for r in per_round), 1)

    return {"mode": mode, "connect_seconds": round(connect_seconds, 1),
            "median_spread_p99_ms": median(("spread_ms", "p99")),
            "median_spread_p50_ms": median(("spread_ms", "p50")),
            "median_delivery_p99_ms": median(("send_to_delivery_ms", "p99")),
            "median_store_cpu_ms_per_event": median(("cpu_ms_per_event_net_of_idle", "mariadb")),
            "median_store_cpu_ms_per_event_raw": median(("cpu_ms_per_event_net_of_idle",
                                                         "mariadb_raw")),
            "rounds": per_round}  # fmt: skip


def start_nats(store: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd",
                             str(store)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    return proc, f"nats://127.0.0.1:{port}"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        url, key, account_id, n = sys.argv[2:6]
        asyncio.run(client_main(url, key, int(account_id), int(n)))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=10000)
    parser.add_argument("--api-workers", type=int, default=4)
    parser.add_argument("--client-procs", type=int, default=4)
    parser.add_argument("--events", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--modes", default="tail,bus")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="p5b-nats-") as store:
        nats, nats_url = start_nats(Path(store))
        try:
            for mode in args.modes.split(","):
                result = run_mode(mode, args, nats_url, nats.pid)
                report("p5b_fanout_scale", {
                    "subscribers": args.subscribers, "api_workers": args.api_workers,
                    "client_procs": args.client_procs, "events_per_round": args.events,
                    "target": "spread p99 <= 100 ms", **result})
        finally:
            nats.send_signal(signal.SIGTERM)
            nats.wait(timeout=30)


if __name__ == "__main__":
    main()
