"""What a write to one loopback TCP socket costs the writing process on this machine: the floor
under P5b's fan-out, which no change in the gateway's Python removes.

A server process on uvloop (as `ccxt-oms api` runs) accepts `--sockets` connections from a
client process that reads everything and decodes nothing, then writes one payload of each of `--sizes` bytes
to every socket per round, and lets its loop flush them (uvloop buffers a write and makes the
system call when the loop next turns). CPU by `time.thread_time` over the round, the loop's
turns included, per socket; the first round is a warm-up. On loopback the sender's system call
also runs the receiving side's TCP processing and wakes the reader, so the figure is close to
what one subscriber-event costs in the kernel, whatever the application does. One JSON line
with every round, the median per size and the load average.

    .venv/bin/python -m bench.loopback_write_cost --sockets 2500 --rounds 5 --sizes 400,2000
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time

import uvloop

from bench.harness import free_port, load, report
from bench.p5b_fanout_scale import raise_fd_limit

ACCEPT_BACKLOG = 4096


class _Held(asyncio.Protocol):
    def __init__(self, held: list[asyncio.Transport], wanted: int, all_in: asyncio.Event) -> None:
        self.held, self.wanted, self.all_in = held, wanted, all_in

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.held.append(transport)  # type: ignore[arg-type]  # uvloop's is not a subclass
        if len(self.held) >= self.wanted:
            self.all_in.set()

    def data_received(self, data: bytes) -> None:
        pass


class _Reader(asyncio.Protocol):
    def data_received(self, data: bytes) -> None:
        pass


def _clients(port: int, sockets: int, done: multiprocessing.synchronize.Event) -> None:
    raise_fd_limit()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for _ in range(sockets):
            await loop.create_connection(_Reader, "127.0.0.1", port)
        await loop.run_in_executor(None, done.wait)

    uvloop.run(main())


async def _serve(port: int, sockets: int, sizes: list[int], rounds: int,
                 clients: multiprocessing.Process) -> dict[str, list[float]]:  # fmt: skip
    """Listen, start the client process, then time the rounds once every socket is in."""
    held: list[asyncio.Transport] = []
    loop = asyncio.get_running_loop()
    all_in = asyncio.Event()
    server = await loop.create_server(lambda: _Held(held, sockets, all_in), "127.0.0.1", port,
                                      backlog=ACCEPT_BACKLOG)  # fmt: skip
    clients.start()
    await all_in.wait()
    await asyncio.sleep(0.5)
    results: dict[str, list[float]] = {}
    for size in sizes:
        payload = b"x" * size
        per_round = []
        for _ in range(rounds + 1):
            started = time.thread_time()
            for transport in held:
                transport.write(payload)
            await asyncio.sleep(0)  # the loop's turn that makes the system calls
            await asyncio.sleep(0)
            per_round.append((time.thread_time() - started) / len(held) * 1e6)
            await asyncio.sleep(0.3)  # the reader drains
        results[str(size)] = [round(us, 2) for us in per_round[1:]]
    server.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=2500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", default="400,2000")
    args = parser.parse_args()
    raise_fd_limit()
    sizes = [int(s) for s in args.sizes.split(",")]
    port = free_port()
    done = multiprocessing.Event()
    before = load()
    clients = multiprocessing.Process(target=_clients, args=(port, args.sockets, done))
    server = uvloop.run(_serve(port, args.sockets, sizes, args.rounds, clients))
    done.set()
    clients.join(timeout=30)
    report("loopback_write_cost", {
        "sockets": args.sockets,
        "cpu_us_per_write": server,
        "median_cpu_us_per_write": {k: statistics.median(v) for k, v in server.items()},
        "load": {"before": before, "after": load()},
    })  # fmt: skip


if __name__ == "__main__":
    main()
