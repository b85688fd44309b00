"""The kill switch's signed webhook (issue 53) through the real app on SQLite and MariaDB: a key
sets its own secret; a call signed with it engages the kill switch as that key (its rules, its
audit); a bad signature, a stale or replayed timestamp and a key that may not kill are refused,
and nothing is halted then."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from apps.api.app import create_app
from apps.oms.config import load_settings
from apps.oms.security.signatures import sign
from test.api.conftest import PEPPER
from test.api.identity_helpers import audit_rows
from test.api.test_kill_switch import desk, h, lift, post, send

pytestmark = pytest.mark.mysql
Api = tuple[httpx.AsyncClient, Any]
SECRET = "s" * 40


@pytest.fixture
async def api(store_url: str) -> AsyncIterator[Api]:
    """The app with an encryption master key: secrets are stored encrypted outside dev."""
    settings = load_settings(database={"url": store_url}, security={
        "api_key_pepper": PEPPER, "encryption_master_key": Fernet.generate_key().decode()})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, SimpleNamespace(store=app.state.store)


def body(**fields: Any) -> bytes:
    return json.dumps({"timestamp": datetime.now(UTC).isoformat(), **fields}).encode()


async def call(client: httpx.AsyncClient, key_id: int, raw: bytes, secret: str = SECRET
               ) -> httpx.Response:  # fmt: skip
    return await client.post(f"/oms/risk/kill/webhook/{key_id}", content=raw, headers={
        "content-type": "application/json", "x-oms-signature": sign(secret, raw)})


async def test_a_signed_call_engages_the_kill_switch_as_its_key(api: Api) -> None:
    client, world = api
    (acct,), risk, _trader_id, trader, _other_id, _other = await desk(client, world)
    assert (await post(client, trader, send(acct))).status_code == 200
    short = await client.put("/oms/risk/kill/webhook-secret", headers=h(risk),
                             json={"secret": "short"})  # fmt: skip
    assert short.status_code == 422
    done = await client.put("/oms/risk/kill/webhook-secret", headers=h(risk),
                            json={"secret": SECRET})  # fmt: skip
    assert done.status_code == 200, done.text
    key_id = done.json()["api_key_id"]
    assert "secret" not in done.json()  # write-only
    raw = body(scope="account", id=acct, comment="pager alert 42")
    wrong = await call(client, key_id, raw, secret="t" * 40)
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "invalid_signature")
    unsigned = await client.post(f"/oms/risk/kill/webhook/{key_id}", content=raw)
    assert unsigned.status_code == 401
    assert (await client.get("/oms/risk/kill", headers=h(risk))).json()["items"] == []
    engaged = await call(client, key_id, raw)
    assert engaged.status_code == 200, engaged.text
    halt = engaged.json()["halt"]
    assert (halt["scope"], halt["scope_id"], halt["reason"]) == ("account", acct, "pager alert 42")
    refused = await post(client, trader, send(acct, "139"))
    assert refused.json()["error"]["details"]["rule"] == "kill_switch"
    [row] = await audit_rows(world.store, target_type="account", action="risk_kill_switch", target_id=str(acct))
    assert row["actor_api_key_id"] == key_id
    assert row["client_address"].startswith("webhook")
    # the same call again is a replay; an old timestamp is stale
    replay = await call(client, key_id, raw)
    assert (replay.status_code, replay.json()["error"]["code"]) == (409, "webhook_replayed")
    stale = body(scope="account", id=acct, comment="x",
                 timestamp=(datetime.now(UTC) - timedelta(hours=1)).isoformat())
    assert (await call(client, key_id, stale)).status_code == 422
    assert len((await client.get("/oms/risk/kill", headers=h(risk))).json()["items"]) == 1
    await lift(client, risk, "account", acct)


async def test_a_signed_call_can_do_no_more_than_its_key(api: Api) -> None:
    client, world = api
    (acct,), _risk, _trader_id, trader, _other_id, _other = await desk(client, world)
    done = await client.put("/oms/risk/kill/webhook-secret", headers=h(trader),
                            json={"secret": SECRET})  # fmt: skip
    assert done.status_code == 200, done.text
    refused = await call(client, done.json()["api_key_id"],
                         body(scope="account", id=acct, comment="not mine to do"))
    assert refused.status_code == 403, refused.text
    assert (await post(client, trader, send(acct))).status_code == 200  # nothing halted
    removed = await client.put("/oms/risk/kill/webhook-secret", headers=h(trader),
                               json={"secret": None})  # fmt: skip
    assert removed.json()["has_kill_webhook_secret"] is False
    gone = await call(client, done.json()["api_key_id"], body(scope="all", comment="x"))
    assert gone.status_code == 401
    no_such = await call(client, 2**40, body(scope="all", comment="x"))
    assert no_such.status_code == 401
