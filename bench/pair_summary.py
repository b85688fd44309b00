"""The pure part of bench/pairs.py: which figures of P1-P4 are compared and which way is better,
a benchmark's JSON line parsed, ratios oriented so that > 1 means B (after) is better, medians and
the summary lines. Standard library only, no I/O."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

RATIO = "b/a where higher is better, a/b where lower is better: > 1 means B is better"


@dataclass(frozen=True)
class Metric:
    """One figure of a benchmark's JSON line: its key path and which way is better."""

    name: str
    path: tuple[str, ...]
    higher_is_better: bool


@dataclass(frozen=True)
class Benchmark:
    """A benchmark module, its arguments and its metrics (the first one is the headline);
    `context`: figures reported per run as they are, without a ratio, that say whether a run
    is sound (every command done, every event matched, no error status)."""

    id: str
    module: str
    args: tuple[str, ...]
    metrics: tuple[Metric, ...]
    context: tuple[str, ...] = ()

    def command(self, args: Sequence[str] | None = None) -> list[str]:
        return ["python", "-m", self.module, *(self.args if args is None else args)]


def _m(name: str, higher: bool) -> Metric:
    return Metric(name, tuple(name.split(".")), higher)


BENCHMARKS: dict[str, Benchmark] = {
    b.id: b
    for b in (
        Benchmark(
            "P1",
            "bench.p1_throughput",
            ("--commands", "2000", "--batch", "50", "--senders", "4", "--workers", "1"),
            (_m("executed_per_s", True), _m("accepted_per_s", True)),
            ("statuses", "deals", "select1_wall_us"),
        ),
        # --workers 1 is the bench's default, written out: P2 "with a worker"
        Benchmark(
            "P2",
            "bench.p2_accept_latency",
            ("--seconds", "20", "--rate", "100", "--workers", "1"),
            (
                _m("latency_ms.p99", False),
                _m("latency_ms.p50", False),
                _m("baseline_select_1_ms.p99", False),
            ),
            ("statuses", "all_runs_p99_ms"),
        ),
        Benchmark(
            "P3",
            "bench.p3_ws_latency",
            ("--seconds", "20", "--rate", "100", "--driver", "asyncmy"),
            (_m("send_to_event_ms.p99", False), _m("send_to_event_ms.p50", False)),
            # the percentiles are over the matched events only: a run that matched fewer than
            # it sent (events later than the bench's 10-s wait) is not comparable
            ("commands", "events_matched"),
        ),
        Benchmark(
            "P4",
            "bench.p4_reads",
            ("--seconds", "10"),
            (
                _m("positions_open.requests_per_s", True),
                _m("orders_open_limit_100.requests_per_s", True),
                _m("positions_open.latency_ms.p99", False),
                _m("baseline_select_1.requests_per_s", True),
            ),
            ("positions_open.non_2xx", "orders_open_limit_100.non_2xx"),
        ),
    )
}


def parse_result(stdout: str) -> dict[str, Any] | None:
    """The benchmark's result: the last stdout line that is a JSON object with a `benchmark`."""
    for line in reversed(stdout.splitlines()):
        text = line.strip()
        if not text.startswith("{"):
            continue
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict) and "benchmark" in value:
            return value
    return None


def lookup(result: dict[str, Any] | None, path: Sequence[str]) -> Any:
    """The value at `path` in a result, or None when a key is missing."""
    value: Any = result
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def metric_value(result: dict[str, Any] | None, path: Sequence[str]) -> float | None:
    """The number at `path` in a result, or None when a key is missing or not a number."""
    value = lookup(result, path)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def oriented_ratio(a: float | None, b: float | None, higher_is_better: bool) -> float | None:
    """B against A, > 1 when B is better: b/a for a throughput, a/b for a latency."""
    if a is None or b is None or a <= 0 or b <= 0:
        return None
    return round(b / a if higher_is_better else a / b, 4)


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 4) if present else None


def pair_order(pair: int) -> tuple[str, str]:
    """A then B in odd pairs (the first is 1), B then A in even ones: a drift over the run hits
    both sides alike."""
    return ("A", "B") if pair % 2 == 1 else ("B", "A")


def parse_loadavg(text: str) -> list[float]:
    """The 1, 5 and 15-minute load averages of a `/proc/loadavg` line."""
    return [float(v) for v in text.split()[:3]]


@dataclass(frozen=True)
class Run:
    """One run of one benchmark in one checkout."""

    pair: int
    side: str  # "A" or "B"
    result: dict[str, Any] | None
    seconds: float
    load_start: list[float]
    load_end: list[float]
    returncode: int | None = 0
    error: str = ""


def summarise_metric(metric: Metric, a: list[Run | None], b: list[Run | None]) -> dict[str, Any]:
    """Per-pair values of A and B (pairs ordered), ratios, medians and the median ratio; a
    missing or failed run is None and leaves its pair out of the medians."""
    va = [metric_value(r.result if r else None, metric.path) for r in a]
    vb = [metric_value(r.result if r else None, metric.path) for r in b]
    ratios = [oriented_ratio(x, y, metric.higher_is_better) for x, y in zip(va, vb, strict=True)]
    med_a, med_b = median(va), median(vb)
    return {
        "better": "higher" if metric.higher_is_better else "lower",
        "a": va,
        "b": vb,
        "ratios": ratios,
        "median_a": med_a,
        "median_b": med_b,
        "median_ratio": median(ratios),
        "ratio_of_medians": oriented_ratio(med_a, med_b, metric.higher_is_better),
    }


def summarise(bench: Benchmark, runs: list[Run], extra: dict[str, Any]) -> dict[str, Any]:
    """The benchmark's line: every metric over the pairs, the headline's median ratio first."""
    pairs = sorted({r.pair for r in runs})
    by = {(r.pair, r.side): r for r in runs}
    a, b = [by.get((p, "A")) for p in pairs], [by.get((p, "B")) for p in pairs]
    metrics = {m.name: summarise_metric(m, a, b) for m in bench.metrics}
    context = {
        key: {
            side: [lookup(r.result if r else None, key.split(".")) for r in rs]
            for side, rs in (("a", a), ("b", b))
        }
        for key in bench.context
    }
    headline = bench.metrics[0].name
    ordered = sorted(runs, key=lambda r: (r.pair, pair_order(r.pair).index(r.side)))
    return {
        "benchmark": f"pairs {bench.id}",
        "headline": headline,
        "headline_median_ratio": metrics[headline]["median_ratio"],
        "ratio": RATIO,
        "pairs": len(pairs),
        "order": ["".join(pair_order(p)) for p in pairs],
        **extra,
        "metrics": metrics,
        "context": context,
        "seconds": {
            "a": [r.seconds if r else None for r in a],
            "b": [r.seconds if r else None for r in b],
        },
        "load": {
            "start": ordered[0].load_start if ordered else None,
            "end": ordered[-1].load_end if ordered else None,
            "runs": [[r.side, r.load_start, r.load_end] for r in ordered],
        },
        "failed": [
            {"pair": r.pair, "side": r.side, "returncode": r.returncode, "error": r.error}
            for r in ordered
            if r.result is None
        ],
    }


def overall(
    chosen: list[Benchmark],
    runs: dict[str, list[Run]],
    seconds: float,
    load_start: list[float],
    load_end: list[float],
) -> dict[str, Any]:
    """The last line: how long the whole run took, its load, every headline's median ratio."""
    pairs = max((r.pair for rs in runs.values() for r in rs), default=0)
    return {
        "benchmark": "pairs",
        "pairs": pairs,
        "seconds": seconds,
        "seconds_per_pair": round(seconds / pairs, 1) if pairs else None,
        # each pair's benchmarks, both sides, run time summed
        "pair_seconds": [
            round(sum(r.seconds for rs in runs.values() for r in rs if r.pair == p), 1)
            for p in range(1, pairs + 1)
        ],
        "load_start": load_start,
        "load_end": load_end,
        "headline_median_ratios": {
            b.id: summarise(b, runs[b.id], {})["headline_median_ratio"] for b in chosen
        },
        "ratio": RATIO,
    }


def progress(bench: Benchmark, run: Run) -> str:
    """The line on stderr after each run: the headline, the context figures, time and load."""
    headline = metric_value(run.result, bench.metrics[0].path)
    context = "".join(
        f", {key} {json.dumps(lookup(run.result, key.split('.')))}" for key in bench.context
    )
    failed = f" FAILED: {run.error}" if run.result is None else ""
    return (
        f"pair {run.pair} {bench.id} {run.side}: {bench.metrics[0].name} = {headline}{context} "
        f"({run.seconds} s, load {run.load_start[0]} -> {run.load_end[0]}){failed}"
    )
