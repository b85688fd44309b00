"""The events bus end to end (issue #39): real nats-server (own port and store), real API and
worker processes on a fresh MariaDB database, the API consuming from the bus. Under load the
worker holding the publisher lease is SIGKILLed mid-stream twice (the other worker, a standby,
takes over) and the bus restarted; afterwards the bus's stream equals the outbox (same sequences
in order, no gap, no duplicate, same bodies) and a websocket
client that reconnected with `since_seq` got every event once after dedupe.
Asserts what happens, never how fast: every wait has a generous deadline."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import nats
import pytest

from apps.oms.bus import message
from apps.oms.bus.publisher import LEASE_BUCKET, LEASE_KEY
from apps.oms.store.stream import StreamEvent

from ..e2e.pipeline.conftest import Stack, make_stack
from ..e2e.pipeline.load import Load
from ..e2e.pipeline.reliability import accounts_of, sql, wait_registered
from .follower import Follower
from .nats_server import NatsServer

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "follow_fills.py"
pytestmark = [pytest.mark.mysql, pytest.mark.slow, pytest.mark.timeout(1800)]
STREAM = "OMS_TEST_EVENTS"
SETTLE_SECONDS = 600


def bus_env(server: NatsServer) -> dict[str, str]:
    return {"OMS_BUS__URL": server.url, "OMS_BUS__CONSUME": "true", "OMS_BUS__STREAM": STREAM,
            "OMS_BUS__LEASE_SECONDS": "2"}


class Chaos(threading.Thread):
    """At given numbers of accepted commands: SIGKILL the worker (the publisher) and start
    another, restart the bus, tell the websocket client to resume."""

    def __init__(self, stack: Stack, server: NatsServer, load: Load, follower: Follower) -> None:
        super().__init__(daemon=True)
        self.stack, self.server, self.load, self.follower = stack, server, load, follower
        self.steps = [(40, self.kill_worker), (70, self.follower.resume),
                      (100, self.server.restart), (130, self.follower.resume),
                      (160, self.kill_worker)]
        self.done: list[str] = []
        self.errors: list[BaseException] = []
        self.finish = threading.Event()

    def run(self) -> None:
        try:
            for at, step in self.steps:
                while len(self.load.accepted) < at and not self.finish.is_set():
                    time.sleep(0.05)
                step()
                self.done.append(step.__name__)
        except BaseException as exc:
            self.errors.append(exc)

    def kill_worker(self) -> None:
        """SIGKILL the worker holding the publisher lease (the other one is the standby that
        takes over) and start a replacement."""
        holder = asyncio.run(publisher_pid(self.server.url))
        victim = next(p for p in self.stack.workers if p.pid == holder)
        self.stack.kill(victim, signal.SIGKILL)
        proc = self.stack.start_worker()
        wait_registered(self.stack, proc, threading.Event())


async def publisher_pid(url: str) -> int:
    """The pid of the worker holding the publisher lease (its worker id `host:pid:tag`)."""
    nc = await nats.connect(url)
    try:
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            with contextlib.suppress(Exception):
                kv = await nc.jetstream().key_value(LEASE_BUCKET)
                entry = await kv.get(LEASE_KEY)
                return int((entry.value or b"").decode().rsplit(":", 2)[1])
            assert time.monotonic() < deadline, "no worker holds the publisher lease"
            await asyncio.sleep(0.2)
    finally:
        await nc.close()


def outbox_events(stack: Stack) -> list[StreamEvent]:
    rows = sql(stack, "SELECT seq, account_id, namespace, event, strategy_id, payload FROM outbox "
                      "WHERE seq IS NOT NULL ORDER BY seq")
    return [StreamEvent(int(r[0]), None if r[1] is None else int(r[1]), str(r[2]), str(r[3]),  # type: ignore[arg-type]
                        None if r[4] is None else int(r[4]), str(r[5])) for r in rows]  # type: ignore[arg-type]


def settled(stack: Stack) -> int:
    """Wait until every committed event has its seq; returns the last seq."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        ((unnumbered, last),) = sql(stack, "SELECT SUM(seq IS NULL), MAX(seq) FROM outbox")
        ((busy,),) = sql(stack, "SELECT COUNT(*) FROM commands WHERE status IN ('queued', 'running')")
        if not unnumbered and not busy:
            return int(last or 0)  # type: ignore[call-overload]
        time.sleep(0.2)
    raise AssertionError("the outbox did not settle")


async def read_stream(url: str, upto: int) -> tuple[int, list[nats.aio.msg.Msg]]:
    """The stream's first sequence and its messages, once it holds `upto` (waited for)."""
    nc = await nats.connect(url)
    try:
        # the JetStream API's answers are waited for, not bounded: its 5-s default timed out a
        # read on a host loaded by the rest of the suite, right after the bus's restart
        js = nc.jetstream(timeout=SETTLE_SECONDS)
        deadline = time.monotonic() + SETTLE_SECONDS
        while (state := (await js.stream_info(STREAM)).state).last_seq < upto:
            assert time.monotonic() < deadline, f"the bus stayed at {state.last_seq} < {upto}"
            await asyncio.sleep(0.2)
        msgs = []
        for seq in range(state.first_seq, state.last_seq + 1):
            msgs.append(await js.get_msg(STREAM, seq))
        return state.first_seq, msgs
    finally:
        await nc.close()


def wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + SETTLE_SECONDS
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_bus_equals_outbox_through_publisher_kills_and_a_bus_restart(
        tmp_path: Path, nats: NatsServer) -> None:
    with make_stack(tmp_path, workers=2, env=bus_env(nats)) as stack:
        modes = accounts_of(stack, 4)
        follower = Follower(stack.base.replace("http", "ws") + "/ws", stack.trader_key,
                            list(modes))
        follower.start()
        load = Load(stack, modes, seed=5, retry=True)
        chaos = Chaos(stack, nats, load, follower)
        chaos.start()
        try:
            load.run(200, while_=chaos.is_alive)
        finally:
            chaos.finish.set()
            chaos.join(timeout=120)
        assert not chaos.errors, chaos.errors
        assert chaos.done == ["kill_worker", "resume", "restart", "resume", "kill_worker"]

        last = settled(stack)
        # the bus's stream equals the outbox: same sequences, no gap, no duplicate, same events
        # (read the outbox after the stream: an event may still be added meanwhile)
        first, msgs = asyncio.run(read_stream(nats.url, last))
        outbox = outbox_events(stack)
        assert [e.seq for e in outbox] == list(range(1, len(outbox) + 1))  # dense, the premise
        assert first == 1
        assert len(msgs) >= last
        outbox_part = outbox[: len(msgs)]
        # in order, each once, across both handovers (a standby took over from a killed holder)
        assert [m.seq for m in msgs] == [e.seq for e in outbox_part]
        assert [m.headers[message.MSG_ID] for m in msgs] == [str(e.seq) for e in outbox_part]  # type: ignore[index]
        assert [message.decode(m.headers, m.data) for m in msgs] == outbox_part
        assert [m.subject for m in msgs] == [message.subject("oms.events", e) for e in outbox_part]

        # the resuming websocket client got every event of its accounts once after dedupe, in
        # order on each connection
        # (`system` events, such as a dead worker's accounts changing owner, need asking for)
        mine = [e.seq for e in outbox if e.account_id in modes and e.namespace != "system"]
        wait_for(lambda: follower.last >= mine[-1], "the websocket client did not catch up")
        follower.finish.set()
        follower.join(timeout=60)
        assert len(follower.connections) >= 3  # it resumed at least twice
        for seqs in follower.connections:
            assert seqs == sorted(set(seqs))
        got = {s for seqs in follower.connections for s in seqs}
        assert sorted(got) == mine, [e for e in outbox if (e.seq in got) != (e.seq in mine)]
        refused = [e for e in follower.errors if isinstance(e, dict)]
        assert not refused, json.dumps(refused)  # whole: pytest's repr cuts a dict's code off

        # the API consumed from the bus and says so; publication caught up
        text = httpx.get(stack.base + "/metrics", timeout=30).text
        assert "oms_bus_consumer_lag_events{" in text
        follows_fills_durably(nats, outbox, next(iter(modes)))
        wait_for(lambda: "oms_bus_publication_lag_events 0.0" in httpx.get(
            stack.base + "/metrics", timeout=30).text, "the publication lag did not reach 0")


def follows_fills_durably(server: NatsServer, outbox: list[StreamEvent], account_id: int) -> None:
    """docs/events-bus.md's consumer example, run twice: the second run continues after the
    fills the first one acknowledged (the stream here has its own name: the example's `stream=`
    is patched to it)."""
    fills = [e for e in outbox if e.account_id == account_id and e.event == "deal_created"]
    assert len(fills) >= 4
    script = EXAMPLE.read_text().replace('stream="OMS_EVENTS"', f'stream="{STREAM}"')

    def run(limit: int) -> list[int]:
        done = subprocess.run([sys.executable, "-c", script, server.url, str(account_id),
                               str(limit)], capture_output=True, text=True, timeout=300,
                              check=True)  # fmt: skip
        return [int(line.split()[0]) for line in done.stdout.splitlines()]

    first = run(2)
    rest = run(len(fills) - 2)
    assert first + rest == [e.seq for e in fills]
