"""The liveness probe (docs/worker.md → Liveness probe) on SQLite (flock) and MariaDB (GET_LOCK):
a real process holds its lock; SIGSTOPped for many probe periods it is not found dead; SIGKILLed
it is, long before its heartbeat would say so, and its account is taken over as by heartbeat
(epoch bumped, `account_owner_changed`, the dead owner fenced). On MariaDB a worker whose lock
connection is killed takes its lock again at its next beat."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from apps.oms.clock import utcnow
from apps.oms.config import Settings, WorkerSettings
from apps.oms.store import fleet, leases, liveness
from apps.oms.store.liveness import PROBE_LOCKS, FileLock, ServerLock, lock_name
from apps.oms.store.store import Store
from apps.oms.store.tables import outbox, workers
from apps.worker.liveness import Liveness
from apps.worker.main import Worker
from apps.worker.wakeups import Kick

from .conftest import Harness, worker_settings

# heartbeats that cannot expire within a test: only the lock can tell a worker dead
SETTINGS = WorkerSettings(heartbeat_seconds=0.5, missed_heartbeats=100, liveness_probe_seconds=0.1)
DEADLINE = 30.0  # generous, and well inside the 50 s dead-after time
# a worker process reduced to its liveness: takes its lock, registers, then only lives
CHILD = """
import asyncio, sys
from apps.oms.clock import utcnow
from apps.oms.config import WorkerSettings
from apps.oms.store import fleet
from apps.oms.store.store import Store
from apps.worker.liveness import Liveness
from apps.worker.wakeups import Kick

async def main(url, worker_id):
    store = Store.from_url(url, pool_size=1)
    live = Liveness(WorkerSettings(liveness_probe_seconds=0.1), store, worker_id, Kick())
    lock = await live.hold()
    async with store.transaction() as conn:
        await fleet.register_worker(conn, worker_id=worker_id, hostname="h", pid=0,
                                    now=utcnow(), liveness=lock)
    print(lock, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.05)


async def peer(h: Harness, worker_id: str) -> Liveness:
    """An in-process worker's liveness, registered (it probes at once)."""
    live = Liveness(SETTINGS, h.store, worker_id, Kick())
    lock = await live.hold()
    assert lock is not None
    async with h.store.transaction() as conn:
        await fleet.register_worker(conn, worker_id=worker_id, hostname="h", pid=os.getpid(),
                                    now=utcnow(), liveness=lock)
    assert live.held_since is not None
    assert live.trusted_from <= time.monotonic()  # the server has been up for long
    return live


async def probed_dead(live: Liveness) -> frozenset[str]:
    await live.probe()
    return live.dead


async def test_a_killed_worker_is_found_dead_a_stalled_one_is_not(
    harness: Callable[..., Harness], store_url: str
) -> None:
    h = harness()
    tag = os.urandom(4).hex()
    victim_id, survivor_id = f"victim-{tag}", f"survivor-{tag}"
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", CHILD, store_url,
                                                 victim_id, stdout=asyncio.subprocess.PIPE)
    survivor = await peer(h, survivor_id)
    try:
        assert child.stdout is not None
        line = (await child.stdout.readline()).strip()
        assert line not in (b"", b"None"), line  # it holds a lock
        account_id = await h.account("hedge")
        await h.send(account_id, "send_order", symbol="BTC/USDT", side="buy",
                     order_type="market", qty="0.001")
        (held,) = [t for t in await take(h, victim_id) if t.account_id == account_id]

        assert victim_id not in await probed_dead(survivor)
        child.send_signal(signal.SIGSTOP)  # stalled for many probe periods: still alive
        try:
            for _ in range(10):
                assert victim_id not in await probed_dead(survivor)
                await asyncio.sleep(SETTINGS.liveness_probe_seconds)
        finally:
            child.send_signal(signal.SIGCONT)
        assert account_id not in [t.account_id for t in await take(h, survivor_id,
                                                                    survivor.dead)]

        child.kill()
        await child.wait()
        await until(lambda: _dead(survivor, victim_id), "the killed worker is found dead")
        assert survivor.kick.is_set()  # the lease round is told at once
        (taken,) = [t for t in await take(h, survivor_id, survivor.dead)
                    if t.account_id == account_id]
        assert taken.epoch == held.epoch + 1
        assert await owner_changes(h, account_id) == [(victim_id, survivor_id, "takeover")]
        async with h.store.transaction() as conn:
            with pytest.raises(leases.LeaseLost):
                await leases.hold(conn, held, owner=victim_id, now=utcnow())
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        await survivor.close()


async def _dead(live: Liveness, worker_id: str) -> bool:
    return worker_id in await probed_dead(live)


async def take(h: Harness, owner: str, dead: frozenset[str] = frozenset()) -> list[leases.Lease]:
    async with h.store.transaction() as conn:
        taken, _left = await leases.acquire(
            conn, owner=owner, now=utcnow(), lease_seconds=30, limit=100,
            dialect=h.store.dialect, dead_after=SETTINGS.dead_after_seconds, dead=dead)
    return taken


async def owner_changes(h: Harness, account_id: int) -> list[tuple[str, str, str]]:
    async with h.store.read() as conn:
        rows = await conn.execute(select(outbox.c.payload).where(
            outbox.c.account_id == account_id, outbox.c.event == "account_owner_changed"))
        payloads = [p if isinstance(p, dict) else json.loads(p) for (p,) in rows]
    return [(p["previous_owner"], p["owner"], p["reason"]) for p in payloads]


@pytest.mark.parametrize("store_url", ["mysql"], indirect=True)
async def test_a_worker_whose_lock_connection_dies_takes_its_lock_again(
    harness: Callable[..., Harness],
) -> None:
    """The server ends the lock's session (as a dropped link would): until the worker's next
    beat, peers see it dead; then it holds its lock again and is alive to them."""
    h = harness()
    tag = os.urandom(4).hex()
    worker = await peer(h, f"cut-{tag}")
    prober = await peer(h, f"prober-{tag}")
    try:
        assert isinstance(worker.lock, ServerLock)
        connection_id = worker.lock.connection_id
        async with h.store.read() as conn:
            await conn.execute(text(f"KILL {int(str(connection_id))}"))
        await until(lambda: _dead(prober, worker.worker_id), "the cut worker reads as dead")
        await worker.keep()  # its next beat: the lock is taken again on a new connection
        assert worker.held_since is not None
        assert worker.lock.connection_id != connection_id
        assert worker.worker_id not in await probed_dead(prober)
    finally:
        await worker.close()
        await prober.close()


@pytest.mark.parametrize("store_url", ["mysql"], indirect=True)
async def test_only_locks_held_on_the_probed_server_are_judged(
    harness: Callable[..., Harness],
) -> None:
    """Locks are per server: a worker whose lock connection sits on another server (a former
    primary that a failover behind a proxy left it on, another member of a multi-primary group)
    holds a lock that reads as free here. Its row names that server, so it is judged by its
    heartbeats only; the same free lock named on this server is a death."""
    h = harness()
    tag = os.urandom(4).hex()
    prober = await peer(h, f"prober-{tag}")
    try:
        assert isinstance(prober.lock, ServerLock)
        assert prober.lock.server_id is not None
        here = prober.lock.server_id
        async with h.store.read() as conn:
            assert here == (await conn.execute(text("SELECT @@server_id"))).scalar()
            (named,) = (await conn.execute(select(workers.c.liveness).where(
                workers.c.id == prober.worker_id))).one()
        assert named == prober.lock.name == f"{lock_name(h.store.engine.url.database or '', prober.worker_id)}-s{here}"
        elsewhere, dead = f"elsewhere-{tag}", f"dead-{tag}"
        database = h.store.engine.url.database or ""
        async with h.store.transaction() as conn:
            for worker_id, server in ((elsewhere, here + 1), (dead, here)):
                await fleet.register_worker(
                    conn, worker_id=worker_id, hostname="h", pid=0, now=utcnow(),
                    liveness=f"{lock_name(database, worker_id)}-s{server}")
        found = await probed_dead(prober)
        assert dead in found
        assert elsewhere not in found
    finally:
        await prober.close()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_a_lock_file_taken_again_closes_the_old_one(
    harness: Callable[..., Harness],
) -> None:
    """The lock file removed under a live worker: its next beat takes a new one, and the
    descriptor of the removed file is closed (not one leaked per loss)."""
    h = harness()
    worker = await peer(h, f"file-{os.urandom(4).hex()}")
    try:
        assert isinstance(worker.lock, FileLock)
        assert worker.lock.fd is not None
        opened = len(os.listdir("/proc/self/fd"))
        os.unlink(worker.lock.name)
        assert not await worker.lock.held()
        await worker.keep()
        assert worker.held_since is not None
        assert await worker.lock.held()  # the file at the path is the one it locks
        assert len(os.listdir("/proc/self/fd")) == opened
    finally:
        await worker.close()


@pytest.mark.parametrize("store_url", ["mysql"], indirect=True)
async def test_after_a_server_restart_only_peers_that_beat_since_are_judged(
    harness: Callable[..., Harness],
) -> None:
    """A restart frees every lock; each worker takes its own again just before its next beat.
    `Uptime` counts from the server process's start, crash recovery included, so a grace on it
    alone can be spent before the server accepts a connection. A free lock counts only for a
    peer that beat since the server started: here the prober's lock reads as taken on a server
    that started just now (as after a restart), and a peer with a free lock whose last beat is
    older is alive until it beats without its lock."""
    h = harness()
    tag = os.urandom(4).hex()
    prober = await peer(h, f"prober-{tag}")
    try:
        assert isinstance(prober.lock, ServerLock)
        beat_before = utcnow()
        quiet = f"quiet-{tag}"
        async with h.store.transaction() as conn:
            await fleet.register_worker(
                conn, worker_id=quiet, hostname="h", pid=0, now=beat_before,
                liveness=f"{lock_name(h.store.engine.url.database or '', quiet)}"
                         f"-s{prober.lock.server_id}")  # fmt: skip
        prober.lock.server_started = utcnow()  # the server (re)started after that beat
        assert quiet not in await probed_dead(prober)
        async with h.store.transaction() as conn:  # it beats: its lock is still free
            await fleet.heartbeat(conn, quiet, utcnow())
        assert quiet in await probed_dead(prober)
    finally:
        await prober.close()


@pytest.mark.parametrize("store_url", ["mysql"], indirect=True)
async def test_the_probe_reads_the_live_workers_by_index(
    harness: Callable[..., Harness],
) -> None:
    """The `workers` table keeps a row per worker process ever started; the probe (5/s per
    worker) reads the live ones by the (status, heartbeat_at) index of the migrations, not by a
    scan (measured without it: 30 ms a probe at 100,000 rows, 0.4 ms with it)."""
    h = harness()
    prober = await peer(h, f"prober-{os.urandom(4).hex()}")
    try:
        assert isinstance(prober.lock, ServerLock)
        async with h.store.transaction() as conn:
            await conn.execute(text(
                "INSERT INTO workers (id, hostname, pid, status, started_at, heartbeat_at, "
                "liveness) SELECT CONCAT('old-', seq), 'h', 1, 'stopped', "
                "'2026-01-01 00:00:00', '2026-01-01 00:00:00', CONCAT('x-s', @@server_id) "
                "FROM seq_1_to_5000"))
        now = utcnow()
        compiled = PROBE_LOCKS.compile(dialect=h.store.engine.dialect)
        params = {**compiled.params, "b_since": now - timedelta(seconds=3.5),
                  "b_me": prober.worker_id, "b_mine": prober.lock.name,
                  "b_connection": prober.lock.connection_id, "b_started": now}
        positional = tuple(params[name] for name in compiled.positiontup or ())
        async with h.store.read() as conn:
            await conn.execute(text("ANALYZE TABLE workers"))
            plan = (await conn.exec_driver_sql(f"EXPLAIN {compiled}", positional)).mappings()
            (row,) = list(plan)
        assert row["key"] == "ix_workers_status_heartbeat_at", dict(row)
        assert row["type"] == "range", dict(row)
    finally:
        await prober.close()


class Relay:
    """A real TCP path to the server that can go silent: bytes stop flowing both ways, no
    error, no close (a dropped route, a middlebox that lost its state)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.silent = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                if self.silent.is_set():
                    await asyncio.Event().wait()  # swallowed, forever
                dst.write(data)
                await dst.drain()

        with contextlib.suppress(Exception):
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for writer in self.writers:
            writer.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.mark.parametrize("store_url", ["mysql"], indirect=True)
async def test_a_silent_lock_connection_does_not_hold_the_beat_back(
    harness: Callable[..., Harness], store_url: str
) -> None:
    """The lock's check runs just before each beat: a lock connection that goes silent holds
    the beat back one heartbeat interval at most. The check is not cut short (dropping the
    connection would free the lock of a worker that is only slow): the next beat waits for the
    same check, and the lock is still held on the server."""
    h = harness()
    url = make_url(store_url)
    relay = Relay(url.host or "127.0.0.1", url.port or 3306)
    port = await relay.start()
    worker_id = f"silent-{os.urandom(4).hex()}"
    live = Liveness(SETTINGS, h.store, worker_id, Kick())
    assert isinstance(live.lock, ServerLock)
    live.lock.url = url.set(port=port).render_as_string(hide_password=False)
    try:
        assert await live.hold() is not None
        await live.keep()
        assert live.held_since is not None
        relay.silent.set()
        for _beat in range(2):
            check = asyncio.ensure_future(live.keep())
            done, _ = await asyncio.wait([check], timeout=DEADLINE)
            assert check in done, "the lock check hung on a silent connection"
            assert isinstance(check.exception(), TimeoutError)
            pending = live.keeping
            assert pending is not None
            assert not pending.done()  # the same check, still waiting: none beside it
        assert live.held_since is not None
        assert live.lock.conn is not None  # not dropped: a slow server keeps its lock held
        async with h.store.read() as conn:
            holder = await conn.execute(text("SELECT IS_USED_LOCK(:n)"), {"n": live.lock.name})
            assert holder.scalar() == live.lock.connection_id
    finally:
        await live.close()
        await relay.close()


async def test_a_probe_under_way_when_the_worker_stops_ends_by_itself(
    fresh_store: Store, fresh_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker stops while its probe reads the store: the probe finishes and gives its
    connection back before the worker returns. Cancelled inside the read, its connection's
    close went on in a shielded task that outlived the worker and the pool: collected unclosed
    (a ResourceWarning at a test's teardown, 1 run in ~70)."""
    stop = asyncio.Event()
    probes: list[str] = []

    def stopping_inside(real: Callable[..., Awaitable[set[str]]]) -> Callable[..., Any]:
        async def probe(conn: Any, **kw: Any) -> set[str]:
            if probes:
                return await real(conn, **kw)
            probes.append("begun")
            stop.set()
            await asyncio.sleep(0.1)  # the worker sees `stop` while this read holds its conn
            found = await real(conn, **kw)
            probes.append("ended")
            return found
        return probe

    monkeypatch.setattr(liveness, "dead_by_lock", stopping_inside(liveness.dead_by_lock))
    monkeypatch.setattr(liveness, "dead_by_file", stopping_inside(liveness.dead_by_file))
    store = Store.from_url(fresh_url, pool_size=4)
    try:
        settings = worker_settings(liveness_probe_seconds=0.05, heartbeat_seconds=1)
        worker = Worker(Settings(worker=settings), store)
        await worker.run(stop)
        assert probes == ["begun", "ended"]
        assert store.checked_out() == 0
    finally:
        await store.close()
