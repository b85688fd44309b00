"""The bot suite's freqtrade: its own cached environment (scripts/ensure-freqtrade) with the
driver's autopatch installed as the recipe says (docs/bots.md)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def freqtrade_venv() -> Path:
    """The environment, set up by one test process at a time: the suite's modules run side by
    side (`make test-bots`), and the autopatch rewrites a file that a starting bot reads."""
    with (Path(tempfile.gettempdir()) / "ccxt-oms-freqtrade-setup.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _set_up()


def _set_up() -> Path:
    done = subprocess.run(["bash", str(ROOT / "scripts" / "ensure-freqtrade")], check=True,
                          capture_output=True, text=True, timeout=1800)  # fmt: skip
    venv = Path(done.stdout.strip().splitlines()[-1])
    # the recipe's one step in freqtrade's environment: the autopatch, aggressive for binance
    subprocess.run([str(venv / "bin" / "python"), "-m", "ccxt_driver.autopatch", "install",
                    "--mode", "aggressive", "--override", "binance"],
                   check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                   capture_output=True, timeout=120)  # fmt: skip
    return venv
