"""What one websocket delivery costs the receiving side, and a pre-encoded broadcast the sending
side, on this machine (why P5's spread target at 10,000 subscribers needs the clients elsewhere).

N client sockets in one process (the `websockets` client, as the P5 benchmarks' clients) each
receive and JSON-decode `--rounds` events broadcast by a `websockets` server in another process
(`websockets.broadcast`: one frame written per socket). CPU by `time.process_time` in each
process, connects and the first (warm-up) round excluded. One JSON line per run with the load
average; the last line has the medians of `--runs` runs.

    .venv/bin/python -m bench.ws_client_cost --clients 2000 --rounds 5 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from typing import Any

import websockets
from websockets.asyncio.server import ServerConnection, broadcast, serve

EVENT = json.dumps({
    "type": "event", "seq": 123456, "account_id": 1, "namespace": "oms",
    "event": "order_accepted",
    "data": {"id": 1, "symbol": "BTC/USDT", "side": "buy", "qty": "0.01", "price": "50000",
             "status": "SUBMITTED", "strategy_id": 0, "created_at": "2026-11-25T17:00:00Z"},
})  # fmt: skip


def run_clients(port: int, clients: int, rounds: int, out: int) -> None:
    """The client process: connect all, take the warm-up round, then time the rest."""

    async def one(started: list[float]) -> None:
        async with websockets.connect(f"ws://127.0.0.1:{port}", max_queue=None) as ws:
            json.loads(await ws.recv())  # warm-up round
            started.append(time.process_time())
            for _ in range(rounds):
                json.loads(await ws.recv())
            finished.append(time.process_time())
            await ws.wait_closed()

    finished: list[float] = []

    async def main() -> None:
        started: list[float] = []
        await asyncio.gather(*(one(started) for _ in range(clients)))
        per = (max(finished) - max(started)) / (clients * rounds)
        os.write(out, json.dumps({"client_us": per * 1e6}).encode())

    asyncio.run(main())


async def one_run(clients: int, rounds: int) -> dict[str, Any]:
    connected: set[ServerConnection] = set()
    ready = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        connected.add(ws)
        if len(connected) == clients:
            ready.set()
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, max_queue=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the clients' own process
            os.close(read)
            run_clients(port, clients, rounds, write)
            os._exit(0)
        os.close(write)
        await ready.wait()
        cpu = 0.0
        for index in range(rounds + 1):
            await asyncio.sleep(1.0)
            t0 = time.process_time()
            broadcast(connected, EVENT)
            if index:  # round 0 is the warm-up
                cpu += time.process_time() - t0
        await asyncio.sleep(1.0)
        for ws in list(connected):
            await ws.close()
        await asyncio.get_running_loop().run_in_executor(None, os.waitpid, pid, 0)
        client = json.loads(os.read(read, 4096))
    return {"clients": clients, "rounds": rounds, "load": os.getloadavg()[0],
            "client_cpu_us_per_socket_event": round(client["client_us"], 1),
            "server_broadcast_cpu_us_per_socket_event": round(cpu / (clients * rounds) * 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    lines = []
    for _ in range(args.runs):
        line = asyncio.run(one_run(args.clients, args.rounds))
        print(json.dumps(line), flush=True)
        lines.append(line)
    keys = ("client_cpu_us_per_socket_event", "server_broadcast_cpu_us_per_socket_event")
    print(json.dumps({"median": {k: statistics.median(x[k] for x in lines) for k in keys},
                      "clients": args.clients, "runs": args.runs}))  # fmt: skip


if __name__ == "__main__":
    main()
