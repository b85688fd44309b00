"""Real processes: `ccxt-oms up` (what `make run` starts) and `ccxt-oms worker` with SIGTERM."""

import asyncio
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

import httpx
import pytest
from sqlalchemy import select

from apps.oms.store.store import Store
from apps.oms.store.tables import workers

pytestmark = pytest.mark.mysql


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    # stderr goes to a file: a pipe nobody reads would fill up and block a chatty (DEBUG) process
    stderr = (cwd / f"stderr-{time.monotonic_ns()}.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "apps.cli", *args],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    proc.stderr_file = stderr  # type: ignore[attr-defined]
    return proc


def read_banner(proc: subprocess.Popen[str], deadline: float) -> str:
    assert proc.stdout is not None
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "curl" in line or "keys were created earlier" in line:
            return "".join(lines)
    raise AssertionError("no banner: " + "".join(lines))


def wait_http(url: str, deadline: float, headers: dict[str, str] | None = None) -> httpx.Response:
    while time.monotonic() < deadline:
        try:
            return httpx.get(url, headers=headers, timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> tuple[int, str]:
    proc.send_signal(sig)
    proc.communicate(timeout=120)
    stderr = proc.stderr_file  # type: ignore[attr-defined]
    stderr.seek(0)
    err = str(stderr.read())
    stderr.close()
    return proc.returncode, err


def env_for(port: int, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("OMS_") and k != "CONFIG_JSON_PATH"
    }
    env.update({"OMS_API_PORT": str(port), "PYTHONPATH": str(Path(__file__).parents[2])}, **extra)
    return env


def test_up_serves_seeded_keys_and_restarts_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = env_for(port)
    proc = start(["up"], tmp_path, env)
    try:
        banner = read_banner(proc, time.monotonic() + 60)
        trader_key = re.search(r"trader key: (\S+)", banner)
        admin_key = re.search(r"admin key:\s+(\S+)", banner)
        assert trader_key
        assert admin_key
        assert (
            f"curl -s -H 'x-api-key: {trader_key.group(1)}' http://127.0.0.1:{port}/oms/accounts"
            in banner
        )
        base = f"http://127.0.0.1:{port}"
        assert wait_http(f"{base}/healthz", time.monotonic() + 30).json()["db_engine"] == "sqlite"
        accounts = httpx.get(
            f"{base}/oms/accounts", headers={"x-api-key": trader_key.group(1)}
        ).json()
        assert [(a["exchange_id"], a["position_mode"]) for a in accounts["items"]] == [
            ("paper", "hedge")
        ]
        ready = httpx.get(f"{base}/readyz").json()
        assert ready["checks"] == {"store": True, "migrations": True, "workers": True}
    finally:
        code, err = stop(proc)
    assert code == 0, err
    assert "worker" in err
    assert "stopped" in err
    keys_file = json.loads((tmp_path / "data" / "demo-keys.json").read_text())
    assert keys_file["api_key"]["plain"] == trader_key.group(1)
    # second start: no new seed, the same keys are shown again
    proc = start(["up"], tmp_path, env)
    try:
        banner = read_banner(proc, time.monotonic() + 60)
        assert trader_key.group(1) in banner
        wait_http(f"http://127.0.0.1:{port}/healthz", time.monotonic() + 30)
        users = httpx.get(
            f"http://127.0.0.1:{port}/admin/users", headers={"x-api-key": admin_key.group(1)}
        ).json()["items"]
        assert len(users) == 2
    finally:
        code, err = stop(proc, signal.SIGTERM)
    assert code == 0, err


def test_worker_registers_and_stops_on_sigterm(mysql_url: str, tmp_path: Path) -> None:
    proc = start(["worker"], tmp_path, env_for(free_port(), OMS_DATABASE_URL=mysql_url))

    async def worker_rows() -> list[tuple[str, str]]:
        store = Store.from_url(mysql_url)
        try:
            async with store.read() as conn:
                rows = await conn.execute(select(workers.c.id, workers.c.status))
                return [(r.id, r.status) for r in rows]
        finally:
            await store.close()

    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
            s == "running" and f":{proc.pid}:" in i for i, s in asyncio.run(worker_rows())
        ):
            time.sleep(0.1)
    finally:
        code, err = stop(proc, signal.SIGTERM)
    assert code == 0, err
    assert "Traceback" not in err, err
    mine = [s for i, s in asyncio.run(worker_rows()) if f":{proc.pid}:" in i]
    assert mine == ["stopped"]


def test_credentials_never_in_logs_or_responses(tmp_path: Path) -> None:
    port = free_port()
    secret = "sekret-" + os.urandom(6).hex()
    env = env_for(port, OMS_LOG_LEVEL="DEBUG")
    setup = subprocess.run(
        [sys.executable, "-m", "apps.cli", "db", "upgrade"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    proc = start(["up"], tmp_path, env)
    try:
        banner = read_banner(proc, time.monotonic() + 60)
        admin_key = re.search(r"admin key:\s+(\S+)", banner)
        assert admin_key
        creds = subprocess.run(
            [
                sys.executable,
                "-m",
                "apps.cli",
                "upsert-account-credentials",
                "--account-id",
                "1",
                "--api-key",
                "AKEY-" + secret,
                "--secret",
                secret,
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz", time.monotonic() + 30)
        bodies = [
            httpx.get(f"{base}{p}", headers={"x-api-key": admin_key.group(1)}).text
            for p in ("/oms/accounts", "/admin/audit", "/user/profile")
        ]
        item = json.loads(bodies[0])["items"][0]
        assert item["has_credentials"] is True
        assert item["credentials_updated_at"].endswith("Z")
    finally:
        _, err = stop(proc)
    for text in [*bodies, creds.stdout, creds.stderr, setup.stdout, setup.stderr, err, banner]:
        assert secret not in text


def test_up_on_a_busy_port_refuses_before_starting_anything(tmp_path: Path) -> None:
    """Regression (issue 36, item 4): a second `make run` printed the banner and "Try: curl …",
    started a worker on the store and only then failed with `[Errno 98]`. Now the port is
    checked first: one line saying how to pick another, exit 2, nothing started or created."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = start(["up"], tmp_path, env_for(port))
        out, _ = proc.communicate(timeout=120)
        code, err = stop(proc)
    assert code == 2, err
    assert out == ""  # no banner, no "Try: curl"
    assert f"127.0.0.1:{port}" in err
    assert "OMS_API_PORT=8765 make run" in err
    assert "Traceback" not in err, err
    assert not (tmp_path / "data").exists()  # no store created, no worker started


def test_deleting_the_store_under_up_is_noticed(tmp_path: Path) -> None:
    """Regression (issue 36, item 5): `rm -rf ./data` under a running `make run` went unnoticed
    (`/readyz` ready, orders completed into a file that no longer existed). Now: not ready with
    the reason, commands refused with 503, one CRITICAL log line."""
    port = free_port()
    proc = start(["up"], tmp_path, env_for(port))
    base = f"http://127.0.0.1:{port}"
    try:
        banner = read_banner(proc, time.monotonic() + 60)
        key = re.search(r"trader key: (\S+)\s+\(paper account id (\d+)\)", banner)
        assert key
        headers = {"x-api-key": key.group(1)}
        body = {"account_id": int(key.group(2)), "command": "send_order",
                "payload": {"symbol": "BTC/USDT", "side": "buy", "qty": "0.001"}}  # fmt: skip
        deadline = time.monotonic() + 60
        while wait_http(f"{base}/readyz", deadline).status_code != 200:
            assert time.monotonic() < deadline, "never ready"
            time.sleep(0.1)
        sent = httpx.post(f"{base}/oms/commands", json=body, headers=headers, timeout=30)
        assert sent.status_code == 200, sent.text
        shutil.rmtree(tmp_path / "data")
        deadline = time.monotonic() + 60
        while (ready := httpx.get(f"{base}/readyz", timeout=30)).status_code == 200:
            assert time.monotonic() < deadline, "still ready after the store was deleted"
            time.sleep(0.1)
        assert ready.status_code == 503
        assert ready.json()["checks"]["store"] is False
        assert any("was deleted" in p for p in ready.json()["problems"]), ready.json()
        refused = httpx.post(f"{base}/oms/commands", json=body, headers=headers, timeout=30)
        assert refused.status_code == 503, refused.text
        error = refused.json()["error"]
        assert error["code"] == "store_unavailable"
        assert "Stop the gateway" in error["message"]
    finally:
        _, err = stop(proc)
    assert "CRITICAL" in err
    assert "was deleted while the gateway was running" in err
