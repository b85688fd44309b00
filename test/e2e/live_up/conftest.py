"""A real `ccxt-oms up` (API + worker on a fresh embedded store) for the operator CLI, metrics
and OpenAPI conformance tests. Start-up waits are generous: the machine may be loaded."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).parents[3]


@dataclass(frozen=True)
class Running:
    base_url: str
    trader_key: str
    admin_key: str
    account_id: int
    cwd: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OMS_") and k not in ("CONFIG_JSON_PATH", "COLUMNS")
    }
    # a market that stands still, bid = ask, unlimited depth: these tests assert exact fills at
    # prices they post (make run's moving market: test/api/market/)
    env.update({"PYTHONPATH": str(ROOT), "OMS_PAPER_PRICE_SOURCE": "manual",
                "OMS_PAPER__DEFAULT_SPREAD_BPS": "0", "OMS_PAPER__LEVEL_NOTIONAL_USDT": "0",
                "OMS_PAPER__FUNDING_INTERVAL_SECONDS": "0"},
               **extra)  # fmt: skip
    return env


def _banner(proc: subprocess.Popen[str], deadline: float) -> str:
    assert proc.stdout is not None
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "curl" in line:
            return "".join(lines)
    raise AssertionError("no banner: " + "".join(lines))


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    cwd = tmp_path_factory.mktemp("cli-up")
    port = _free_port()
    stderr = (cwd / "up.err").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "apps.cli", "up"],
        cwd=cwd,
        env=clean_env(OMS_API_PORT=str(port)),
        text=True,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    try:
        banner = _banner(proc, time.monotonic() + 300)
        trader = re.search(r"trader key: (\S+)\s+\(paper account id (\d+)\)", banner)
        admin = re.search(r"admin key:\s+(\S+)", banner)
        assert trader
        assert admin
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=30).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield Running(base, trader.group(1), admin.group(1), int(trader.group(2)), cwd)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)
        stderr.close()
