"""R9 (docs/deployment-ha.md → Several hosts): API and worker processes on two app hosts and the
database on a third, each host a network namespace with its own address on a test bridge
(`scripts/testnet.py`); the load comes from outside through app2's API.

- Every process of app1 is SIGKILLed under load: app2's worker takes app1's accounts (its lease
  rows change owner) and executes their commands; nothing lost or doubled.
- app1's link is cut for 15 s while its worker holds leases under load: app2 takes the accounts;
  app1's worker records nothing for them once the lease moved (every command of those accounts
  finished after the takeover carries app2's epoch); when the link comes back app1 recovers by
  itself (its worker heartbeats again, no process restarted); nothing lost or doubled. (Leases
  are not rebalanced: app1's worker takes accounts again when some become free.)

How long each takeover took (from the kill or the cut to the last lease moved) is logged and
written to `r9-takeovers.json` (the figures are quoted in docs/deployment-ha.md; speed is not
asserted here). The workers run the product's default heartbeat (0.5 s × 7: dead after 3.5 s).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from apps.oms.store.migrate import upgrade

from ..e2e.pipeline.conftest import Stack
from ..e2e.pipeline.invariants import check
from ..e2e.pipeline.load import Load
from ..e2e.pipeline.reliability import accounts_of
from .conftest import ROOT, host_net, require_cluster_tools

sys.path.insert(0, str(ROOT / "scripts"))
from galera_cluster import Server
from testnet import HostNet

pytestmark = [
    pytest.mark.ha, pytest.mark.mysql, pytest.mark.slow, pytest.mark.timeout(1800),
]
log = logging.getLogger(__name__)
DEFAULT_LIVENESS = {"OMS_WORKER__HEARTBEAT_SECONDS": "0.5", "OMS_WORKER__MISSED_HEARTBEATS": "7",
                    "OMS_WORKER__POLL_MAX_MS": "200"}


class HostStack(Stack):
    """The pipeline's Stack with every process started on a test host: its API listens on the
    host's address, its worker's and API's wake-up listeners too."""

    def __init__(self, name: str, url: str, tmp: Path, net: HostNet) -> None:
        super().__init__(name, url, tmp, DEFAULT_LIVENESS)
        self.net = net
        self.host_of: dict[int, str] = {}  # pid -> host name
        self.api_of: dict[str, subprocess.Popen[bytes]] = {}

    def spawn_on(self, host: str, what: str) -> subprocess.Popen[bytes]:
        address = self.net.address(host)
        env = {**self.env(), "OMS_API_HOST": address, "OMS_WORKER__WAKE_HOST": address,
               "OMS_API__STREAM_WAKE_HOST": address}
        out_path = self.tmp / f"{host}-{what}-{time.monotonic_ns()}.log"
        with out_path.open("wb") as out:
            proc = self.net.popen(host, [sys.executable, "-m", "apps.cli", what], cwd=self.tmp,
                                  env=env, stdout=out, stderr=subprocess.STDOUT)
        proc.log_path = out_path  # type: ignore[attr-defined]
        self.all_procs.append(proc)
        self.host_of[proc.pid] = host
        if what == "worker":
            self.workers.append(proc)
        else:
            self.api_of[host] = proc
        return proc

    def use_api_of(self, host: str) -> None:
        self.api = self.api_of[host]
        self.base = f"http://{self.net.address(host)}:{self.port}"
        self.client.base_url = self.base  # type: ignore[assignment]

    def sql(self, query: str, *args: object) -> list[tuple[Any, ...]]:
        with self.server.connect(self.name) as conn, conn.cursor() as cur:
            cur.execute(query, args)
            return list(cur.fetchall())

    server: Server


@contextlib.contextmanager
def two_hosts(tmp: Path) -> Iterator[HostStack]:
    require_cluster_tools()
    net = host_net("h")
    root = Path(tempfile.mkdtemp(prefix="oms-hosts-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, root, ignore_errors=True)
        net.create(["db", "app1", "app2"])
        cleanup.callback(net.destroy)
        server = Server(root, net, "db")
        cleanup.callback(server.stop)
        server.start()
        name = f"oms_hosts_{os.getpid()}_{secrets.token_hex(3)}"
        with server.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        stack = HostStack(name, server.url(name), tmp, net)
        stack.server = server
        cleanup.callback(stack.stop_all)
        cleanup.callback(stack.client.close)
        upgrade(stack.url)
        stack.seed()
        for host in ("app1", "app2"):
            stack.spawn_on(host, "api")
            stack.spawn_on(host, "worker")
        stack.use_api_of("app2")
        stack.wait_api()
        yield stack


def worker_id(stack: HostStack, host: str) -> str:
    pid = next(p.pid for p in stack.workers if stack.host_of[p.pid] == host)
    rows = stack.until(lambda: stack.sql("SELECT id FROM workers WHERE id LIKE %s",
                                         f"%:{pid}:%"), 120, f"the worker of {host} registered")
    return str(rows[0][0])


def leases_of(stack: HostStack, owner: str) -> dict[int, int]:
    """account -> epoch of the leases `owner` holds now."""
    return {int(a): int(e) for a, e in stack.sql(
        "SELECT account_id, lease_epoch FROM account_leases WHERE owner = %s", owner)}


def wait_for_leases(stack: HostStack, owners: list[str]) -> None:
    stack.until(lambda: all(leases_of(stack, o) for o in owners), 120,
                "both workers hold leases")


def wait_takeover(stack: HostStack, accounts: dict[int, int], taker: str) -> tuple[float, str]:
    """Until every account of `accounts` is leased by `taker`; the monotonic moment and the
    database's UTC time of that."""
    def moved() -> bool:
        return set(accounts) <= set(leases_of(stack, taker))

    stack.until(moved, 120, "the other host took the accounts")
    (now,) = stack.sql("SELECT UTC_TIMESTAMP(6)")[0]
    return time.monotonic(), str(now)


def run_load(stack: HostStack, modes: dict[int, str], stop: threading.Event) -> Load:
    load = Load(stack, modes, seed=9, retry=True, retry_unavailable=True, timeout=120)
    thread = threading.Thread(target=lambda: load.run(0, while_=lambda: not stop.is_set()))
    thread.start()
    load.thread = thread  # type: ignore[attr-defined]
    return load


def finish(stack: HostStack, load: Load, stop: threading.Event, modes: dict[int, str]) -> Any:
    stop.set()
    load.thread.join(600)  # type: ignore[attr-defined]
    assert not load.thread.is_alive()  # type: ignore[attr-defined]
    return check(stack.url, list(modes), load.accepted)


@dataclass
class Loaded:
    """Six accounts under load through app2's API, both hosts' workers holding leases."""

    modes: dict[int, str]
    one: str  # app1's worker id
    two: str  # app2's worker id
    stop: threading.Event
    load: Load
    held: dict[int, int]  # app1's leases (account -> epoch) when the host is struck


def under_load(stack: HostStack) -> Loaded:
    modes = accounts_of(stack, 6)
    one, two = worker_id(stack, "app1"), worker_id(stack, "app2")
    stop = threading.Event()
    load = run_load(stack, modes, stop)
    wait_for_leases(stack, [one, two])
    time.sleep(2)
    return Loaded(modes, one, two, stop, load, leases_of(stack, one))


def test_r9_every_process_of_a_host_killed(tmp_path: Path) -> None:
    with two_hosts(tmp_path) as stack:
        run = under_load(stack)
        modes, two, stop, load, held = run.modes, run.two, run.stop, run.load, run.held
        killed_at = time.monotonic()
        for proc in [p for p in stack.all_procs if stack.host_of.get(p.pid) == "app1"]:
            proc.send_signal(signal.SIGKILL)
        moved_at, _ = wait_takeover(stack, held, two)
        time.sleep(3)  # app2 executes the accounts' commands
        counts = finish(stack, load, stop, modes)
        took = round(moved_at - killed_at, 2)
        log.info("R9 host killed: %d accounts moved in %.2f s; %s", len(held), took, counts)
        (tmp_path / "r9-takeovers.json").write_text(json.dumps({"kill_s": took}))
        assert load.transport_errors == 0


def test_r9_a_host_cut_off_records_nothing_after_losing_its_leases(tmp_path: Path) -> None:
    with two_hosts(tmp_path) as stack:
        run = under_load(stack)
        modes, one, two, stop, load = run.modes, run.one, run.two, run.stop, run.load
        held = run.held
        cut_at = time.monotonic()
        stack.net.cut("app1")
        moved_at, moved_db = wait_takeover(stack, held, two)
        time.sleep(max(0.0, 15 - (time.monotonic() - cut_at)))
        stack.net.restore("app1")
        restored_at = time.monotonic()
        # app1 recovers by itself: its worker heartbeats again
        stack.until(lambda: stack.sql(
            "SELECT 1 FROM workers WHERE id = %s AND status = 'running' "
            "AND heartbeat_at > %s", one, moved_db), 120, "app1's worker heartbeats again")
        recovered = round(time.monotonic() - restored_at, 2)
        time.sleep(2)
        counts = finish(stack, load, stop, modes)
        # fencing: nothing of app1's old epochs finished after the accounts moved
        late = [row for row in stack.sql(
            "SELECT id, account_id, lease_epoch, finished_at FROM commands "
            "WHERE finished_at > %s", moved_db) if int(row[1]) in held]
        stale = [row for row in late if row[2] is not None and int(row[2]) <= held[int(row[1])]]
        assert not stale, stale[:5]
        assert all(p.poll() is None for p in stack.all_procs), "a process exited"
        took = round(moved_at - cut_at, 2)
        log.info("R9 link cut: %d accounts moved in %.2f s; app1 back %.2f s after the link;"
                 " %d commands of the moved accounts finished after the move; %s",
                 len(held), took, recovered, len(late), counts)
        (tmp_path / "r9-takeovers.json").write_text(json.dumps(
            {"cut_s": took, "recovered_s": recovered}))
        assert late, "the moved accounts' commands ran after the move"
