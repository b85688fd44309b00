"""Benchmark harness: a fresh MariaDB database, seeded accounts and keys, and real `ccxt-oms api`
and `ccxt-oms worker` processes on 127.0.0.1. Used by the bench scripts; never by `make test`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql

from apps.oms.domain.access import AccountFlags
from apps.oms.service import admin
from apps.oms.service.install import InstallRequest, install
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.migrate import upgrade
from apps.oms.store.store import Store

ROOT = Path(__file__).resolve().parents[1]
PEPPER = "bench-pepper-0123456789abcdef0123456789"
# the MariaDB server (or a cluster's write endpoint) the benchmarks run on: host:port
MYSQL_HOST, _, _MYSQL_PORT = os.environ.get("OMS_BENCH_MYSQL", "127.0.0.1:3306").rpartition(":")
MYSQL_PORT = int(_MYSQL_PORT)


def mysql_connect(**kw: Any) -> Any:
    """A root connection to the benchmarks' server (`OMS_BENCH_MYSQL`, default 127.0.0.1:3306)."""
    return pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", password="", **kw)


def mysql_url(driver: str, database: str) -> str:
    return f"mysql+{driver}://root@{MYSQL_HOST}:{MYSQL_PORT}/{database}"


@dataclass
class Stack:
    url: str
    base: str
    admin_key: str
    trader_key: str
    account_ids: list[int]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    # other processes whose CPU the figures count, by name (a served venue: bench/wire.py)
    watched: dict[str, int] = field(default_factory=dict)

    def start_worker(self, nice: int = 0) -> None:
        """One more `ccxt-oms worker` process (e.g. after the queue was filled)."""
        prefix = ["nice", "-n", str(nice)] if nice else []
        self.procs.append(
            subprocess.Popen(
                [*prefix, sys.executable, "-m", "apps.cli", "worker"], env=self.env, cwd=ROOT
            )
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


async def _select1(url: str, n: int) -> dict[str, float]:
    from sqlalchemy import text

    store = Store.from_url(url, pool_size=1)
    try:
        async with store.read() as conn:
            for _ in range(50):  # warm-up
                await conn.execute(text("SELECT 1"))
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(n):
                await conn.execute(text("SELECT 1"))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        await store.close()
    return {"select1_wall_us": round(wall / n * 1e6, 1), "select1_cpu_us": round(cpu / n * 1e6, 1)}


def select1_baseline(url: str, n: int = 1000) -> dict[str, float]:
    """The same-run baseline: one `SELECT 1` round trip through SQLAlchemy Core + the store's
    driver, in this process (wall and client CPU per statement). Figures divided by it survive
    a change of machine or load better than absolutes."""
    return asyncio.run(_select1(url, n))


def _mysql(sql: str) -> None:
    with (
        mysql_connect(autocommit=True) as conn,
        conn.cursor() as cur,
    ):
        cur.execute(sql)


@contextlib.contextmanager
def scratch_database(prefix: str, driver: str = "aiomysql") -> Iterator[tuple[str, str]]:
    """A fresh MariaDB database at the current schema for one in-process run: yields its name
    and URL, and drops it afterwards."""
    name = f"{prefix}_{int(time.time() * 1000)}"
    _mysql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    url = mysql_url(driver, name)
    try:
        upgrade(url)
        yield name, url
    finally:
        _mysql(f"DROP DATABASE IF EXISTS `{name}`")


TRADER_FLAGS = AccountFlags(can_read=True, can_trade=True, can_close_position=True)
#: makes the stack's trading accounts instead of paper ones: (connection, trader user id,
#: count, position mode) -> their ids (bench/wire.py: CCXT accounts on a served venue)
AccountMaker = Callable[[Any, int, int, str], Awaitable[list[int]]]


async def _seed(url: str, accounts: int, mode: str,
                make: AccountMaker | None = None) -> tuple[str, str, list[int]]:  # fmt: skip
    """The admin and trader keys and `accounts` trading accounts: paper ones, or `make`'s (the
    install's own paper account is then left without commands)."""
    store = Store.from_url(url)
    try:
        done = await install(store, PEPPER, InstallRequest(with_account=True, position_mode=mode))
        ids = [int(done["account"]["id"])]
        async with store.transaction() as conn:
            if make is not None:
                ids = await make(conn, int(done["user"]["id"]), accounts, mode)
            else:
                for i in range(1, accounts):
                    ids.append(
                        await admin.add_account(
                            conn,
                            CLI_ACTOR,
                            user_id=int(done["user"]["id"]),
                            exchange_id="paper",
                            label=f"bench{i}",
                            position_mode=mode,
                            testnet=False,
                            live=False,
                            flags=TRADER_FLAGS,
                        )
                    )
        return done["admin"]["api_key"]["plain"], done["api_key"]["plain"], ids
    finally:
        await store.close()


def env_for(url: str, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_")}
    env.update(
        {
            "OMS_DATABASE_URL": url,
            "OMS_API_PORT": str(port),
            "OMS_SECURITY__API_KEY_PEPPER": PEPPER,
            "OMS_PAPER_PRICE_SOURCE": "manual",
            "OMS_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        },
        **extra,
    )
    return env


def wait_ready(base: str, deadline: float) -> None:
    import urllib.request

    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(base + "/healthz", timeout=1) as response,  # noqa: S310 - loopback
        ):
            if response.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("API did not start")


def add_client_gc(parser: argparse.ArgumentParser) -> None:
    """`--client-gc` of the latency benchmarks: `freeze` (default) freezes the client's own
    start-up heap before the timed part, as the API and worker freeze theirs
    (apps/oms/heap.py): its full collections (50-80 ms) would be timed as latency."""
    parser.add_argument("--client-gc", choices=("freeze", "default"), default="freeze",
                        help="freeze: the client's start-up heap frozen before the timed part; "
                             "default: the collector as Python sets it")  # fmt: skip


def wait_workers(url: str, count: int, deadline: float) -> None:
    """Until `count` workers have registered (`workers.status = 'running'`, written once a
    worker's imports and start-up are done): a timed run that starts before would time the
    worker's start-up (imports, registration, its first lease) as latency or lost throughput,
    and count its start-up CPU as the commands' cost."""
    if count <= 0:
        return
    database = url.rsplit("/", 1)[1].split("?", 1)[0]
    while time.monotonic() < deadline:
        with (
            mysql_connect(database=database, autocommit=True) as conn,
            conn.cursor() as cur,
        ):  # fmt: skip
            cur.execute("SELECT COUNT(*) FROM workers WHERE status = 'running'")
            row = cur.fetchone()
        if row and int(row[0]) >= count:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{count} worker(s) did not register")


@contextlib.contextmanager
def stack(
    *,
    accounts: int = 10,
    workers: int = 1,
    api_workers: int = 1,
    mode: str = "hedge",
    extra_env: dict[str, str] | None = None,
    worker_nice: int = 0,
    driver: str = "aiomysql",
    before_start: Callable[[str, list[int]], None] | None = None,
    make_accounts: AccountMaker | None = None,
    watched: dict[str, int] | None = None,
) -> Iterator[Stack]:
    """Fresh database, seeded keys and accounts, API and worker processes; torn down on exit.
    `make_accounts` makes the trading accounts (default: paper); `watched` names other processes
    whose CPU `stack_cpu` reports (a served venue)."""
    name = f"oms_bench_{os.getpid()}_{int(time.time())}"
    _mysql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    url = mysql_url(driver, name)
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        upgrade(url)
        admin_key, trader_key, ids = asyncio.run(_seed(url, accounts, mode, make_accounts))
        if before_start is not None:  # rows the processes should find when they start
            before_start(url, ids)
        env = env_for(url, port, OMS_API__WORKERS=str(api_workers), **(extra_env or {}))
        procs.append(subprocess.Popen([sys.executable, "-m", "apps.cli", "api"], env=env, cwd=ROOT))
        nice = ["nice", "-n", str(worker_nice)] if worker_nice else []
        for _ in range(workers):
            procs.append(
                subprocess.Popen(
                    [*nice, sys.executable, "-m", "apps.cli", "worker"], env=env, cwd=ROOT
                )
            )
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, time.monotonic() + 60)
        wait_workers(url, workers, time.monotonic() + 60)
        yield Stack(url, base, admin_key, trader_key, ids, procs, env, dict(watched or {}))
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        _mysql(f"DROP DATABASE IF EXISTS `{name}`")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (`/proc/<pid>/stat`), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stack_cpu(s: Stack) -> dict[str, float]:
    """CPU seconds so far of the stack's API, its workers (summed), the MariaDB server and the
    `watched` processes: a figure per command that survives a change of machine better than a
    latency does."""
    api, *workers = (proc.pid for proc in s.procs)
    return {"api": cpu_seconds(api), "worker": sum(cpu_seconds(w) for w in workers),
            "mariadb": sum(cpu_seconds(pid) for pid in database_pids()),
            **{name: cpu_seconds(pid) for name, pid in s.watched.items()}}  # fmt: skip


def database_pids() -> list[int]:
    """The database server's processes: `OMS_BENCH_DB_PIDS` (a cluster's nodes, comma
    separated, set by bench.p10_cluster), else the oldest `mariadbd` (the local server)."""
    if pids := os.environ.get("OMS_BENCH_DB_PIDS"):
        return [int(p) for p in pids.split(",")]
    found = subprocess.run(["pgrep", "-o", "mariadbd"], capture_output=True, text=True,
                           check=False).stdout.split()  # fmt: skip
    return [int(found[0])] if found else []


def record_shape(s: Stack) -> dict[str, float]:
    """How the worker recorded the finished commands, read from the store: commands and
    accounts per record transaction (the commands of one transaction share `finished_at`), and
    the share of transactions that were group commits (several accounts)."""
    database = s.url.rsplit("/", 1)[1].split("?", 1)[0]
    with (
        mysql_connect(database=database) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT COUNT(*), SUM(n), SUM(a), SUM(a > 1) FROM (SELECT COUNT(*) AS n, "
                    "COUNT(DISTINCT account_id) AS a FROM commands WHERE finished_at IS NOT NULL "
                    "GROUP BY finished_at) t")  # fmt: skip
        row = cur.fetchone()
    transactions, commands, accounts, grouped = (float(v or 0) for v in row or (0, 0, 0, 0))
    per = max(transactions, 1.0)
    return {"transactions": transactions, "commands_per_transaction": round(commands / per, 2),
            "accounts_per_transaction": round(accounts / per, 2),
            "group_share": round(grouped / per, 3)}  # fmt: skip


def cpu_per_command(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, float]:
    """CPU milliseconds per command of each process between two `stack_cpu` readings."""
    return {name: round((after[name] - before[name]) * 1000 / max(n, 1), 3) for name in after}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


def report(name: str, result: dict[str, Any]) -> None:
    """One JSON line per run."""
    print(json.dumps({"benchmark": name, "machine": machine(), **result}), flush=True)


BASELINE_PIDS: dict[str, int] = {}  # base URL -> pid of a running baseline server


@contextlib.contextmanager
def baseline_server(url: str, *, api_workers: int = 1) -> Iterator[str]:
    """The trivial `SELECT 1` FastAPI app (bench/baseline_app.py) on its own port, same uvicorn
    settings as the API; yields its base URL. Figures are quoted beside it (same run)."""
    port = free_port()
    env = env_for(url, port)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "bench.baseline_app:app_from_env",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(api_workers),
            "--no-access-log",
            "--log-level",
            "warning",
            "--loop",
            "uvloop",
        ],
        env=env,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    BASELINE_PIDS[base] = proc.pid
    try:
        wait_ready(base, time.monotonic() + 60)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def load() -> str:
    """The machine's load (`uptime`), stated with every figure."""
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def median_run(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run whose `key` (a number) is the median of `runs` (odd count: the middle one)."""
    ordered = sorted(runs, key=lambda r: float(r[key]))
    return ordered[len(ordered) // 2]


def report_line(name: str, result: dict[str, Any]) -> None:
    """The benchmark's result as ONE JSON line (what docs/benchmarks.md quotes)."""
    print(json.dumps({"benchmark": name, "machine": machine(), **result}, separators=(",", ":")))
