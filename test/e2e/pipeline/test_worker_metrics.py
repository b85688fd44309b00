"""Regression (issue 36, item 2): the API and a worker as separate processes with no shared
multiprocess directory (the shape of docker-compose.stack.yml). The commands the worker finished
are counted on the worker's own endpoint (`worker.metrics_port`), and the API's `/metrics`
reports each reconciled account's reconciliation lag."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import SYMBOL, Stack, free_port, make_stack

pytestmark = pytest.mark.mysql


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url, timeout=30).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(url: str, seconds: float = 120) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The endpoint's samples once it answers (the worker starts after the API)."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(httpx.TransportError):
            return samples(url)
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} never answered")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str]]:
    port = free_port()
    env = {"OMS_WORKER__METRICS_PORT": str(port)}
    with make_stack(tmp_path_factory.mktemp("metrics"), env=env) as stack:
        yield stack, f"http://127.0.0.1:{port}/metrics"


def test_worker_serves_the_commands_it_finished(metered: tuple[Stack, str]) -> None:
    stack, worker_url = metered
    completed = ("oms_commands_total",
                 (("command_type", "send_order"), ("outcome", "completed")))  # fmt: skip
    before = scrape(worker_url).get(completed, 0.0)
    acct = stack.account("hedge")
    stack.price("100")
    stack.cmd(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market", qty="0.1")
    after = scrape(worker_url)
    assert after[completed] == before + 1
    latency = ("oms_command_latency_seconds_count", completed[1])
    assert after[latency] >= 1
    # the API process has no share in the worker's counters (no multiprocess directory)
    assert scrape(stack.base + "/metrics").get(completed, 0.0) == 0


def test_api_reports_reconciliation_lag_per_account(metered: tuple[Stack, str]) -> None:
    stack, _ = metered
    acct = stack.account("netting")
    lag = ("oms_reconciliation_lag_seconds", (("account_id", str(acct)),))
    assert lag not in scrape(stack.base + "/metrics")  # never reconciled: no sample, not 0
    deadline = time.monotonic() + 120
    while True:  # a run still going past the request timeout is asked for again
        answer = stack.client.post("/oms/reconcile", json={"account_id": acct}, timeout=120)
        assert answer.status_code == 200, answer.text
        if answer.json()["triggered_count"] == 1 or time.monotonic() > deadline:
            break
    assert answer.json()["triggered_count"] == 1, answer.text
    assert scrape(stack.base + "/metrics")[lag] >= 0


def test_worker_metrics_port_in_use_stops_the_worker_with_one_line(tmp_path: Path) -> None:
    with make_stack(tmp_path, workers=0) as stack, socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        stack.extra_env["OMS_WORKER__METRICS_PORT"] = str(busy.getsockname()[1])
        worker = stack.start_worker()
        assert worker.wait(timeout=120) == 2
        log = stack.log_of(worker)
        assert "OMS_WORKER__METRICS_PORT=" in log
        assert "Traceback" not in log
