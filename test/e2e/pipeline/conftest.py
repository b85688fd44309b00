"""Real processes on a fresh MariaDB database: `python -m apps.cli api` on a free port and
`python -m apps.cli worker`, driven over HTTP only (commands, reads, paper prices).

`stack` (module scope) serves the end-to-end command tests; the reliability tests build their own
stack with `make_stack()` because they kill processes and check invariants over the whole store.
Prices are `manual`: they move only through `POST /paper/prices`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from apps.oms.service import admin
from apps.oms.service.install import InstallRequest, install
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.migrate import upgrade
from apps.oms.store.store import Store
from apps.oms.store.tables import accounts

from ...conftest import create_mysql_database, drop_mysql_database

pytestmark = pytest.mark.mysql

ROOT = Path(__file__).resolve().parents[3]
PEPPER = "e2e-pipeline-pepper-0123456789abcdef01234"
SYMBOL = "BTC/USDT:USDT"
# quick failover (a worker without a heartbeat for 1.5 s is dead) and short lookup windows, so
# kills and unknown outcomes resolve within a test; the lease is only the backstop (30 s), so a
# loaded machine delaying a renewal does not hand a live worker's accounts over
WORKER_ENV = {
    "OMS_WORKER__LEASE_SECONDS": "30",
    "OMS_WORKER__HEARTBEAT_SECONDS": "0.3",
    "OMS_WORKER__MISSED_HEARTBEATS": "5",
    "OMS_WORKER__POLL_MAX_MS": "20",
    # long enough for a placement that committed late on a loaded machine to be found by lookup
    "OMS_WORKER__UNKNOWN_OUTCOME_WINDOW_SECONDS": "15",
    "OMS_WORKER__VENUE_TIMEOUT_SECONDS": "30",
    # no scheduled reconciliation runs: these tests count commands and events exactly
    # (test_reconcile_e2e.py calls POST /oms/reconcile itself)
    "OMS_RECONCILE__SCHEDULE": "false",
}
TERMINAL = ("completed", "failed", "canceled")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def D(value: Any) -> Decimal:
    return Decimal(str(value))


class Stack:
    """One database, its seeded keys, and the API / worker processes started on it."""

    def __init__(self, name: str, url: str, tmp: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name, self.url, self.tmp = name, url, tmp
        self.extra_env = dict(env or {})
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.all_procs: list[subprocess.Popen[bytes]] = []
        self.admin_key = self.trader_key = ""
        self.user_id = 0
        self.client = httpx.Client(base_url=self.base, timeout=30)

    # -- processes ------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("OMS_") and k != "CONFIG_JSON_PATH"}
        env.update({
            "OMS_DATABASE_URL": self.url, "OMS_API_PORT": str(self.port),
            "OMS_SECURITY__API_KEY_PEPPER": PEPPER, "OMS_PAPER_PRICE_SOURCE": "manual",
            "OMS_PAPER__DEFAULT_SPREAD_BPS": "0", "OMS_PAPER__LEVEL_NOTIONAL_USDT": "0",
            "OMS_PAPER__FUNDING_INTERVAL_SECONDS": "0",
            "OMS_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT), **WORKER_ENV,
            **self.extra_env,
        })
        return env

    def _spawn(self, what: str) -> subprocess.Popen[bytes]:
        # output goes to a file: a pipe nobody reads would fill up and block the process
        log = self.tmp / f"{what}-{time.monotonic_ns()}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "apps.cli", what], cwd=self.tmp,
                                    env=self.env(), stdout=out, stderr=subprocess.STDOUT)
        proc.log_path = log  # type: ignore[attr-defined]
        self.all_procs.append(proc)
        return proc

    def start_api(self, *, wait: bool = True) -> subprocess.Popen[bytes]:
        self.api = self._spawn("api")
        if wait:
            self.wait_api()
        return self.api

    def wait_api(self, seconds: float = 180) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.api is not None
            if self.api.poll() is not None:
                raise AssertionError("API exited:\n" + self.log_of(self.api))
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.05)
        raise AssertionError("API did not start")

    def start_worker(self) -> subprocess.Popen[bytes]:
        proc = self._spawn("worker")
        self.workers.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> int:
        if proc.poll() is None:
            proc.send_signal(sig)
        code = proc.wait(timeout=30)
        if proc in self.workers:
            self.workers.remove(proc)
        return code

    def stop_all(self) -> None:
        for proc in self.all_procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGCONT)  # a test may have stopped it
                    proc.send_signal(signal.SIGTERM)
        for proc in self.all_procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.workers.clear()

    @staticmethod
    def log_of(proc: subprocess.Popen[bytes]) -> str:
        return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]

    def worker_logs(self) -> str:
        return "\n".join(self.log_of(p) for p in self.all_procs if p is not self.api)

    # -- seeding (directly in the store: no HTTP endpoint creates accounts for a trader) ------
    def seed(self) -> None:
        async def run() -> tuple[str, str, int]:
            store = Store.from_url(self.url)
            try:
                done = await install(store, PEPPER, InstallRequest(with_account=False))
                async with store.transaction() as conn:
                    user_id = await admin.create_user(conn, CLI_ACTOR, name="trader",
                                                      role=admin.parse_role("trader"))
                    key = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER,
                                                     user_id=user_id, label="trader")
                return done["api_key"]["plain"], key.plain, user_id
            finally:
                await store.close()

        self.admin_key, self.trader_key, self.user_id = asyncio.run(run())
        self.client.headers["x-api-key"] = self.trader_key

    def accounts(self, modes: list[str], config: dict[str, Any] | None = None) -> list[int]:
        """New paper accounts (one per mode given), the trader's key granted on each."""

        async def run() -> list[int]:
            store = Store.from_url(self.url)
            try:
                ids = []
                async with store.transaction() as conn:
                    for mode in modes:
                        account_id = await admin.add_account(
                            conn, CLI_ACTOR, user_id=self.user_id, exchange_id="paper",
                            label=f"e2e-{mode}", position_mode=mode, testnet=False, live=False)
                        if config:
                            await conn.execute(update(accounts).where(
                                accounts.c.id == account_id).values(config=config))
                        ids.append(account_id)
                return ids
            finally:
                await store.close()

        return asyncio.run(run())

    def account(self, mode: str, config: dict[str, Any] | None = None) -> int:
        return self.accounts([mode], config)[0]

    # -- HTTP -------------------------------------------------------------------------------------
    def post(self, body: Any, *, wait: bool = True) -> httpx.Response:
        params = {"wait": "completed"} if wait else {}
        return self.client.post("/oms/commands", json=body, params=params)

    def cmd(self, account_id: int, command: str, *, wait: bool = True,
            request_id: str | None = None, **payload: Any) -> dict[str, Any]:
        """One command; asserts 200 and returns its result item."""
        body: dict[str, Any] = {"account_id": account_id, "command": command, "payload": payload}
        if request_id:
            body["request_id"] = request_id
        response = self.post(body, wait=wait)
        assert response.status_code == 200, response.text
        item: dict[str, Any] = response.json()["results"][0]
        assert item["ok"], item
        if wait:
            assert item["status"] == "completed", item
        return item

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def price(self, price: str, symbol: str = SYMBOL) -> None:
        response = self.client.post("/paper/prices", json={"symbol": symbol, "price": price},
                                    headers={"x-api-key": self.admin_key})
        assert response.status_code == 200, response.text

    def strategy(self, name: str, account_ids: list[int]) -> int:
        response = self.client.post("/strategies", json={"name": name,
                                                         "account_ids": account_ids})
        assert response.status_code == 200, response.text
        return int(response.json()["strategy_id"])

    def order(self, order_id: int) -> dict[str, Any]:
        (item,) = self.get(f"/oms/orders/{order_id}")["items"]
        return dict(item)

    def position(self, position_id: int) -> dict[str, Any]:
        (item,) = self.get(f"/oms/positions/{position_id}")["items"]
        return dict(item)

    def command(self, command_id: int) -> dict[str, Any]:
        (item,) = self.get(f"/oms/commands/{command_id}")["items"]
        return dict(item)

    def positions(self, account_id: int, *, open_only: bool = True) -> list[dict[str, Any]]:
        if open_only:
            items = self.get("/oms/positions/open", account_ids=account_id)["items"]
        else:
            items = self.get("/oms/positions/history", account_ids=account_id,
                             page_size=500)["items"]
        return sorted(items, key=lambda p: int(p["id"]))

    def deals(self, account_id: int, **filters: Any) -> list[dict[str, Any]]:
        items = self.get("/oms/deals", account_ids=account_id, page_size=500, **filters)["items"]
        return sorted(items, key=lambda d: int(d["id"]))

    def open_orders(self, account_id: int) -> list[dict[str, Any]]:
        return list(self.get("/oms/orders/open", account_ids=account_id)["items"])

    def until(self, check: Callable[[], Any], seconds: float = 60, what: str = "") -> Any:
        deadline = time.monotonic() + seconds
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"not reached in {seconds} s: {what}")
            time.sleep(0.05)


@contextlib.contextmanager
def make_stack(tmp: Path, *, workers: int = 1, env: dict[str, str] | None = None,
               database: tuple[str, str] | None = None) -> Iterator[Stack]:
    """Fresh database, migrated and seeded; API and `workers` worker processes (`env` overrides
    their settings); all torn down (processes killed, database dropped) even when the test fails.
    `database`: (name, URL) of an empty database made elsewhere (a cluster's), left in place."""
    name, url = database or create_mysql_database("oms_e2e")
    s = Stack(name, url, tmp, env)
    try:
        upgrade(url)
        s.seed()
        s.start_api(wait=False)
        for _ in range(workers):
            s.start_worker()
        s.wait_api()
        yield s
    finally:
        s.client.close()
        s.stop_all()
        if database is None:
            drop_mysql_database(name)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with make_stack(tmp_path_factory.mktemp("e2e")) as s:
        yield s
