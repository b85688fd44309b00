"""A local nats-server with JetStream for development (docs/events-bus.md); `make nats-up` and
`make nats-down` run it.

    python scripts/nats_local.py up      # 127.0.0.1:4222, store, log and pid file in ./data/nats
    python scripts/nats_local.py down    # stop the server that pid file names

`up` says the server runs only when the process it started is still alive and the server that
answers the port (its INFO line) is that process (the server id it logged); otherwise it stops
what it started, prints the log's fatal line (e.g. the port is taken), writes no pid file and
exits 1. `down` signals the pid in the pid file only when that process is a nats-server using
this store directory: a pid file naming anything else is stale, removed, and its process left
alone.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_SERVER = os.environ.get("NATS_SERVER") or shutil.which("nats-server") or "/usr/sbin/nats-server"
STOP_SECONDS = 30.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--server", default=DEFAULT_SERVER, help="the nats-server binary")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4222)
    parser.add_argument("--dir", type=Path, default=Path("data/nats"), help="store, log, pid file")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the server")
    args = parser.parse_args()
    store = args.dir.resolve()
    if args.action == "up":
        return up(args.server, args.host, args.port, store, args.wait)
    return down(store)


def up(server: str, host: str, port: int, store: Path, wait: float) -> int:
    store.mkdir(parents=True, exist_ok=True)
    pid_file, log = store / "server.pid", store / "server.log"
    running = pid_in(pid_file)
    if running is not None and is_our_server(running, store):
        print(f"nats-server already running (pid {running}, store {store})")
        return 0
    pid_file.unlink(missing_ok=True)
    offset = log.stat().st_size if log.exists() else 0
    with log.open("ab") as err:  # what it prints before its own log is open lands there too
        proc = subprocess.Popen(
            [server, "-js", "-a", host, "-p", str(port), "-sd", str(store), "-l", str(log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            start_new_session=True,  # outlives this script and make's shell
        )
    problem = wait_ready(proc, host, port, log, offset, wait)
    if problem:
        stop(proc)
        print(f"error: nats-server did not start on {host}:{port}: {problem} (log: {log})",
              file=sys.stderr)
        return 1
    pid_file.write_text(f"{proc.pid}\n")
    print(f"nats-server on {host}:{port} (JetStream, pid {proc.pid}, store {store})")
    return 0


def wait_ready(
    proc: subprocess.Popen[bytes], host: str, port: int, log: Path, offset: int, wait: float
) -> str:
    """Empty once the server on the port is `proc`; else what went wrong."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        text = new_log(log, offset)
        fatal = re.search(rf"^\[{proc.pid}\] .*\[FTL\] (.*)$", text, re.MULTILINE)
        if fatal:
            return fatal.group(1)
        if proc.poll() is not None:
            return f"it exited with status {proc.returncode}: {last_line(text)}"
        logged = re.search(rf"^\[{proc.pid}\] .*\[INF\]\s+ID:\s+(\S+)", text, re.MULTILINE)
        if logged and server_id(host, port) == logged.group(1):
            return ""
        time.sleep(0.1)
    return f"no answer from it within {wait:g}s: {last_line(new_log(log, offset))}"


def new_log(log: Path, offset: int) -> str:
    with contextlib.suppress(OSError), log.open("rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")
    return ""


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "nothing logged"


def server_id(host: str, port: int) -> str | None:
    """The `server_id` of the INFO line the server on host:port greets a client with."""
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            line = sock.makefile("rb").readline(65536)
    except OSError:
        return None
    if not line.startswith(b"INFO "):
        return None
    with contextlib.suppress(ValueError):
        info = json.loads(line[5:])
        return str(info.get("server_id")) if isinstance(info, dict) else None
    return None


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def down(store: Path) -> int:
    pid_file = store / "server.pid"
    pid = pid_in(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        print(f"no nats-server to stop (no pid file in {store})")
        return 0
    if not is_our_server(pid, store):
        pid_file.unlink(missing_ok=True)
        print(f"pid {pid} is not the nats-server of {store}: left alone, stale pid file removed")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline and is_our_server(pid, store):
        time.sleep(0.1)
    if is_our_server(pid, store):
        print(f"error: nats-server (pid {pid}) still runs {STOP_SECONDS:g}s after SIGTERM",
              file=sys.stderr)
        return 1
    pid_file.unlink(missing_ok=True)
    print(f"nats-server stopped (pid {pid})")
    return 0


def pid_in(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid > 0 else None


def is_our_server(pid: int, store: Path) -> bool:
    """Is `pid` a live nats-server whose store directory (`-sd`) is `store`?"""
    proc = Path(f"/proc/{pid}")
    try:
        args = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cwd = (proc / "cwd").resolve()
    except (OSError, IndexError):
        return False
    if state == "Z" or Path(args[0]).name != "nats-server":
        return False
    dirs = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-sd", "--store_dir")]
    return any((cwd / d).resolve() == store for d in dirs)


if __name__ == "__main__":
    sys.exit(main())
