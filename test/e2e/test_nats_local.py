"""`make nats-up` / `make nats-down` (scripts/nats_local.py) for real: success is said only when
the server it started answers the port, a taken port is an error that leaves no pid file, and
nats-down signals nothing but the nats-server of its own store directory."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NATS_SERVER = Path("/usr/sbin/nats-server")


def make(target: str, store: Path, port: int) -> subprocess.CompletedProcess[str]:
    if not NATS_SERVER.exists():
        pytest.fail("nats-server is not installed: run scripts/ensure-nats (make test does)")
    return subprocess.run(
        ["make", "-s", "-C", str(ROOT), target, f"NATS_DIR={store}", f"NATS_PORT={port}"],
        capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else listens on (as a nats-server already on 4222 would)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def info(port: int) -> dict[str, object]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        line = sock.makefile("rb").readline()
    assert line.startswith(b"INFO "), line
    answer: dict[str, object] = json.loads(line[5:])
    return answer


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_nats_up_on_a_taken_port_fails_and_leaves_no_pid_file(
    tmp_path: Path, taken_port: int
) -> None:
    store = tmp_path / "nats"
    result = make("nats-up", store, taken_port)
    assert result.returncode != 0, result.stdout
    assert "address already in use" in result.stderr
    assert "nats-server on" not in result.stdout
    assert not (store / "server.pid").exists()
    assert "[FTL]" in (store / "server.log").read_text()
    # nats-down then has nothing to stop, and says so
    down = make("nats-down", store, taken_port)
    assert down.returncode == 0, down.stderr
    assert "no nats-server to stop" in down.stdout


def test_nats_up_answers_then_nats_down_stops_it(tmp_path: Path, free_port: int) -> None:
    store = tmp_path / "nats"
    result = make("nats-up", store, free_port)
    try:
        assert result.returncode == 0, result.stderr
        assert f"nats-server on 127.0.0.1:{free_port}" in result.stdout
        pid = int((store / "server.pid").read_text())
        assert alive(pid)
        assert info(free_port)["jetstream"] is True
        again = make("nats-up", store, free_port)
        assert again.returncode == 0, again.stderr
        assert f"already running (pid {pid}" in again.stdout
        down = make("nats-down", store, free_port)
        assert down.returncode == 0, down.stderr
        assert not alive(pid)
        assert not (store / "server.pid").exists()
    finally:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int((store / "server.pid").read_text()), signal.SIGKILL)


def test_nats_down_leaves_a_process_that_is_not_its_server_alone(
    tmp_path: Path, free_port: int
) -> None:
    store = tmp_path / "nats"
    store.mkdir()
    other = subprocess.Popen(["sleep", "600"])
    try:
        (store / "server.pid").write_text(f"{other.pid}\n")
        down = make("nats-down", store, free_port)
        assert down.returncode == 0, down.stderr
        assert "left alone" in down.stdout
        assert other.poll() is None
        assert not (store / "server.pid").exists()
    finally:
        other.kill()
        other.wait()
