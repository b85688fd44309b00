"""Every example in `ccxt_driver/examples/` runs against the real app (as against `make run`)."""

from __future__ import annotations

import os
import subprocess
import sys

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
