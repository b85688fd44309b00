"""Accounts whose venue cannot be used or reached, over real uvicorn and a real in-process worker
(issue 11): the command fails *and* its order ends `REJECTED` with the reason (never left
`PENDING_SUBMIT` and open), and an unreachable exchange fails as `venue_unavailable` with one
log line per retry instead of `internal_error` and a traceback per attempt.

The stack is this module's own (a fresh database and worker): the worker's CCXT instances send
every request to a closed local port, so "unreachable" is a real refused connection on any
machine, with or without internet.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from apps.api.app import create_app
from apps.api.ws.preframed import PreframedProtocol  # the protocol `ccxt-oms api` serves
from apps.oms.config import Settings, load_settings
from apps.oms.domain.access import FULL_TRADING_FLAGS
from apps.oms.service import admin
from apps.oms.store.accounts import insert_account, upsert_credentials
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.migrate import upgrade
from apps.oms.store.store import Store
from apps.worker.main import Worker
from test.api.live.conftest import free_port
from test.conftest import create_mysql_database, drop_mysql_database

pytestmark = pytest.mark.mysql
PEPPER = "venue-failures-pepper-0123456789abcdef"
TERMINAL = ("completed", "failed", "canceled")


@dataclass
class Venues:
    url: str
    store: Store
    key: str
    accounts: dict[str, int]


def unreachable(exchange: Any) -> None:
    """Send every CCXT request of this exchange instance to a closed local port."""
    closed = free_port()  # bound then released: nothing listens there
    real_fetch = exchange.fetch

    async def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        local = re.sub(r"^https?://[^/]+", f"http://127.0.0.1:{closed}", url)
        return await real_fetch(local, method, headers, body)

    exchange.fetch = fetch


async def _seed(store: Store) -> tuple[str, dict[str, int]]:
    tag = secrets.token_hex(3)
    async with store.transaction() as conn:
        user_id = await admin.create_user(conn, CLI_ACTOR, name=f"vf{tag}",
                                          role=admin.parse_role("trader"))
        key = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=user_id,
                                         label="vf")
        made: dict[str, int] = {}
        # (name, exchange id, testnet, credentials): "nosuchex" is a row written before
        # add-account refused unknown ids (it does now), so it is inserted directly
        for name, exchange_id, testnet, creds in (
            ("nosuchex", "ccxt.nosuchex", True, True),
            ("live", "ccxt.binance", False, True),
            ("no_credentials", "ccxt.binance", True, False),
            ("unreachable", "ccxt.binance", True, True),
        ):
            account_id = await insert_account(conn, exchange_id=exchange_id, label=name,
                                              position_mode="netting", is_testnet=testnet,
                                              is_live=not testnet)
            if creds:
                await upsert_credentials(conn, account_id, api_key="k" * 64, secret="s" * 64,
                                         passphrase=None)
            await admin.set_permission(conn, CLI_ACTOR, api_key_id=key.id,
                                       account_id=account_id, flags=FULL_TRADING_FLAGS)
            made[name] = account_id
    return key.plain, made


@pytest.fixture(scope="module", params=["sqlite", "mysql"])
def venues_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('venues') / 'oms.sqlite3'}"
        upgrade(url)
        yield url
        return
    name, url = create_mysql_database("oms_venues")
    upgrade(url)
    yield url
    drop_mysql_database(name)


@pytest.fixture(scope="module")
async def venues(venues_url: str) -> AsyncIterator[Venues]:
    settings: Settings = load_settings(
        database={"url": venues_url}, security={"api_key_pepper": PEPPER},
        worker={"poll_min_ms": 2, "poll_max_ms": 20, "heartbeat_seconds": 1,
                "venue_timeout_seconds": 5},
    )
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on", timeout_graceful_shutdown=5, ws=PreframedProtocol))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.02)
    key, accounts = await _seed(app.state.store)
    worker_store = Store.from_url(venues_url, pool_size=4)
    worker = Worker(settings, worker_store)
    worker.tasks.venues.prepare = unreachable
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        yield Venues(f"http://127.0.0.1:{port}", app.state.store, key, accounts)
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
        await worker_store.close()
        server.should_exit = True
        await asyncio.wait_for(serving, 30)


async def _send(http: httpx.AsyncClient, account_id: int) -> dict[str, Any]:
    response = await http.post("/oms/commands", json={
        "account_id": account_id, "command": "send_order",
        "payload": {"symbol": "BTC/USDT", "side": "buy", "order_type": "limit", "qty": "0.001",
                    "price": "20000"}})
    assert response.status_code == 200, response.text
    item: dict[str, Any] = response.json()["results"][0]
    assert item["ok"] is True
    assert item["order_id"] is not None
    return item


async def _finished_command(http: httpx.AsyncClient, command_id: int,
                            seconds: float = 90) -> dict[str, Any]:
    """Poll the command until it is terminal (a generous deadline; no speed is asserted)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        response = await http.get(f"/oms/commands/{command_id}")
        assert response.status_code == 200, response.text
        command: dict[str, Any] = response.json()["items"][0]
        if command["status"] in TERMINAL:
            return command
        assert loop.time() < deadline, f"command {command_id} still {command['status']}"
        await asyncio.sleep(0.05)


async def _order(http: httpx.AsyncClient, order_id: int) -> dict[str, Any]:
    response = await http.get(f"/oms/orders/{order_id}")
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()["items"][0]
    return order


@pytest.mark.parametrize(("account", "says"), [
    ("nosuchex", "nosuchex"),
    ("live", "allow_live_trading"),
    ("no_credentials", "upsert-credentials"),
])
async def test_an_account_without_a_usable_venue_rejects_its_orders(
    venues: Venues, account: str, says: str
) -> None:
    account_id = venues.accounts[account]
    async with httpx.AsyncClient(base_url=venues.url, timeout=30,
                                 headers={"x-api-key": venues.key}) as http:
        item = await _send(http, account_id)
        command = await _finished_command(http, item["command_id"])
        # the order was rejected in the command's own transaction: once the command reads
        # failed, the order already reads REJECTED (never a window where it is still open)
        order = await _order(http, item["order_id"])
        assert command["status"] == "failed"
        assert command["error_code"] == "venue_unavailable"
        assert says in command["error_message"]
        assert "no venue adapter" not in command["error_message"]
        assert order["status"] == "REJECTED"
        assert order["error_code"] == "venue_unavailable"
        assert says in order["error_message"]
        listed = await http.get("/oms/orders/open", params={"account_ids": str(account_id)})
        assert listed.status_code == 200
        assert item["order_id"] not in [o["id"] for o in listed.json()["items"]]
        cancel = await http.post("/oms/commands", json={
            "account_id": account_id, "command": "cancel_order",
            "payload": {"order_id": item["order_id"]}})
        assert cancel.status_code == 409, cancel.text  # nothing left to cancel; never a 503
        assert cancel.json()["error"]["code"] == "invalid_order_state"


async def test_an_unreachable_exchange_fails_as_venue_unavailable_with_one_line_per_retry(
    venues: Venues, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="apps.worker")
    account_id = venues.accounts["unreachable"]
    async with httpx.AsyncClient(base_url=venues.url, timeout=30,
                                 headers={"x-api-key": venues.key}) as http:
        item = await _send(http, account_id)
        command = await _finished_command(http, item["command_id"])
        order = await _order(http, item["order_id"])
    assert command["status"] == "failed"
    assert command["error_code"] == "venue_unavailable", command
    assert "internal_error" not in str(command["error_message"])
    assert order["status"] == "REJECTED"
    assert order["error_code"] == "venue_unavailable"
    mine = [r for r in caplog.records if f"command {item['command_id']} " in r.getMessage()]
    assert mine, "every retry is logged"
    # no request waited inside a transaction: on the embedded store, one there held the write
    # lock that the request budget's reservation needs, until the lock wait gave up
    assert not [r for r in caplog.records if "the store failed" in r.getMessage()]
    for record in mine:
        assert record.exc_info is None, "no traceback per retry"
        assert "\n" not in record.getMessage()
        assert "venue unavailable" in record.getMessage()
