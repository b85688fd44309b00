"""A real uvicorn server and a real in-process worker whose paper market moves by itself (a fast
random walk, `make run`'s default source with a quicker tick), on SQLite and MariaDB."""

from __future__ import annotations

import asyncio
import secrets
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from apps.api.app import create_app
from apps.api.ws.preframed import PreframedProtocol  # the protocol `ccxt-oms api` serves
from apps.oms.config import Settings, load_settings
from apps.oms.service.install import InstallRequest, install
from apps.oms.store.migrate import upgrade
from apps.oms.store.store import Store
from apps.worker.main import Worker
from test.api.live.conftest import free_port
from test.conftest import create_mysql_database, drop_mysql_database

PEPPER = "test-pepper-for-paper-market-0123456"
TLS = ssl.create_default_context()
DEADLINE = 300.0  # generous: a loaded machine may be slow, the walk is random


@dataclass
class Market:
    url: str
    settings: Settings
    store: Store
    trader_key: str
    admin_key: str
    account_id: int

    def client(self, key: str | None = None) -> httpx.AsyncClient:
        # one TLS context for every client: httpx otherwise loads the CA bundle per client
        # (tens of ms of CPU), and the probes here make a client every 0.1 s
        return httpx.AsyncClient(base_url=self.url, timeout=120, verify=TLS,
                                 headers={"x-api-key": key or self.trader_key})  # fmt: skip


async def eventually(probe: Callable[[], Awaitable[Any]], what: str,
                     deadline: float = DEADLINE, detail: Any = None) -> Any:  # fmt: skip
    """Poll `probe` until it returns something truthy (no time bound asserted)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while True:
        found = await probe()
        if found:
            return found
        if loop.time() > end:
            dump_tasks()
            raise AssertionError(f"gave up waiting for {what}: last seen {detail}")
        await asyncio.sleep(0.1)


def dump_tasks() -> None:
    """Print where every task of this loop (API, worker, schedulers) stands, following each
    coroutine's await chain down to the innermost frame: what a wait that gave up was stuck
    behind."""
    for task in asyncio.all_tasks():
        chain: list[str] = []
        coro: Any = task.get_coro()
        while coro is not None and len(chain) < 40:
            frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
            if frame is not None:
                chain.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
            coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        print(f"--- {task.get_name()}\n    " + "\n    ".join(chain))  # noqa: T201


def market_settings(url: str, **paper: Any) -> Settings:
    return load_settings(
        database={"url": url}, security={"api_key_pepper": PEPPER},
        worker={"poll_min_ms": 2, "poll_max_ms": 50, "heartbeat_seconds": 1},
        paper={"price_source": "random_walk", "tick_seconds": 0.05, "default_spread_bps": "2",
               **paper},
    )  # fmt: skip


@pytest.fixture(scope="module", params=["sqlite", "mysql"])
def market_url(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # fmt: skip
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('market') / 'oms.sqlite3'}"
        upgrade(url)
        yield url
        return
    name, url = create_mysql_database("oms_market")
    upgrade(url)
    yield url
    drop_mysql_database(name)


async def start_market(url: str, settings: Settings) -> AsyncIterator[Market]:
    """API (uvicorn) and one worker on `url`; the demo install's trader and admin keys."""
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on", timeout_graceful_shutdown=5, ws=PreframedProtocol))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.02)
    store: Store = app.state.store
    tag = secrets.token_hex(3)
    done = await install(store, PEPPER, InstallRequest(admin_name=f"adm{tag}", with_account=True,
                                                       user_name=f"t{tag}"))  # fmt: skip
    worker_store = Store.from_url(url, pool_size=6)
    stop = asyncio.Event()
    worker = asyncio.create_task(Worker(settings, worker_store).run(stop))
    try:
        yield Market(f"http://127.0.0.1:{port}", settings, store, done["api_key"]["plain"],
                     done["admin"]["api_key"]["plain"], int(done["account"]["id"]))
    finally:
        stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(worker), 60)
        except TimeoutError:
            dump_tasks()
            raise
        await worker_store.close()
        server.should_exit = True
        await asyncio.wait_for(serving, 30)


@pytest.fixture(scope="module")
async def market(market_url: str) -> AsyncIterator[Market]:
    async for running in start_market(market_url, market_settings(market_url)):
        yield running


@pytest.fixture(scope="module")
async def manual_market(market_url: str) -> AsyncIterator[Market]:
    """Configured `manual` with no spread: prices move only when a test moves or switches them."""
    settings = market_settings(market_url, price_source="manual", default_spread_bps="0")
    async for running in start_market(market_url, settings):
        yield running
