"""A real uvicorn server (create_app) and a real in-process worker on SQLite or MariaDB, seeded
keys and accounts, and a small websocket client helper over the `websockets` package."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import uvicorn
import websockets

from apps.api.app import create_app
from apps.api.ws.preframed import PreframedProtocol  # the protocol `ccxt-oms api` serves
from apps.oms.clock import utcnow
from apps.oms.config import Settings, load_settings
from apps.oms.domain.access import AccountFlags, Role
from apps.oms.service import admin
from apps.oms.service.install import InstallRequest, install
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.migrate import upgrade
from apps.oms.store.store import Store
from apps.oms.store.strategies import create_strategy
from apps.paper.domain.matching import Venue
from apps.paper.exchange.market_data import set_paper_price
from apps.paper.store.venue_store import PaperStore
from apps.worker.main import Worker
from test.conftest import create_mysql_database, drop_mysql_database

PEPPER = "test-pepper-for-ws-tests-0123456789ab"
RECHECK = 0.5  # websocket.recheck_seconds of the live stack (test_ws_recheck.py)


@dataclass
class Stack:
    url: str
    settings: Settings
    store: Store
    trader_key: str
    readonly_key: str
    restricted_key: str
    account_id: int
    other_account_id: int
    strategy_id: int
    admin_key: str
    granted_key: str
    binance_account_id: int
    app: Any = None  # the FastAPI app (its state: market hub, exchange registry)
    worker: asyncio.Task[None] | None = None  # the in-process worker's `run`

    def ws_url(self) -> str:
        return self.url.replace("http", "ws") + "/ws"

    def assert_worker_running(self) -> None:
        """Fail with the cause when the in-process worker has ended (tests would otherwise wait
        out their event deadlines, and only the stack's teardown would show why)."""
        if self.worker is None or not self.worker.done():
            return
        failure = None if self.worker.cancelled() else self.worker.exception()
        raise AssertionError(f"the live stack's worker has ended: {failure!r}") from failure


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _seed(store: Store) -> dict[str, Any]:
    tag = secrets.token_hex(3)
    done = await install(
        store, PEPPER, InstallRequest(admin_name=f"adm{tag}", with_account=True, user_name=f"t{tag}")
    )
    account_id = int(done["account"]["id"])
    async with store.transaction() as conn:
        other = await admin.add_account(
            conn, CLI_ACTOR, user_id=int(done["user"]["id"]), exchange_id="paper", label="o",
            position_mode="hedge", testnet=False, live=False,
            flags=AccountFlags(can_trade=True, can_close_position=True),
        )
        strategy_id = await create_strategy(
            conn, name=f"s{tag}", client_strategy_id=None, account_ids=[account_id],
            user_id=None, now=utcnow(),
        )
        binance = await admin.add_account(
            conn, CLI_ACTOR, user_id=None, exchange_id="ccxt.binance", label="bn",
            position_mode="netting", testnet=True, live=False,
        )
        keys = {}
        grant = frozenset({"set_leverage", "transfer"})
        for role, flags, label in (
            (Role.READONLY, AccountFlags(), "ro"),
            (Role.ROBOT, AccountFlags(can_trade=True, restrict_to_strategies=True,
                                      strategy_ids=frozenset({strategy_id})), "restricted"),
            (Role.TRADER, AccountFlags(can_trade=True, can_close_position=True,
                                       allowed_functions=grant), "granted"),
        ):
            user_id = await admin.create_user(conn, CLI_ACTOR, name=f"{label}{tag}", role=role)
            key = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=user_id,
                                             label=label)
            for target in (account_id, binance):
                await admin.set_permission(conn, CLI_ACTOR, api_key_id=key.id,
                                           account_id=target, flags=flags)
            keys[label] = key.plain
    await set_paper_price(PaperStore(store.engine), Venue(), "BTC/USDT", Decimal("50000"))
    return {"trader": done["api_key"]["plain"], "account_id": account_id, "other": other,
            "strategy_id": strategy_id, "admin": done["admin"]["api_key"]["plain"],
            "binance": binance, **keys}


@pytest.fixture(scope="session", params=["sqlite", "mysql"])
def live_store_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database of its own: the in-process worker must not run other tests' queued commands."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('live') / 'oms.sqlite3'}"
        upgrade(url)
        yield url
        return
    name, url = create_mysql_database("oms_live")
    upgrade(url)
    yield url
    drop_mysql_database(name)


@pytest.fixture(scope="session")
async def stack(live_store_url: str) -> AsyncIterator[Stack]:
    store_url = live_store_url
    settings = load_settings(
        database={"url": store_url},
        security={"api_key_pepper": PEPPER},
        websocket={"queue_size": 50, "send_timeout_seconds": 1, "recheck_seconds": RECHECK},
        worker={"poll_min_ms": 2, "poll_max_ms": 20, "heartbeat_seconds": 1},
    )
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                      timeout_graceful_shutdown=5, ws=PreframedProtocol)
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.02)
    store: Store = app.state.store
    seeded = await _seed(store)
    worker_store = Store.from_url(store_url, pool_size=4)
    stop = asyncio.Event()
    worker = asyncio.create_task(Worker(settings, worker_store).run(stop))
    try:
        yield Stack(
            f"http://127.0.0.1:{port}", settings, store, seeded["trader"], seeded["ro"],
            seeded["restricted"], seeded["account_id"], seeded["other"], seeded["strategy_id"],
            seeded["admin"], seeded["granted"], seeded["binance"], app, worker,
        )
    finally:
        stop.set()
        await asyncio.wait_for(worker, 60)
        await worker_store.close()
        server.should_exit = True
        await asyncio.wait_for(serving, 30)


@pytest.fixture(autouse=True)
def _live_worker_running(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test on the live stack starts and ends with its worker running."""
    stack = request.getfixturevalue("stack") if "stack" in request.fixturenames else None
    if isinstance(stack, Stack):
        stack.assert_worker_running()
    yield
    if isinstance(stack, Stack):
        stack.assert_worker_running()


class Client:
    """A websocket client that keeps pushes and replies apart: pushes that arrive while a
    request waits for its reply are kept for `recv` / `until` (a push may precede the reply)."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.n = 0
        self.pending: list[dict[str, Any]] = []

    async def _read(self, wait: float) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), wait))
        return message

    async def recv(self, wait: float = 30) -> dict[str, Any]:
        if self.pending:
            return self.pending.pop(0)
        return await self._read(wait)

    async def request(self, action: str, payload: Any = None, namespace: str | None = None
                      ) -> dict[str, Any]:
        """Send a request and return its reply (pushes received meanwhile stay pending)."""
        self.n += 1
        rid = f"r{self.n}"
        body: dict[str, Any] = {"id": rid, "action": action, "payload": payload or {}}
        if namespace:
            body["namespace"] = namespace
        await self.ws.send(json.dumps(body))
        while True:
            message = await self._read(30)
            if message.get("id") == rid:
                return message
            if message.get("type") == "ws_event":
                self.pending.append(message)

    async def until(self, predicate: Any, wait: float = 60) -> list[dict[str, Any]]:
        """Collect messages until one satisfies `predicate`; returns all collected."""
        seen: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            message = await self.recv(max(0.01, deadline - loop.time()))
            seen.append(message)
            if predicate(message):
                return seen


OPEN: list[websockets.ClientConnection] = []


@pytest.fixture(autouse=True)
async def close_clients() -> AsyncIterator[None]:
    """Close every websocket a test opened, also when it failed (an unclosed client socket is
    an "unclosed transport" ResourceWarning at garbage collection, an error under
    `filterwarnings = error`)."""
    yield
    while OPEN:
        await OPEN.pop().close()


#: the opening handshake may wait long on a loaded machine: a generous deadline, not a speed
#: check (websockets' own default is 10 s; a double-load run timed out there once)
OPEN_TIMEOUT = 120.0


async def connect(stack: Stack, key: str | None, **kw: Any) -> Client:
    headers = {"x-api-key": key} if key else None
    kw.setdefault("open_timeout", OPEN_TIMEOUT)
    ws = await websockets.connect(stack.ws_url(), additional_headers=headers, **kw)
    OPEN.append(ws)
    client = Client(ws)
    hello = await client.recv()
    assert hello["event"] == "connected"
    return client
