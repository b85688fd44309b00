"""Regression (issue 13): failed authentication is throttled per client address and per key
prefix, logged at WARNING and counted; valid keys keep working (for other clients and from the
throttled address too). Real app on SQLite and MariaDB."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from apps.api.app import create_app
from apps.oms.config import load_settings
from apps.oms.service.install import InstallRequest, install

PEPPER = "test-pepper-for-throttle-0123456789"
LIMIT = 5


@pytest.fixture
async def app_and_key(store_url: str) -> AsyncIterator[tuple[Any, str]]:
    settings = load_settings(
        database={"url": store_url},
        security={"api_key_pepper": PEPPER, "auth_failure_limit": LIMIT},
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        done = await install(app.state.store, PEPPER,
                             InstallRequest(admin_name=f"t{secrets.token_hex(3)}"))
        yield app, done["admin"]["api_key"]["plain"]


def client_from(app: Any, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://t")


def failures(reason: str) -> float:
    return REGISTRY.get_sample_value("oms_auth_failures_total", {"reason": reason}) or 0.0


async def test_address_throttle(app_and_key: tuple[Any, str],
                                caplog: pytest.LogCaptureFixture) -> None:
    app, key = app_and_key
    before = failures("invalid_api_key")
    async with client_from(app, "10.1.1.1") as attacker, client_from(app, "10.2.2.2") as other:
        with caplog.at_level(logging.WARNING, logger="apps.oms.auth"):
            for _ in range(LIMIT - 1):
                wrong = {"x-api-key": "oms_" + secrets.token_urlsafe(32)}
                assert (await attacker.get("/user/profile", headers=wrong)).status_code == 401
            wrong = {"x-api-key": "oms_" + secrets.token_urlsafe(32)}
            throttled = await attacker.get("/user/profile", headers=wrong)
            assert throttled.status_code == 429
            assert throttled.json()["error"]["code"] == "rate_limited"
            assert int(throttled.headers["Retry-After"]) >= 1
            again = await attacker.get("/user/profile", headers=wrong)
            assert again.status_code == 429
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert any("authentication failed" in r.getMessage() for r in warnings)
        assert any("throttling authentication from 10.1.1.1" in r.getMessage() for r in warnings)
        assert not any(key in r.getMessage() for r in caplog.records)  # never the key itself
        assert failures("invalid_api_key") - before == LIMIT + 1
        valid = {"x-api-key": key}
        assert (await other.get("/user/profile", headers=valid)).status_code == 200
        assert (await attacker.get("/user/profile", headers=valid)).status_code == 200
        wrong = {"x-api-key": "oms_" + secrets.token_urlsafe(32)}
        assert (await other.get("/user/profile", headers=wrong)).status_code == 401


async def test_prefix_throttle_across_addresses(app_and_key: tuple[Any, str]) -> None:
    app, key = app_and_key
    prefix = key[:10]
    for n in range(LIMIT + 1):
        async with client_from(app, f"10.9.0.{n + 1}") as client:
            guess = {"x-api-key": prefix + secrets.token_urlsafe(32)}
            resp = await client.get("/user/profile", headers=guess)
            assert resp.status_code == (401 if n < LIMIT - 1 else 429), (n, resp.text)
    async with client_from(app, "10.9.1.1") as client:
        assert (await client.get("/user/profile", headers={"x-api-key": key})).status_code == 200
