"""mt5_driver against the real app: `ccxt-oms api` + `ccxt-oms worker` processes on a fresh
MariaDB database, paper accounts, prices `manual` (the e2e pipeline stack of
`test/e2e/pipeline/conftest.py`, as test/driver uses it). MetaTrader's symbol `USDJPY` is the
paper market `BTC/USDT:USDT` (`MT5_OMS_SYMBOLS`), so the documentation's examples run as written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mt5_driver as mt5
from test.e2e.pipeline.conftest import SYMBOL, Stack, make_stack

pytestmark = pytest.mark.mysql
__all__ = ["ALIASES", "EXAMPLES", "SYMBOL", "Stack"]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = Path(__file__).resolve().parent / "examples"
ALIASES = "USDJPY=BTC/USDT:USDT"
# the documentation's examples run in a fresh interpreter whose site directory holds the alias
# `.pth` (`python -m mt5_driver.alias install`): `import MetaTrader5` finds mt5_driver there
RUNNER = "import runpy, site, sys; site.addsitedir(sys.argv[1]); runpy.run_path(sys.argv[2], run_name='__main__')"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with make_stack(tmp_path_factory.mktemp("mt5")) as s:
        yield s


@pytest.fixture(scope="session")
def alias_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site_dir = tmp_path_factory.mktemp("mt5-site")
    done = subprocess.run([sys.executable, "-m", "mt5_driver.alias", "install", "--site-dir",
                           str(site_dir)], capture_output=True, text=True, check=False,
                          cwd=ROOT, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["installed"] is True
    return site_dir


def env_for(stack: Stack, account_id: int) -> dict[str, str]:
    return {"MT5_OMS_SERVER": stack.base, "MT5_OMS_PASSWORD": stack.trader_key,
            "MT5_OMS_LOGIN": str(account_id), "MT5_OMS_SYMBOLS": ALIASES}  # fmt: skip


def run_example(stack: Stack, account_id: int, site_dir: Path, name: str) -> str:
    """Run a documentation example unmodified against the account; its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MT5_OMS_")}
    env.update(env_for(stack, account_id))
    done = subprocess.run([sys.executable, "-c", RUNNER, str(site_dir), str(EXAMPLES / name)],
                          capture_output=True, text=True, env=env, cwd=site_dir, timeout=300,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def connect(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`connect(mode, config=None)`: a fresh paper account, this process's mt5 on it."""

    def make(mode: str, config: dict[str, Any] | None = None) -> int:
        account_id = stack.account(mode, config)
        for key, value in env_for(stack, account_id).items():
            monkeypatch.setenv(key, value)
        assert mt5.initialize(), mt5.last_error()
        return account_id

    yield make
    mt5.shutdown()
