"""`/metrics` of a real `ccxt-oms up`: commands executed by the worker are counted with their
latency, connected websocket clients are a live gauge."""

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from .conftest import Running

# the first test starts `ccxt-oms up` (module fixture): on a loaded machine that takes minutes
pytestmark = pytest.mark.timeout(900)


def value(base_url: str, name: str, **labels: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=30).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0


def failures(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=30).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "oms_auth_failures_total"
    )


def test_executed_commands_are_counted_with_latency(running: Running) -> None:
    labels = {"command_type": "send_order", "outcome": "completed"}
    before = value(running.base_url, "oms_commands_total", **labels)
    headers = {"x-api-key": running.trader_key}
    body = {"account_id": running.account_id, "command": "send_order",
            "payload": {"symbol": "BTC/USDT", "side": "buy", "qty": "0.001"}}  # fmt: skip
    answer = httpx.post(f"{running.base_url}/oms/commands", params={"wait": "completed"},
                        json=body, headers=headers, timeout=60)  # fmt: skip
    assert answer.json()["results"][0]["status"] == "completed", answer.text
    assert value(running.base_url, "oms_commands_total", **labels) == before + 1
    assert value(running.base_url, "oms_command_latency_seconds_count", **labels) >= 1
    assert value(running.base_url, "oms_queue_depth", status="queued") == 0
    assert value(running.base_url, "oms_workers_alive") == 1


def test_websocket_clients_gauge_follows_connections(running: Running) -> None:
    url = running.base_url.replace("http://", "ws://") + "/ws"
    base = value(running.base_url, "oms_websocket_clients")
    with connect(url, additional_headers={"x-api-key": running.trader_key}) as socket:
        socket.recv(timeout=30)  # greeting: the connection is registered
        assert value(running.base_url, "oms_websocket_clients") == base + 1
    deadline = time.monotonic() + 60
    while value(running.base_url, "oms_websocket_clients") != base and time.monotonic() < deadline:
        time.sleep(0.1)
    assert value(running.base_url, "oms_websocket_clients") == base
    before = failures(running.base_url)
    with connect(url, additional_headers={"x-api-key": "oms_wrong"}) as socket:
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=30)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008
    assert failures(running.base_url) >= before + 1
