"""Client instructions per execution of bench.statement_cost's statements (the same kinds, the
same code), counted by valgrind's callgrind around each measured loop only: a figure that a
loaded machine does not move, where the timed bench cannot resolve a few per cent
(docs/benchmarks.md → What bounds us). Needs valgrind and gcc (Debian: apt-get install -y valgrind).

    .venv/bin/python -m bench.statement_instructions --executions 200 --warmup 100 --runs 2 [--driver asyncmy]

The scratch database is made outside valgrind; each run is one `python -m
bench.statement_instructions --child` under `valgrind --tool=callgrind` that loads
bench/callgrind_toggle.c (built on demand) to count each kind's measured loop. What the process
holds besides moves a kind's count by up to 3 % (a database migrated in-process did), so compare
figures of this command only.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import callgrind
from bench.harness import ROOT, load, report_line, scratch_database
from bench.statement_cost import Kinds, measure_kinds


async def _counted(kinds: Kinds, toggle: Any, args: argparse.Namespace) -> dict[str, float]:
    """Each chosen kind warmed, then `executions` runs between the toggle's start and stop
    (which dumps the counts under the kind's name); the figures come from the dumps."""
    executions, warmup = args.executions, args.warmup
    for name, run in kinds.items():
        if args.kinds and name not in args.kinds.split(","):
            continue
        for _ in range(warmup):
            await run()
        toggle.cg_start()
        for _ in range(executions):
            await run()
        toggle.cg_stop(name.encode())
    return {}


def child(url: str, args: argparse.Namespace) -> None:
    toggle = ctypes.CDLL(args.library)
    toggle.cg_stop.argtypes = [ctypes.c_char_p]
    asyncio.run(measure_kinds(url, lambda kinds: _counted(kinds, toggle, args)))


def run_once(valgrind: str, library: Path, args: argparse.Namespace) -> dict[str, int]:
    """One process under callgrind on a fresh database: instructions per execution by kind."""
    with (
        scratch_database("oms_instr", args.driver) as (_name, url),
        tempfile.TemporaryDirectory(prefix="oms-callgrind-") as out,
    ):
        argv = [sys.executable, "-m", "bench.statement_instructions", "--child", url,
                "--library", str(library), "--executions", str(args.executions),
                "--warmup", str(args.warmup), "--kinds", args.kinds]  # fmt: skip
        log = Path(out) / "valgrind.log"
        with log.open("w") as sink:
            done = subprocess.run(callgrind.valgrind_command(valgrind, Path(out), argv),
                                  cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, check=False)  # fmt: skip
        dumps = callgrind.read_dumps(Path(out))
        if done.returncode != 0 or not dumps:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            raise RuntimeError(f"the run under callgrind failed (exit {done.returncode}):\n{tail}")
        return callgrind.per_execution(dumps, args.executions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--executions", type=int, default=200, help="measured, per kind")
    parser.add_argument("--warmup", type=int, default=100, help="executions before, per kind")
    parser.add_argument("--runs", type=int, default=2, help="processes (a fresh database each)")
    parser.add_argument("--driver", choices=["aiomysql", "asyncmy"], default="asyncmy")
    parser.add_argument(
        "--kinds",
        default="",
        help="comma-separated kinds to count (default: all, in statement_cost's order)",
    )
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--library", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args)
        return
    try:
        valgrind = callgrind.require_tools()
        library = callgrind.toggle_library()
    except callgrind.CallgrindMissing as missing:
        sys.exit(f"bench.statement_instructions: {missing}")
    load_before = load()
    runs = [run_once(valgrind, library, args) for _ in range(args.runs)]
    command = ["python", "-m", "bench.statement_instructions", "--executions",
               str(args.executions), "--warmup", str(args.warmup), "--runs", str(args.runs),
               "--driver", args.driver, *(["--kinds", args.kinds] if args.kinds else [])]  # fmt: skip
    report_line("statement instructions", {
        **callgrind.summarise(runs), "runs": runs, "executions": args.executions,
        "warmup": args.warmup, "driver": args.driver, "kinds": args.kinds or "all", "load_before": load_before,
        "load_after": load(), "command": shlex.join(command)})  # fmt: skip


if __name__ == "__main__":
    main()
