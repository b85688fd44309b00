"""bench/p15_fill_booked.py's pure part: the worker's metrics as the benchmark reads them, and
quantiles interpolated within a histogram's buckets as PromQL's `histogram_quantile` does; no
process."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bench.p15_fill_booked import Scrape, histogram_quantile, rest_delta, scrape, worker_histogram

INF = float("inf")
TEXT = """# HELP oms_fill_booked_seconds From a fill's time on the venue to its booking
oms_fill_booked_seconds_bucket{le="0.025",path="stream"} 10.0
oms_fill_booked_seconds_bucket{le="0.05",path="stream"} 90.0
oms_fill_booked_seconds_bucket{le="0.1",path="stream"} 100.0
oms_fill_booked_seconds_bucket{le="+Inf",path="stream"} 100.0
oms_fill_booked_seconds_count{path="stream"} 100.0
oms_sync_rest_calls_total{purpose="repair"} 4.0
oms_sync_rest_calls_created{purpose="repair"} 1.7e9
oms_order_stream_up{account="2"} 1.0
oms_order_stream_up{account="3"} 0.0
oms_order_stream_reconnects_total{account="2"} 3.0
"""


class _Response:
    async def __aenter__(self) -> _Response:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None

    async def text(self) -> str:
        return TEXT


class _Session:
    def get(self, url: str) -> _Response:
        return _Response()


def test_the_worker_metrics_are_read_by_name_and_label() -> None:
    got = asyncio.run(scrape(_Session(), "http://worker/metrics"))  # type: ignore[arg-type]
    assert got.rest_calls == {"repair": 4.0}
    assert got.buckets == {"stream": {0.025: 10.0, 0.05: 90.0, 0.1: 100.0, INF: 100.0}}
    assert (got.streams_up, got.reconnects) == (1.0, 3.0)


@pytest.mark.parametrize(("q", "seconds"), [
    (0.05, 0.0125),  # half of the first bucket's 10, from 0
    (0.5, 0.0375),   # rank 50: 40 of the second bucket's 80, halfway from 25 to 50 ms
    (0.95, 0.075),   # rank 95: 5 of the third bucket's 10
])  # fmt: skip
def test_a_quantile_is_interpolated_within_its_bucket(q: float, seconds: float) -> None:
    cumulative = {0.025: 10.0, 0.05: 90.0, 0.1: 100.0, INF: 100.0}
    assert histogram_quantile(q, cumulative) == pytest.approx(seconds)


def test_a_quantile_in_the_last_bucket_is_its_lower_bound_and_none_when_empty() -> None:
    assert histogram_quantile(0.99, {0.1: 1.0, INF: 2.0}) == 0.1
    assert histogram_quantile(0.5, {0.1: 0.0, INF: 0.0}) is None


def test_the_figures_between_two_scrapes_are_their_differences() -> None:
    before = Scrape({"poll": 10.0}, {"poll": {1.0: 5.0, INF: 5.0}}, 0.0, 0.0)
    after = Scrape(
        {"poll": 30.0, "repair": 2.0},
        {"poll": {1.0: 15.0, INF: 25.0}, "stream": {1.0: 0.0, INF: 0.0}},
        0.0,
        0.0,
    )
    assert rest_delta(before, after) == {"poll": 20.0, "repair": 2.0}
    assert worker_histogram(before, after) == {"poll": {"count": 20, "p50_ms": 1000.0,
                                                        "p99_ms": 1000.0}}  # fmt: skip
