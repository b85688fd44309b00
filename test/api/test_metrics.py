"""`GET /metrics`: Prometheus text with the store's values read at scrape time, refused
authentications counted, private when configured."""

import re

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from apps.api.app import create_app
from apps.oms.config import load_settings

from .conftest import PEPPER, World

pytestmark = pytest.mark.mysql
Api = tuple[httpx.AsyncClient, World]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def total(text: str, name: str) -> float:
    return sum(v for (n, _), v in samples(text).items() if n == name)


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_are_public_prometheus_text(api: Api) -> None:
    client, _ = api
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    names = {f.name for f in text_string_to_metric_families(response.text)}
    assert {
        "oms_queue_depth", "oms_queue_oldest_age_seconds", "oms_outbox_unsequenced_events",
        "oms_outbox_lag_seconds", "oms_stream_head_seq", "oms_workers_alive",
        "oms_websocket_clients", "oms_auth_failures", "oms_commands", "oms_command_latency_seconds",
        "oms_venue_call_seconds", "oms_venue_errors", "oms_worker_group_accounts",
        "oms_worker_group_rollbacks", "oms_reconciliation_lag_seconds",
    } <= names  # fmt: skip


async def test_queue_depth_counts_unfinished_commands(api: Api) -> None:
    client, world = api
    before = value((await client.get("/metrics")).text, "oms_queue_depth", status="queued")
    body = {"account_id": world.account_id, "command": "send_order",
            "payload": {"symbol": "BTC/USDT", "side": "buy", "qty": "0.001"}}  # fmt: skip
    accepted = await client.post(
        "/oms/commands", json=body, headers={"x-api-key": world.trader_key}
    )
    assert accepted.status_code == 200, accepted.text
    text = (await client.get("/metrics")).text
    assert value(text, "oms_queue_depth", status="queued") == before + 1  # no worker runs here
    assert value(text, "oms_queue_oldest_age_seconds", status="queued") >= 0


async def test_failed_authentications_are_counted(api: Api) -> None:
    client, _ = api
    name = "oms_auth_failures_total"
    before = value(
        (await client.get("/metrics")).text, name, code="invalid_api_key", channel="http"
    )
    assert (await client.get("/oms/accounts", headers={"x-api-key": "oms_bad"})).status_code == 401
    assert (await client.get("/oms/accounts", headers={"x-api-key": "oms_bad2"})).status_code == 401
    after = total((await client.get("/metrics")).text, "oms_auth_failures_total")
    assert after >= before + 2  # counted by the auth guard (apps/oms/service/auth.py), by reason


async def test_private_metrics_need_an_admin_key(api: Api, store_url: str) -> None:
    _, world = api
    settings = load_settings(
        database={"url": store_url},
        security={"api_key_pepper": PEPPER},
        api={"public_metrics": False},
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/metrics")).status_code == 401
            trader = await client.get("/metrics", headers={"x-api-key": world.trader_key})
            assert trader.status_code == 403
            admin = await client.get("/metrics", headers={"x-api-key": world.admin_key})
            assert admin.status_code == 200
            assert re.search(r"^oms_workers_alive \d", admin.text, re.M)


async def test_sample_grafana_dashboard_queries_metrics_that_exist(api: Api) -> None:
    import json
    from pathlib import Path

    client, _ = api
    text = (await client.get("/metrics")).text
    exposed = {family.name for family in text_string_to_metric_families(text)}
    dashboard = json.loads(
        (Path(__file__).parents[2] / "docs" / "grafana-dashboard.json").read_text()
    )
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\boms_[a-z_]+", target["expr"])
    }
    assert len(queried) >= 10
    missing = {n for n in queried if re.sub(r"_(total|bucket|count|sum)$", "", n) not in exposed}
    assert not missing, missing
