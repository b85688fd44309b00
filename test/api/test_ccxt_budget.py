"""An API key's `/ccxt` reads past its fair share of the request budget: the exchange's own
error (`RateLimitExceeded`, 429 `rate_limited`) with a `Retry-After`, at once (never a silent
wait); the other key keeps its share. The account is a `ccxt.binance` one on the local venue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from apps.api.app import create_app
from apps.oms.config import load_settings
from apps.oms.domain.access import AccountFlags, Role
from apps.oms.service import admin
from apps.oms.service.install import InstallRequest, install
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.migrate import upgrade_async
from apps.paper.wire.process import Running, start
from apps.paper.wire.server import build_venue

PEPPER = "test-pepper-for-budget-tests-0123456789"
#: a long window, so the test never sees it roll: 100 weight, 80 for reads, 40 a key of two
LIMITS = {"binance": {"units": 100, "window_ms": 86_400_000}}


@dataclass
class Bots:
    http: httpx.AsyncClient
    keys: list[str]
    account_id: int


@pytest.fixture
async def bots(tmp_path: Path) -> AsyncIterator[Bots]:
    venue = await start(await build_venue(f"sqlite+aiosqlite:///{tmp_path / 'v.sqlite3'}",
                                          "binance"))  # fmt: skip
    url = f"sqlite+aiosqlite:///{tmp_path / 'oms.sqlite3'}"
    await upgrade_async(url)
    settings = load_settings(database={"url": url}, security={"api_key_pepper": PEPPER},
                             budget={"limits": LIMITS})  # fmt: skip
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            keys, account_id = await _seed(app.state.store, venue)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                yield Bots(http, keys, account_id)
    finally:
        await venue.stop()


async def _seed(store: object, venue: Running) -> tuple[list[str], int]:
    await install(store, PEPPER, InstallRequest(admin_name="admin", with_account=False))  # type: ignore[arg-type]
    urls = venue.urls()
    async with store.transaction() as conn:  # type: ignore[attr-defined]
        account_id = await admin.add_account(
            conn, CLI_ACTOR, user_id=None, exchange_id="ccxt.binance", label="bots",
            position_mode="netting", testnet=True, live=False,
            ccxt_config={"urls": {"public": urls["public"], "private": urls["private"]},
                         "options": {"fetchMarkets": {"types": ["spot"]}}})  # fmt: skip
        keys = []
        for name in ("bot1", "bot2"):
            user_id = await admin.create_user(conn, CLI_ACTOR, name=name, role=Role.READONLY)
            key = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=user_id,
                                             label=name)  # fmt: skip
            await admin.set_permission(conn, CLI_ACTOR, api_key_id=key.id,
                                       account_id=account_id, flags=AccountFlags())  # fmt: skip
            keys.append(key.plain)
    return keys, account_id


async def _ticker(bots: Bots, key: str) -> httpx.Response:
    return await bots.http.post(f"/ccxt/core/{bots.account_id}/fetch_ticker",
                                json={"symbol": "BTC/USDT"}, headers={"x-api-key": key})


async def test_a_key_past_its_share_is_refused_with_retry_after(bots: Bots) -> None:
    first, second = bots.keys
    assert (await _ticker(bots, first)).status_code == 200  # markets (20) and a ticker (2)
    assert (await _ticker(bots, second)).status_code == 200  # two keys now: 40 each
    answers = [await _ticker(bots, first) for _ in range(10)]
    statuses = [a.status_code for a in answers]
    assert statuses == [200] * 9 + [429]  # 22 + 9 x 2 = 40, its share
    refused = answers[-1]
    body = refused.json()["error"]
    assert body["code"] == "rate_limited"
    assert body["details"]["ccxt_error"] == "RateLimitExceeded"
    assert body["details"]["retry_after_seconds"] == int(refused.headers["Retry-After"]) > 0
    assert "trace_id" in body
    assert (await _ticker(bots, second)).status_code == 200  # the other key keeps its share
