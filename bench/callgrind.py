"""Callgrind's side of bench.statement_instructions: valgrind found or a clear error, the toggle
library (bench/callgrind_toggle.c) built on demand into a cache directory, the valgrind command,
and reading its dumps into instructions per execution (pure; test/unit/benchmarks)."""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

TOGGLE_SOURCE = Path(__file__).with_name("callgrind_toggle.c")
TRIGGER = "desc: Trigger: Client Request: "


class CallgrindMissing(RuntimeError):
    """valgrind, its callgrind header or gcc is not installed."""


def require_tools() -> str:
    """The path of `valgrind`; a clear error when it, gcc or the callgrind header is missing."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise CallgrindMissing(
            "valgrind is not installed (`which valgrind` found nothing): this benchmark counts "
            "instructions with valgrind's callgrind; install it (Debian: apt-get install -y valgrind)"
        )
    if shutil.which("gcc") is None:
        raise CallgrindMissing("gcc is not installed: it builds bench/callgrind_toggle.c")
    return valgrind


def cache_dir() -> Path:
    """Where the built toggle library lives: `$XDG_CACHE_HOME/ccxt-oms` (default ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ccxt-oms"


def library_name(source: bytes) -> str:
    """The built library's file name, keyed by the source's hash: an edited source is rebuilt."""
    return f"callgrind_toggle-{hashlib.sha256(source).hexdigest()[:12]}.so"


def toggle_library(directory: Path | None = None) -> Path:
    """bench/callgrind_toggle.c built with gcc into the cache directory (once per source)."""
    source = TOGGLE_SOURCE.read_bytes()
    directory = directory or cache_dir()
    target = directory / library_name(source)
    if target.exists():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    built = subprocess.run(
        ["gcc", "-O2", "-shared", "-fPIC", "-o", str(partial), str(TOGGLE_SOURCE)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if built.returncode != 0:
        raise CallgrindMissing(
            f"gcc could not build {TOGGLE_SOURCE.name} (is valgrind's header "
            f"valgrind/callgrind.h installed?):\n{built.stderr.strip()}"
        )
    partial.replace(target)  # atomic: a concurrent run sees the whole library or none
    return target


def valgrind_command(valgrind: str, out_dir: Path, argv: Sequence[str]) -> list[str]:
    """`argv` under callgrind, counting nothing until the toggle library says so; one dump file
    per measured loop in `out_dir` (`cg.<pid>.<n>`)."""
    return [valgrind, "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no",
            f"--callgrind-out-file={out_dir / 'cg.%p'}", *argv]  # fmt: skip


def parse_dump(text: str) -> tuple[str, int] | None:
    """The loop's name (the dump's trigger) and its instructions (`summary:`, else `totals:`)
    from one callgrind dump; None for a dump not made by the toggle (e.g. the one at exit)."""
    name: str | None = None
    summary: int | None = None
    totals: int | None = None
    for line in text.splitlines():
        if line.startswith(TRIGGER):
            name = line[len(TRIGGER) :].strip()
        elif line.startswith("summary:"):
            summary = int(line.split(":", 1)[1].split()[0])
        elif line.startswith("totals:"):
            totals = int(line.split(":", 1)[1].split()[0])
    count = summary if summary is not None else totals
    if not name or count is None:
        return None
    return name, count


def per_execution(dumps: Iterable[tuple[str, int]], executions: int) -> dict[str, int]:
    """Instructions per execution of each loop (rounded), in the dumps' order.
    A name dumped twice is an error: the loops' names must be unique."""
    found: dict[str, int] = {}
    for name, count in dumps:
        if name in found:
            raise ValueError(f"loop {name!r} dumped twice")
        found[name] = round(count / executions)
    return found


def read_dumps(out_dir: Path) -> list[tuple[str, int]]:
    """The parsed dumps of one run, in the order they were written (`cg.<pid>.<n>`, by n)."""

    def part(path: Path) -> int:
        suffix = path.name.rsplit(".", 1)[1]
        return int(suffix) if suffix.isdigit() and path.name.count(".") == 2 else 0

    found = []
    for path in sorted(out_dir.glob("cg.*"), key=part):
        parsed = parse_dump(path.read_text(errors="replace"))
        if parsed is not None:
            found.append(parsed)
    return found


def summarise(runs: Sequence[dict[str, int]], control: str = "select_1") -> dict[str, object]:
    """Medians over runs of each kind's instructions per execution (kinds every run has), and
    each median divided by the control's (the same process's `SELECT 1`)."""
    kinds = [k for k in runs[0] if all(k in r for r in runs)] if runs else []
    medians = {k: round(statistics.median(r[k] for r in runs)) for k in kinds}
    base = medians.get(control)
    ratios = {k: round(v / base, 3) for k, v in medians.items()} if base else {}
    return {"instructions_per_execution": medians, f"per_{control}": ratios}
