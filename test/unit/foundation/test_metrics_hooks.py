"""Metric hooks: venue calls timed and errors counted by class; multiprocess aggregation."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from apps.oms import metrics
from apps.oms.exchange.ccxt.venue import CcxtVenue


class ExchangeNotAvailable(Exception):
    pass


class FakeExchange:
    def __init__(self) -> None:
        self.id = "fakeex"
        self.has: dict[str, Any] = {}
        self.markets: dict[str, Any] = {"BTC/USDT": {"symbol": "BTC/USDT"}}

    async def load_markets(self, reload: bool, params: dict[str, Any]) -> dict[str, Any]:
        return self.markets

    async def fetch_ticker(self, symbol: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"symbol": symbol, "last": 1.5}

    async def fetch_balance(self, params: dict[str, Any]) -> dict[str, Any]:
        raise ExchangeNotAvailable("down")


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_venue_calls_are_timed_and_errors_counted_by_class() -> None:
    venue = CcxtVenue(FakeExchange())
    calls = sample("oms_venue_call_seconds_count", exchange="fakeex", method="fetch_ticker")
    await venue.fetch_ticker("BTC/USDT")
    assert (
        sample("oms_venue_call_seconds_count", exchange="fakeex", method="fetch_ticker")
        == calls + 1
    )
    with pytest.raises(ExchangeNotAvailable):
        await venue.fetch_balance()
    errors = sample("oms_venue_errors_total", exchange="fakeex", method="fetch_balance",
                    error="ExchangeNotAvailable")  # fmt: skip
    assert errors == 1


def test_command_latency_is_measured_from_acceptance() -> None:
    finished = datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC)
    before = sample("oms_command_latency_seconds_sum", command_type="t1", outcome="failed")
    metrics.command_finished("t1", "failed", finished - timedelta(milliseconds=250), finished)
    metrics.command_finished(
        "t1", "failed", (finished - timedelta(seconds=1)).replace(tzinfo=None), finished
    )
    assert sample("oms_commands_total", command_type="t1", outcome="failed") == 2
    total = sample("oms_command_latency_seconds_sum", command_type="t1", outcome="failed")
    assert total - before == pytest.approx(1.25)


WRITER = """
from apps.oms import metrics
metrics.command_finished("send_order", "completed", None, __import__("datetime").datetime.now())
metrics.WEBSOCKET_CLIENTS.inc()
"""
READER = """
from apps.api.routes.metrics import process_metrics
print(process_metrics().decode())
"""


def test_multiprocess_mode_sums_every_process(tmp_path: Path) -> None:
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(Path(__file__).parents[3])}
    for _ in range(3):
        subprocess.run([sys.executable, "-c", WRITER], env=env, check=True, timeout=120)
    out = subprocess.run([sys.executable, "-c", READER], env=env, check=True, timeout=120,
                         capture_output=True, text=True).stdout  # fmt: skip
    assert 'oms_commands_total{command_type="send_order",outcome="completed"} 3.0' in out
