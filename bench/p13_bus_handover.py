"""P13: the events bus publisher's handover (issue #55). A real nats-server (own port and store
directory) and `--publishers` publisher processes, each running what a worker runs on the bus
(`WorkerBus`: the publisher and its wake-ups) on one SQLite store, while this process numbers
`--rate` outbox events a second and says so on the bus (`oms.wake.sequenced`, as a worker's
sequencer does). `--kills` times: SIGKILL of the process holding the publisher lease; the gap is
the time from the kill to the JetStream store time of the first event the new holder publishes
(the `seq` its `bus publisher continues at seq N` log line names). The killed process is
replaced and the next kill waits a random 0-1 s more (so kills fall anywhere in the renewal
period). Then `--idle-seconds` without events: CPU of the holder, of one standby and of
nats-server, and the lease's key-value writes a second (the bucket's stream sequence). Then
`--stalls` times: SIGSTOP of the holder for `--stall-seconds` (a stalled but alive publisher:
a long GC pause, a loaded machine), then SIGCONT; a stall after which another process holds the
lease is a false takeover. Finally the stream is checked against the outbox (one message per
`seq`, in order). One JSON line.

`--stack`: the same with a real API and two `ccxt-oms worker` processes on a fresh MariaDB
database (the harness), the events coming from market orders sent through the API at `--rate`
a second over `--accounts` paper accounts; the killed worker is the lease holder, and the idle
CPU figures are then whole workers'.

    .venv/bin/python -m bench.p13_bus_handover --kills 10 [--stack]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nats
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError

from bench.harness import ROOT, cpu_seconds, load, report_line

STREAM = "OMS_P13"
SYMBOL = "BTC/USDT:USDT"
BUCKET_STREAM = "KV_oms_bus"
CONTINUES = re.compile(rb"bus publisher continues at seq (\d+)")
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bus_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {"stream": STREAM}
    if args.lease_seconds is not None:
        options["lease_seconds"] = args.lease_seconds
    if args.probe_seconds is not None:
        options["probe_seconds"] = args.probe_seconds
    return options


def effective(args: argparse.Namespace) -> dict[str, Any]:
    """The lease settings the publishers ran with (the config's defaults unless given)."""
    from apps.oms.config import BusSettings

    settings = BusSettings(url="nats://unused", **bus_options(args))
    return {"lease_seconds": settings.lease_seconds,
            "probe_seconds": getattr(settings, "probe_seconds", None)}


async def child(url: str, db: str, owner: str, options: dict[str, Any]) -> None:
    """One publisher process: the bus part of a worker, until killed."""
    import logging

    from apps.oms.bus.processes import WorkerBus
    from apps.oms.config import BusSettings
    from apps.oms.store.store import Store

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(message)s")
    store = Store.from_url(db)
    bus = WorkerBus(BusSettings(url=url, **options), store, owner, lambda _ids: None)
    stop = asyncio.Event()
    bus.start(stop)
    await stop.wait()


class Proc:
    """A publisher process and its log: a `--child` (the bus part of a worker) or, with
    `--stack`, a whole `ccxt-oms worker`."""

    def __init__(self, args: argparse.Namespace, url: str, db: str, work: Path, n: int,
                 env: dict[str, str] | None = None) -> None:  # fmt: skip
        self.log = work / f"p13-{n}.log"
        if env is not None:
            command = [sys.executable, "-m", "apps.cli", "worker"]
        else:
            command = [sys.executable, "-m", "bench.p13_bus_handover", "--child", url, db,
                       f"p13-{n}"]  # fmt: skip
            if args.lease_seconds is not None:
                command += ["--lease-seconds", str(args.lease_seconds)]
            if args.probe_seconds is not None:
                command += ["--probe-seconds", str(args.probe_seconds)]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                         env=env)  # fmt: skip
        self.owner = f"p13-{n}"  # a worker's is `host:pid:tag`

    def holds(self, owner: str) -> bool:
        parts = owner.split(":")
        return owner == self.owner or (len(parts) == 3 and parts[1] == str(self.proc.pid))

    def text(self) -> bytes:
        return self.log.read_bytes()


class Bench:
    def __init__(self, args: argparse.Namespace, url: str, db: str, work: Path) -> None:
        self.args, self.url, self.db, self.work = args, url, db, work
        self.count = 0
        self.procs: list[Proc] = []
        self.stored: dict[int, float] = {}  # seq -> JetStream store time (epoch seconds)
        self.producing = True
        self.env: dict[str, str] | None = None  # --stack: the workers' environment
        self.http: dict[str, Any] = {}  # --stack: base URL, keys, accounts

    def spawn(self) -> Proc:
        self.count += 1
        proc = Proc(self.args, self.url, self.db, self.work, self.count, self.env)
        self.procs.append(proc)
        return proc

    def alive(self) -> list[Proc]:
        return [p for p in self.procs if p.proc.poll() is None]

    async def produce_commands(self) -> None:
        """--stack: market orders through the API, round-robin over the accounts (each command
        numbers a few events)."""
        import httpx

        h = self.http
        pause = 1 / self.args.rate
        i = 0
        async with httpx.AsyncClient(base_url=h["base"], timeout=30) as client:
            await client.post("/paper/prices", json={"symbol": SYMBOL, "price": "100"},
                              headers={"x-api-key": h["admin_key"]})  # fmt: skip
            while True:
                if self.producing:
                    i += 1
                    body = {"account_id": h["accounts"][i % len(h["accounts"])],
                            "command": "send_order",
                            "payload": {"symbol": SYMBOL, "side": ("buy", "sell")[i % 2],
                                        "type": "market", "qty": "0.001"}}  # fmt: skip
                    with contextlib.suppress(httpx.HTTPError):
                        await client.post("/oms/commands", json=body,
                                          headers={"x-api-key": h["trader_key"]})  # fmt: skip
                await asyncio.sleep(pause)

    async def produce(self, nc: Any) -> None:
        if self.env is not None:
            await self.produce_commands()
            return
        from apps.oms.clock import utcnow
        from apps.oms.store import sequencer
        from apps.oms.store.outbox import append_events
        from apps.oms.store.store import Store

        store = Store.from_url(self.db)
        pause = 1 / self.args.rate
        i = 0
        try:
            while True:
                if self.producing:
                    i += 1
                    async with store.transaction() as conn:
                        await append_events(conn, [{
                            "account_id": None, "namespace": "system", "event": "tick",
                            "strategy_id": None, "payload": {"i": i, "qty": "0.1"},
                            "created_at": utcnow()}])  # fmt: skip
                    async with store.transaction() as conn:
                        await sequencer.assign(conn, utcnow())
                    await nc.publish("oms.wake.sequenced", b"")
                await asyncio.sleep(pause)
        finally:
            await store.close()

    async def holder(self, kv: Any) -> Proc | None:
        try:
            entry = await kv.get("publisher")
        except Exception:
            return None
        owner = (entry.value or b"").decode()
        return next((p for p in self.alive() if p.holds(owner)), None)

    async def wait_holder(self, kv: Any, seconds: float = 60) -> Proc:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = await self.holder(kv)
            if found is not None:
                return found
            await asyncio.sleep(0.05)
        raise RuntimeError("no publisher holds the lease")

    async def kill_once(self, kv: Any) -> dict[str, Any]:
        victim = await self.wait_holder(kv)
        others = {id(p): len(p.text()) for p in self.alive() if p is not victim}
        t0 = time.time()
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        deadline = time.monotonic() + 60
        seq = None
        new: Proc | None = None
        while seq is None:
            if time.monotonic() > deadline:
                raise RuntimeError("no publisher took over within 60 s")
            await asyncio.sleep(0.01)
            for p in self.alive():
                if id(p) in others:
                    found = CONTINUES.search(p.text()[others[id(p)]:])
                    if found:
                        seq, new = int(found.group(1)), p
        while seq not in self.stored:
            if time.monotonic() > deadline:
                raise RuntimeError(f"seq {seq} never reached the stream")
            await asyncio.sleep(0.01)
        assert new is not None
        return {"gap": self.stored[seq] - t0, "seq": seq, "by": new.owner, "at": t0}

    async def wait_started(self, proc: Proc) -> None:
        deadline = time.monotonic() + 60
        while b"bus connected" not in proc.text():
            if proc.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{proc.owner} did not start:\n{proc.text().decode()}")
            await asyncio.sleep(0.05)

    async def run(self) -> dict[str, Any]:
        args = self.args
        nc = await nats.connect(self.url)
        js = nc.jetstream()

        async def on_msg(msg: Any) -> None:
            meta = msg.metadata
            self.stored[meta.sequence.stream] = meta.timestamp.timestamp()

        for _ in range(args.publishers):
            await self.wait_started(self.spawn())
        producer = asyncio.create_task(self.produce(nc))
        while True:  # the stream exists once a publisher connected
            with contextlib.suppress(NotFoundError):
                await js.stream_info(STREAM)
                break
            await asyncio.sleep(0.05)
        sub = await js.subscribe("oms.events.>", stream=STREAM, cb=on_msg,
                                 ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
        kv = await js.key_value("oms_bus") if await self._bucket(js) else None
        while kv is None:
            await asyncio.sleep(0.05)
            kv = await js.key_value("oms_bus") if await self._bucket(js) else None
        await self.wait_holder(kv)
        await asyncio.sleep(1)
        kills: list[dict[str, Any]] = []
        for _ in range(args.kills):
            kills.append(await self.kill_once(kv))
            await self.wait_started(self.spawn())
            await asyncio.sleep(1 + random.random())
        self.producing = False
        idle = await self.idle_cost(js, kv)
        stalls = await self.stall(kv)
        self.producing = True
        await asyncio.sleep(1)
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer
        check = await self.check(js)
        await sub.unsubscribe()
        await nc.close()
        gaps = [k["gap"] for k in kills]
        return {
            "publishers": args.publishers, "rate": args.rate,
            "settings": effective(args),
            "kills": len(kills),
            "gap_median_s": round(statistics.median(gaps), 3) if gaps else None,
            "gap_max_s": round(max(gaps), 3) if gaps else None,
            "gap_min_s": round(min(gaps), 3) if gaps else None,
            "gaps_s": [round(g, 3) for g in gaps],
            "kill_times": [round(k["at"], 3) for k in kills] if args.keep_logs else None,
            **idle, **stalls, **check,
        }

    @staticmethod
    async def _bucket(js: Any) -> bool:
        try:
            await js.stream_info(BUCKET_STREAM)
        except NotFoundError:
            return False
        return True

    async def idle_cost(self, js: Any, kv: Any) -> dict[str, Any]:
        """CPU of the holder, one standby and nats-server, key-value writes, without events."""
        seconds = self.args.idle_seconds
        if seconds <= 0:
            return {}
        await asyncio.sleep(2)
        holder = await self.wait_holder(kv)
        standby = next(p for p in self.alive() if p is not holder)
        server = self.args.server_pid
        before = [cpu_seconds(p) for p in (holder.proc.pid, standby.proc.pid, server)]
        writes = (await js.stream_info(BUCKET_STREAM)).state.last_seq
        start = time.monotonic()
        await asyncio.sleep(seconds)
        elapsed = time.monotonic() - start
        after = [cpu_seconds(p) for p in (holder.proc.pid, standby.proc.pid, server)]
        writes = (await js.stream_info(BUCKET_STREAM)).state.last_seq - writes
        ms = [round((a - b) / elapsed * 1000, 2) for a, b in zip(after, before, strict=True)]
        return {"idle_seconds": round(elapsed, 1), "idle_cpu_holder_ms_per_s": ms[0],
                "idle_cpu_standby_ms_per_s": ms[1], "idle_cpu_nats_ms_per_s": ms[2],
                "kv_writes_per_s": round(writes / elapsed, 2)}

    async def stall(self, kv: Any) -> dict[str, Any]:
        """SIGSTOP the holder for `stall_seconds`; a takeover meanwhile is a false one."""
        if self.args.stalls <= 0:
            return {}
        false = 0
        for _ in range(self.args.stalls):
            holder = await self.wait_holder(kv)
            await asyncio.sleep(random.random())
            holder.proc.send_signal(signal.SIGSTOP)
            await asyncio.sleep(self.args.stall_seconds)
            after = await self.holder(kv)
            holder.proc.send_signal(signal.SIGCONT)
            if after is not holder:
                false += 1
            await asyncio.sleep(2)
        return {"stalls": self.args.stalls, "stall_seconds": self.args.stall_seconds,
                "false_takeovers": false}

    async def check(self, js: Any) -> dict[str, Any]:
        """The stream against the outbox: one message per seq, in order, nothing twice."""
        from apps.oms.store import stream
        from apps.oms.store.store import Store

        store = Store.from_url(self.db)
        try:
            async with store.read() as conn:
                last = await stream.last_seq(conn)
        finally:
            await store.close()
        deadline = time.monotonic() + 60
        while (state := (await js.stream_info(STREAM)).state).last_seq < last:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        ids = []
        for seq in range(state.first_seq, state.last_seq + 1):
            msg = await js.get_msg(STREAM, seq)
            ids.append(int((msg.headers or {})["Nats-Msg-Id"]))
        exact = state.first_seq == 1 and ids == list(range(1, last + 1))
        return {"events": last, "stream_messages": state.messages, "stream_equals_outbox": exact}


def run_stack(args: argparse.Namespace) -> None:
    """--stack: a real API and two `ccxt-oms worker` processes on a fresh MariaDB database (the
    benchmark harness), the bus on; events come from market orders sent through the API."""
    from bench.harness import stack

    with tempfile.TemporaryDirectory(prefix="p13-") as tmp:
        work = Path(tmp)
        port = free_port()
        server = subprocess.Popen([NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd",
                                   str(work / "nats")], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)  # fmt: skip
        args.server_pid = server.pid
        url = f"nats://127.0.0.1:{port}"
        extra = {"OMS_BUS__URL": url, "OMS_BUS__STREAM": STREAM}
        if args.lease_seconds is not None:
            extra["OMS_BUS__LEASE_SECONDS"] = str(args.lease_seconds)
        if args.probe_seconds is not None:
            extra["OMS_BUS__PROBE_SECONDS"] = str(args.probe_seconds)
        load_before = load()
        bench: Bench | None = None
        try:
            time.sleep(0.5)
            with stack(accounts=args.accounts, workers=0, extra_env=extra) as s:
                bench = Bench(args, url, s.url, work)
                bench.env = {**s.env, "OMS_LOG_LEVEL": "INFO"}  # the publisher's log lines
                bench.http = {"base": s.base, "admin_key": s.admin_key,
                              "trader_key": s.trader_key, "accounts": s.account_ids}  # fmt: skip
                result = asyncio.run(bench.run())
        finally:
            if bench is not None:
                for p in bench.procs:
                    if p.proc.poll() is None:
                        p.proc.send_signal(signal.SIGCONT)
                        p.proc.terminate()
                        try:
                            p.proc.wait(timeout=20)
                        except subprocess.TimeoutExpired:
                            p.proc.kill()
                if args.keep_logs:
                    Path(args.keep_logs).mkdir(parents=True, exist_ok=True)
                    for p in bench.procs:
                        shutil.copy(p.log, args.keep_logs)
            server.terminate()
            server.wait(timeout=30)
        report_line("p13_bus_handover", {**result, "mode": "stack", "load_before": load_before,
                                         "load_after": load()})  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=50, help="events numbered a second")
    parser.add_argument("--lease-seconds", type=float, default=None, help="default: the config's")
    parser.add_argument("--probe-seconds", type=float, default=None, help="default: the config's")
    parser.add_argument("--idle-seconds", type=float, default=10)
    parser.add_argument("--stalls", type=int, default=0)
    parser.add_argument("--stall-seconds", type=float, default=2)
    parser.add_argument("--stack", action="store_true",
                        help="real API and workers on MariaDB (events from market orders)")
    parser.add_argument("--accounts", type=int, default=4, help="--stack: paper accounts")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy the publishers' logs there")
    parser.add_argument("--child", nargs=3, metavar=("URL", "DB", "OWNER"))
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(*args.child, bus_options(args)))
        return
    from apps.oms.clock import utcnow
    from apps.oms.store import sequencer
    from apps.oms.store.migrate import upgrade
    from apps.oms.store.store import Store

    if args.stack:
        run_stack(args)
        return
    with tempfile.TemporaryDirectory(prefix="p13-") as tmp:
        work = Path(tmp)
        db = f"sqlite+aiosqlite:///{work / 'oms.sqlite3'}"
        upgrade(db)

        async def ensure() -> None:
            store = Store.from_url(db)
            async with store.transaction() as conn:
                await sequencer.ensure_state(conn, utcnow())
            await store.close()

        asyncio.run(ensure())
        port = free_port()
        server = subprocess.Popen([NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd",
                                   str(work / "nats")], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)  # fmt: skip
        args.server_pid = server.pid
        bench = Bench(args, f"nats://127.0.0.1:{port}", db, work)
        load_before = load()
        try:
            time.sleep(0.5)
            result = asyncio.run(bench.run())
        finally:
            for p in bench.procs:
                if p.proc.poll() is None:
                    p.proc.kill()
                    p.proc.wait()
            server.terminate()
            server.wait(timeout=30)
            if args.keep_logs:
                Path(args.keep_logs).mkdir(parents=True, exist_ok=True)
                for p in bench.procs:
                    shutil.copy(p.log, args.keep_logs)
        report_line("p13_bus_handover", {**result, "mode": "bus processes",
                                         "load_before": load_before, "load_after": load()})


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
