"""bench/pair_summary.py: the before/after runner's pure part (parsing a benchmark's JSON line,
ratios oriented so that > 1 means B is better, medians, the summary lines); no subprocess."""

from __future__ import annotations

import json

import pytest

from bench.pair_summary import (
    BENCHMARKS,
    Metric,
    Run,
    median,
    metric_value,
    oriented_ratio,
    overall,
    pair_order,
    parse_loadavg,
    parse_result,
    progress,
    summarise,
)


def test_the_last_benchmark_line_is_the_result() -> None:
    stdout = "\n".join(
        [
            "starting",
            json.dumps({"benchmark": "P1 throughput", "executed_per_s": 900.0}),
            "{not json",
            json.dumps({"other": 1}),
            json.dumps({"benchmark": "P1 throughput", "executed_per_s": 1000.0}),
            "bye",
        ]
    )
    assert parse_result(stdout) == {"benchmark": "P1 throughput", "executed_per_s": 1000.0}


def test_no_benchmark_line_is_none() -> None:
    assert parse_result('Traceback\n{"x": 1}\n') is None


def test_metric_values_by_path() -> None:
    result = {"latency_ms": {"p99": 5, "p50": "2"}, "flag": True}
    assert metric_value(result, ("latency_ms", "p99")) == 5.0
    assert metric_value(result, ("latency_ms", "p50")) is None  # a string is not a figure
    assert metric_value(result, ("flag",)) is None
    assert metric_value(result, ("latency_ms", "p90")) is None
    assert metric_value(None, ("latency_ms", "p99")) is None


def test_ratio_over_one_means_b_is_better() -> None:
    assert oriented_ratio(1000.0, 1100.0, higher_is_better=True) == 1.1  # more throughput
    assert oriented_ratio(5.0, 4.0, higher_is_better=False) == 1.25  # lower latency
    assert oriented_ratio(4.0, 5.0, higher_is_better=False) == 0.8
    assert oriented_ratio(None, 5.0, higher_is_better=False) is None
    assert oriented_ratio(0.0, 5.0, higher_is_better=True) is None


def test_median_skips_missing_values() -> None:
    assert median([3.0, None, 1.0, 2.0]) == 2.0
    assert median([1.0, 2.0]) == 1.5
    assert median([None]) is None


def test_the_order_swaps_every_other_pair() -> None:
    assert [pair_order(p) for p in (1, 2, 3)] == [("A", "B"), ("B", "A"), ("A", "B")]


def test_loadavg_line() -> None:
    assert parse_loadavg("1.67 0.65 0.25 3/161 9136\n") == [1.67, 0.65, 0.25]


def test_every_benchmark_states_its_headline_and_direction() -> None:
    headlines = {
        b.id: (b.metrics[0].name, b.metrics[0].higher_is_better) for b in BENCHMARKS.values()
    }
    assert headlines == {
        "P1": ("executed_per_s", True),
        "P2": ("latency_ms.p99", False),
        "P3": ("send_to_event_ms.p99", False),
        "P4": ("positions_open.requests_per_s", True),
    }
    assert "--workers" in BENCHMARKS["P2"].args  # P2 with a worker
    assert BENCHMARKS["P1"].command(["--commands", "10"]) == [
        "python",
        "-m",
        "bench.p1_throughput",
        "--commands",
        "10",
    ]


def _run(pair: int, side: str, p99: float | None, load: float = 1.0) -> Run:
    result = (
        None
        if p99 is None
        else {"benchmark": "P2", "latency_ms": {"p99": p99, "p50": 2.0}, "statuses": {"200": 10}}
    )
    return Run(
        pair,
        side,
        result,
        60.0,
        [load, 0.5, 0.2],
        [load + 1, 0.6, 0.3],
        0 if p99 is not None else 1,
        "" if p99 is not None else "boom",
    )


def test_summary_of_a_latency_benchmark() -> None:
    runs = [
        _run(1, "A", 5.0, load=1.0),
        _run(1, "B", 4.0),
        _run(2, "B", 6.0),
        _run(2, "A", 6.0),
        _run(3, "A", 4.0),
        _run(3, "B", 5.0, load=3.0),
    ]
    line = summarise(BENCHMARKS["P2"], runs, {"command": "python -m bench.p2_accept_latency"})
    p99 = line["metrics"]["latency_ms.p99"]
    assert p99["better"] == "lower"
    assert p99["a"] == [5.0, 6.0, 4.0]
    assert p99["b"] == [4.0, 6.0, 5.0]
    assert p99["ratios"] == [1.25, 1.0, 0.8]
    assert (p99["median_a"], p99["median_b"], p99["median_ratio"]) == (5.0, 5.0, 1.0)
    assert line["headline"] == "latency_ms.p99"
    assert line["headline_median_ratio"] == 1.0
    assert line["order"] == ["AB", "BA", "AB"]
    assert line["load"]["start"] == [1.0, 0.5, 0.2]  # the first run's, pair 1's A
    assert line["load"]["end"] == [4.0, 0.6, 0.3]  # the last run's, pair 3's B
    assert line["metrics"]["baseline_select_1_ms.p99"]["median_ratio"] is None
    assert line["failed"] == []
    assert line["context"]["statuses"] == {"a": [{"200": 10}] * 3, "b": [{"200": 10}] * 3}
    assert json.loads(json.dumps(line)) == line  # one JSON line


def test_a_failed_run_leaves_its_pair_out_of_the_medians() -> None:
    runs = [_run(1, "A", 5.0), _run(1, "B", None), _run(2, "B", 4.0), _run(2, "A", 4.0)]
    line = summarise(BENCHMARKS["P2"], runs, {})
    p99 = line["metrics"]["latency_ms.p99"]
    assert p99["b"] == [None, 4.0]
    assert p99["ratios"] == [None, 1.0]
    assert p99["median_ratio"] == 1.0
    assert line["failed"] == [{"pair": 1, "side": "B", "returncode": 1, "error": "boom"}]


def test_a_missing_side_is_none() -> None:
    line = summarise(BENCHMARKS["P2"], [_run(1, "A", 5.0)], {})
    assert line["metrics"]["latency_ms.p99"]["b"] == [None]
    assert line["seconds"] == {"a": [60.0], "b": [None]}


def test_overall_line() -> None:
    runs = {"P2": [_run(1, "A", 5.0), _run(1, "B", 4.0), _run(2, "B", 6.0), _run(2, "A", 6.0)]}
    line = overall([BENCHMARKS["P2"]], runs, 250.0, [1.0, 1.0, 1.0], [2.0, 2.0, 2.0])
    assert line["pairs"] == 2
    assert line["seconds_per_pair"] == 125.0
    assert line["pair_seconds"] == [120.0, 120.0]
    assert line["headline_median_ratios"] == {"P2": 1.125}  # ratios 1.25 and 1.0


@pytest.mark.parametrize(
    ("higher", "a", "b", "ratio"), [(True, 2.0, 1.0, 0.5), (False, 2.0, 1.0, 2.0)]
)
def test_orientation_follows_the_metric(higher: bool, a: float, b: float, ratio: float) -> None:
    assert oriented_ratio(a, b, Metric("x", ("x",), higher).higher_is_better) == ratio


def test_progress_line() -> None:
    line = progress(BENCHMARKS["P2"], _run(2, "B", 4.5, load=1.5))
    assert line == (
        'pair 2 P2 B: latency_ms.p99 = 4.5, statuses {"200": 10}, all_runs_p99_ms null '
        "(60.0 s, load 1.5 -> 2.5)"
    )
