"""P5b: one event fanned out to many websocket subscribers over several API processes, with
the clients in their own processes; outbox tailing and the events bus side by side.

Per mode (`tail`: every API process tails the outbox; `bus`: they consume from NATS JetStream,
`bus.consume`): a fresh stack (bench/harness.py) with `--api-workers` uvicorn processes, one
nats-server started here (own port, own store directory; both modes run it, only `bus` uses
it), `--client-procs` client processes holding `--subscribers` sockets between them, all
subscribed to one paper account. The clients are bare asyncio protocols (bench/raw_ws.py): a
frame costs them a few microseconds (the `websockets` client's ~44 µs per socket and event
would need more CPU than the gateway on this machine's two cores). Then `--rounds` rounds of
`--events` market sends, one every `--interval` s. Each `order_accepted` arrival is stamped with
CLOCK_MONOTONIC (one clock for every process of the machine); the fan-out spread of an event is
each arrival minus the first arrival of that event anywhere. Reported per mode: the spread and
send → delivery percentiles per round and their medians over the rounds; the CPU seconds per
event of the store (MariaDB), the API processes, the workers and nats-server; and per
subscriber-event (per frame delivered: every event the account's commands write, each to every
socket) the CPU of the API processes and of the client processes, all over each round and net
of their idle cost (the same window measured without events, also reported per second). Run it
under `bench.private_mariadb` so that the store's CPU is this benchmark's alone.

    .venv/bin/python -m bench.private_mariadb -- .venv/bin/python -m bench.p5b_fanout_scale \\
        --subscribers 10000 --api-workers 4 --client-procs 4 --events 10 --rounds 3 --modes tail,bus
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
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
import uvloop

from bench import raw_ws
from bench.harness import (
    ROOT,
    cpu_seconds,
    database_pids,
    free_port,
    load,
    mysql_connect,
    percentile,
    report,
    stack,
)

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
CONNECT_BATCH = 100  # connects in flight per client process (the listen backlog is 2,048)
MARKER = b'"event":"order_accepted"'


def raise_fd_limit() -> None:
    """Sockets are files: lift the soft limit to the hard one (the API processes and the client
    processes inherit it from the benchmark's process)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- client process ------------------------------------------------------------------------------

async def client_main(host: str, port: int, key: str, account_id: int, n: int) -> None:
    """Connect and subscribe `n` sockets, say `ready`; then answer `stat` (frames so far) on
    stdin until another line asks for the arrivals, printed as one JSON line."""
    tally = raw_ws.Tally(MARKER)
    subscribe = json.dumps({"id": 1, "action": "subscribe", "payload": {
        "account_ids": [account_id], "with_snapshot": False}}).encode()  # fmt: skip
    sockets: list[raw_ws.Subscriber] = []
    for start in range(0, n, CONNECT_BATCH):
        sockets += await asyncio.gather(*(
            raw_ws.subscribe(host, port, "/ws", {"x-api-key": key}, subscribe, tally)
            for _ in range(start, min(n, start + CONNECT_BATCH))))  # fmt: skip
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while (await loop.run_in_executor(None, sys.stdin.readline)).strip() == "stat":
        print(json.dumps({"frames": tally.frames, "closed": tally.closed}), flush=True)
    print(json.dumps(tally.arrivals), flush=True)
    for sock in sockets:
        sock.close()


# --- the run -------------------------------------------------------------------------------------

def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True,
                           check=False).stdout.split()  # fmt: skip
    return [int(p) for p in found]


def socket_count(pid: int) -> int:
    """Open sockets of a process (its connections, plus a few of its own)."""
    fds = Path(f"/proc/{pid}/fd")
    return sum(1 for fd in fds.iterdir() if os.readlink(fd).startswith("socket:"))


class Clients:
    """The client processes and the line protocol that reads their counts."""

    def __init__(self, url: str, key: str, account_id: int, subscribers: int, procs: int) -> None:
        host, port = url.split("//", 1)[1].rsplit(":", 1)
        per = -(-subscribers // procs)
        self.procs = [subprocess.Popen(
            [sys.executable, "-m", "bench.p5b_fanout_scale", "client", host, port, key,
             str(account_id), str(min(per, subscribers - i * per))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, text=True)
            for i in range(procs)]  # fmt: skip

    def ask(self, line: str) -> list[str]:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
        return [self.answer(proc) for proc in self.procs]

    @staticmethod
    def answer(proc: subprocess.Popen[str]) -> str:
        assert proc.stdout is not None
        return proc.stdout.readline()

    def stat(self) -> dict[str, int]:
        counts = [json.loads(line) for line in self.ask("stat")]
        return {k: sum(c[k] for c in counts) for k in ("frames", "closed")}

    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs]


def cpu_now(api_pid: int, worker_pids: list[int], nats_pid: int,
            client_pids: list[int]) -> dict[str, float]:  # fmt: skip
    api = [api_pid, *children(api_pid)]
    return {"mariadb": sum(cpu_seconds(p) for p in database_pids()),
            "api": sum(cpu_seconds(p) for p in api),
            "worker": sum(cpu_seconds(p) for p in worker_pids),
            "nats": cpu_seconds(nats_pid),
            "clients": sum(cpu_seconds(p) for p in client_pids)}  # fmt: skip


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


def accepted_orders(url: str) -> dict[int, int]:
    """`seq` → order id of every `order_accepted` event (the clients know an event by its seq)."""
    database = url.rsplit("/", 1)[1].split("?", 1)[0]
    with mysql_connect(database=database) as conn, conn.cursor() as cur:
        cur.execute("SELECT seq, payload FROM outbox "
                    "WHERE event = 'order_accepted' AND seq IS NOT NULL")  # fmt: skip
        return {int(seq): int(json.loads(payload)["id"]) for seq, payload in cur.fetchall()}


def run_mode(mode: str, args: argparse.Namespace, nats_url: str, nats_pid: int) -> dict[str, Any]:
    env = {"OMS_BUS__URL": nats_url, "OMS_BUS__CONSUME": "true",
           "OMS_BUS__STREAM": f"P5B_{os.getpid()}_{int(time.time())}"} if mode == "bus" else {}
    load_before = load()
    with stack(accounts=1, api_workers=args.api_workers, extra_env=env) as s:
        api_pid, *worker_pids = (p.pid for p in s.procs)
        clients = Clients(s.base, s.trader_key, s.account_ids[0], args.subscribers,
                          args.client_procs)  # fmt: skip
        try:
            connect_started = time.monotonic()
            for proc in clients.procs:
                line = clients.answer(proc)
                if line.strip() != "ready":
                    raise RuntimeError(f"a client process did not get its sockets ready: {line!r}")
            connect_seconds = time.monotonic() - connect_started
            settle(api_pid)
            sockets = [socket_count(p) for p in children(api_pid)]

            def cpu() -> dict[str, float]:
                return cpu_now(api_pid, worker_pids, nats_pid, clients.pids())

            # the same window without events: what the stack costs idle with these sockets open
            before, idle_started = cpu(), time.monotonic()
            time.sleep(args.events * args.interval + 3)
            after = cpu()
            idle = {k: (after[k] - before[k]) / (time.monotonic() - idle_started) for k in after}
            rounds = []
            for _ in range(args.rounds):
                frames_before = clients.stat()["frames"]
                before, started = cpu(), time.monotonic()
                sent = asyncio.run(send_events(s.base, s.trader_key, s.account_ids[0], args.events,
                                               args.interval))  # fmt: skip
                time.sleep(3)
                after = cpu()
                seconds = time.monotonic() - started
                stat = clients.stat()
                used = {k: after[k] - before[k] for k in after}
                net = {k: used[k] - idle[k] * seconds for k in used}
                frames = stat["frames"] - frames_before
                rounds.append((sent, {
                    "per_event_ms": {k: round(v / args.events * 1000, 1) for k, v in net.items()},
                    "per_event_raw_ms": {k: round(v / args.events * 1000, 1) for k, v in used.items()},
                    "frames": frames, "sockets_closed": stat["closed"],
                    "frames_per_socket_per_command": round(frames / args.subscribers / args.events, 2),
                    "api_us_per_subscriber_event": round(net["api"] / max(frames, 1) * 1e6, 2),
                    "client_us_per_socket_event": round(net["clients"] / max(frames, 1) * 1e6, 2),
                }))  # fmt: skip
            arrivals: dict[int, list[float]] = {}
            orders = accepted_orders(s.url)
            for line in clients.ask("stop"):
                for seq, times in json.loads(line).items():
                    arrivals.setdefault(orders[int(seq)], []).extend(times)
            for proc in clients.procs:
                proc.wait(timeout=120)
        finally:
            for proc in clients.procs:
                if proc.poll() is None:
                    proc.kill()
    result = summarise(mode, args, rounds, arrivals, connect_seconds)
    result["idle_cpu_ms_per_s"] = {k: round(v * 1000, 1) for k, v in idle.items()}
    result["api_process_sockets"] = sockets
    result["load"] = {"before": load_before, "after": load()}
    return result


def summarise(mode: str, args: argparse.Namespace,
              rounds: list[tuple[dict[int, float], dict[str, Any]]],
              arrivals: dict[int, list[float]], connect_seconds: float) -> dict[str, Any]:  # fmt: skip
    per_round = []
    for sent, cost in rounds:
        spread, delivery, complete = [], [], 0
        for order_id, start in sent.items():
            times = arrivals.get(order_id, [])
            complete += len(times) == args.subscribers
            if not times:
                continue
            spread += [(t - min(times)) * 1000 for t in times]
            delivery += [(t - start) * 1000 for t in times]
        per_round.append({
            "delivered_to_all": f"{complete}/{len(sent)}",
            "spread_ms": {f"p{q}": round(percentile(spread, q), 1) for q in (50, 99)},
            "send_to_delivery_ms": {f"p{q}": round(percentile(delivery, q), 1) for q in (50, 99)},
            **cost})

    def median(*path: str) -> float:
        values = []
        for r in per_round:
            value: Any = r
            for key in path:
                value = value[key]
            values.append(float(value))
        return round(statistics.median(values), 2)

    return {"mode": mode, "connect_seconds": round(connect_seconds, 1),
            "median_spread_p99_ms": median("spread_ms", "p99"),
            "median_spread_p50_ms": median("spread_ms", "p50"),
            "median_delivery_p99_ms": median("send_to_delivery_ms", "p99"),
            "median_api_us_per_subscriber_event": median("api_us_per_subscriber_event"),
            "median_client_us_per_socket_event": median("client_us_per_socket_event"),
            "median_frames_per_round": median("frames"),
            "median_store_cpu_ms_per_event_raw": median("per_event_raw_ms", "mariadb"),
            "rounds": per_round}  # fmt: skip


def start_nats(store: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd",
                             str(store)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    return proc, f"nats://127.0.0.1:{port}"


def main() -> None:
    raise_fd_limit()
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        host, port, key, account_id, n = sys.argv[2:7]
        uvloop.run(client_main(host, int(port), key, int(account_id), int(n)))
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
