"""Regression (issue 13): a store outage answers 503 `store_unavailable` with `Retry-After` (it
answered 500 with a traceback per request) and is logged once per interval; service resumes
when the store is back. The outage is real: the app reaches MariaDB through a TCP relay that the
test cuts (every open connection dropped, new ones refused) and restores."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
import websockets

from apps.api.app import create_app
from apps.api.outage import OUTAGES
from apps.api.ws.preframed import PreframedProtocol
from apps.oms.config import load_settings
from apps.oms.service.install import InstallRequest, install
from apps.oms.store.migrate import upgrade
from test.conftest import MYSQL_PORT, create_mysql_database, drop_mysql_database
from test.relay import Relay

pytestmark = pytest.mark.mysql


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
PEPPER = "test-pepper-for-outage-tests-0123456789"


@pytest.fixture
async def relay_url() -> AsyncIterator[tuple[Relay, str]]:
    name, url = create_mysql_database("oms_outage")
    await asyncio.to_thread(upgrade, url)
    relay = Relay()
    await relay.restore()
    try:
        yield relay, url.replace(f":{MYSQL_PORT}/", f":{relay.port}/")
    finally:
        with contextlib.suppress(Exception):
            await relay.close()
        drop_mysql_database(name)


async def test_outage_is_503_logged_once_and_recovers(
    relay_url: tuple[Relay, str], caplog: pytest.LogCaptureFixture
) -> None:
    relay, url = relay_url
    settings = load_settings(database={"url": url}, security={"api_key_pepper": PEPPER})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        done = await install(app.state.store, PEPPER,
                             InstallRequest(admin_name=f"o{secrets.token_hex(3)}"))
        key = {"x-api-key": done["admin"]["api_key"]["plain"]}
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/oms/accounts", headers=key)).status_code == 200
            # the rate limit is per process: an outage of an earlier test in this process (an
            # xdist worker runs many) would hold back this one's line for 30 s
            OUTAGES.reset()
            caplog.clear()
            with caplog.at_level(logging.INFO):
                await relay.cut()  # the outbox tailer may notice first: its line counts too
                for _ in range(40):
                    resp = await client.get("/oms/accounts", headers=key)
                    assert resp.status_code == 503, resp.text
                    assert resp.json()["error"]["code"] == "store_unavailable"
                    assert int(resp.headers["Retry-After"]) > 0
            outage_lines = [r for r in caplog.records if "store unavailable" in r.getMessage()]
            assert 1 <= len(outage_lines) <= 2  # the request path, maybe the outbox tailer
            assert not any(r.exc_info for r in caplog.records)
            assert not any(r.levelno >= logging.ERROR and r not in outage_lines
                           for r in caplog.records)
            await relay.restore()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while (await client.get("/oms/accounts", headers=key)).status_code != 200:
                assert loop.time() < deadline, "service did not resume after the store came back"
                await asyncio.sleep(0.1)


async def test_a_websocket_login_during_an_outage_is_closed_with_try_again_later(
    relay_url: tuple[Relay, str],
) -> None:
    """A socket that logs in by header while the store is away is closed with 1013 ("try
    again later") and a reason, as an HTTP request gets 503; it was an unhandled error that
    dropped the socket without a close frame. Once the store is back the same key connects."""
    relay, url = relay_url
    settings = load_settings(database={"url": url}, security={"api_key_pepper": PEPPER})
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(),
                                           log_level="warning", lifespan="on",
                                           ws=PreframedProtocol))  # fmt: skip
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.02)
        done = await install(app.state.store, PEPPER,
                             InstallRequest(admin_name=f"w{secrets.token_hex(3)}"))
        ws_url = f"ws://127.0.0.1:{server.config.port}/ws"
        key = {"x-api-key": done["admin"]["api_key"]["plain"]}  # never seen by the key cache
        await relay.cut()
        async with websockets.connect(ws_url, additional_headers=key) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
            1013, "the store is unreachable; retry shortly")
        await relay.restore()
        for _ in range(300):
            try:
                async with websockets.connect(ws_url, additional_headers=key) as ws:
                    hello = json.loads(await ws.recv())
                break
            except websockets.ConnectionClosed:
                await asyncio.sleep(0.1)
        assert hello["event"] == "connected"
    finally:
        server.should_exit = True
        await serving
