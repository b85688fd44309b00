"""Before/after pairs: P1-P4 run alternately in two checkouts (A = before, B = after), each with
its own `.venv`, in the same hour; one JSON line per benchmark with every pair's figures, ratios
oriented so that > 1 means B is better, their medians and the load. Imports the standard library
only (with bench/pair_summary.py, its pure part): the other checkout needs no copy of it.

    flock /tmp/bench.lock .venv/bin/python -m bench.pairs --before /work/wt/before --pairs 5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.pair_summary import (
    BENCHMARKS,
    Benchmark,
    Run,
    overall,
    pair_order,
    parse_loadavg,
    parse_result,
    progress,
    summarise,
)

ROOT = Path(__file__).resolve().parents[1]


def loadavg() -> list[float]:
    return parse_loadavg(Path("/proc/loadavg").read_text())


def describe(checkout: Path) -> dict[str, Any]:
    """The checkout's path, commit and whether it has uncommitted changes."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(checkout), *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    return {
        "path": str(checkout),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def stop_group(proc: subprocess.Popen[str]) -> None:
    """SIGINT to the run's process group (the bench's `finally` stops its API and workers and
    drops its database), SIGKILL to what is left after 30 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.communicate(timeout=30)  # drains the pipes while it stops
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_in(checkout: Path, argv: list[str], timeout: float) -> tuple[int | None, str, str]:
    """`argv` with the checkout's own Python, from the checkout, in a process group of its own
    (stopped whole, the bench's API and workers with it, if it outlives `timeout` or this
    runner is interrupted)."""
    venv = checkout / ".venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.Popen(
        [str(venv / "bin" / "python"), *argv[1:]],
        cwd=checkout,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(proc)
        out, err = proc.communicate()
        return None, out, err + f"\ntimed out after {timeout:.0f} s"
    except BaseException:
        stop_group(proc)
        raise
    return proc.returncode, out, err


def run_one(
    bench: Benchmark, argv: list[str], pair: int, side: str, checkout: Path, timeout: float
) -> Run:
    load_start, begin = loadavg(), time.monotonic()
    code, out, err = run_in(checkout, argv, timeout)
    seconds, load_end = round(time.monotonic() - begin, 1), loadavg()
    result = parse_result(out) if code == 0 else None
    error = "" if result is not None else (err.strip().splitlines() or ["no JSON line"])[-1]
    return Run(pair, side, result, seconds, load_start, load_end, code, error[-500:])


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", type=Path, required=True, help="checkout A (with .venv)")
    parser.add_argument(
        "--after", type=Path, default=ROOT, help="checkout B (with .venv); default: this one"
    )
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help="benchmarks to run, comma separated (default: P1,P2,P3,P4)",
    )
    parser.add_argument(
        "--args",
        action="append",
        default=[],
        metavar="ID=ARGS",
        help="replace a benchmark's arguments, e.g. P1='--commands 3000'",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--raw", type=Path, help="append every run's record here as it ends")
    return parser.parse_args(argv)


def run_pairs(
    args: argparse.Namespace, chosen: list[Benchmark], commands: dict[str, list[str]]
) -> dict[str, list[Run]]:
    """Every pair: each benchmark in both checkouts, one right after the other."""
    sides = {"A": args.before.resolve(), "B": args.after.resolve()}
    runs: dict[str, list[Run]] = {b.id: [] for b in chosen}
    for pair in range(1, args.pairs + 1):
        for bench in chosen:
            for side in pair_order(pair):
                run = run_one(bench, commands[bench.id], pair, side, sides[side], args.timeout)
                runs[bench.id].append(run)
                print(progress(bench, run), file=sys.stderr, flush=True)
                if args.raw is not None:
                    with args.raw.open("a") as raw:
                        raw.write(json.dumps({"benchmark_id": bench.id, **vars(run)}) + "\n")
    return runs


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    chosen = [BENCHMARKS[i.strip().upper()] for i in args.only.split(",") if i.strip()]
    overrides = dict(item.split("=", 1) for item in args.args)
    commands = {
        b.id: b.command(shlex.split(overrides[b.id]) if b.id in overrides else None) for b in chosen
    }
    checkouts = {"a": describe(args.before.resolve()), "b": describe(args.after.resolve())}
    begin, load_start = time.monotonic(), loadavg()
    runs = run_pairs(args, chosen, commands)
    seconds = round(time.monotonic() - begin, 1)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    for bench in chosen:
        extra = {"command": shlex.join(commands[bench.id]), **checkouts, "finished": stamp}
        print(json.dumps(summarise(bench, runs[bench.id], extra)), flush=True)
    print(json.dumps(overall(chosen, runs, seconds, load_start, loadavg())), flush=True)


if __name__ == "__main__":
    main()
