"""Every example in `ccxt_driver/examples/` runs against the real app (as against `make run`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from test.driver.conftest import Stack, root

pytestmark = pytest.mark.mysql


@pytest.mark.parametrize("name", ["basic_usage", "order_flow", "market_data", "watch_loop"])
def test_example_runs(stack: Stack, account: int, name: str) -> None:
    env = {**os.environ, "CCXT_OMS_API_KEY": stack.trader_key,
           "CCXT_OMS_ACCOUNT_ID": str(account), "CCXT_OMS_BASE_URL": stack.base,
           "CCXT_OMS_WATCH_SECONDS": "3"}
    done = subprocess.run([sys.executable, "-m", f"ccxt_driver.examples.{name}"], cwd=root(),
                          env=env, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    if name == "watch_loop":
        assert "order:" in done.stdout
        assert "trade:" in done.stdout
        assert "position:" in done.stdout


# the examples again in an interpreter where the autopatch is installed in aggressive mode (a
# site directory holding its .pth, as `autopatch install` writes into a venv): the driver is
# imported first and imports CCXT itself, which once raised a circular ImportError
RUN_PATCHED = """
import runpy, site, sys
site.addsitedir(sys.argv[1])
runpy.run_module(sys.argv[2], run_name="__main__")
"""


@pytest.mark.parametrize("name", ["basic_usage", "watch_loop"])
def test_example_runs_with_the_autopatch_installed(stack: Stack, account: int, name: str,
                                                   tmp_path: Path) -> None:
    site_dir = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "ccxt_driver.autopatch", "install", "--site-dir", str(site_dir),
         "--mode", "aggressive", "--override", "binance,bybit"],
        cwd=root(), capture_output=True, text=True, timeout=90, check=False)  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    env = {**os.environ, "CCXT_OMS_API_KEY": stack.trader_key,
           "CCXT_OMS_ACCOUNT_ID": str(account), "CCXT_OMS_BASE_URL": stack.base,
           "CCXT_OMS_WATCH_SECONDS": "3"}
    done = subprocess.run([sys.executable, "-c", RUN_PATCHED, str(site_dir),
                           f"ccxt_driver.examples.{name}"], cwd=root(), env=env,
                          capture_output=True, text=True, timeout=90, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
