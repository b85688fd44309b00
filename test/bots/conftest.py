"""The bot suite's freqtrade: its own cached environment (scripts/ensure-freqtrade) with the
driver's autopatch installed as the recipe says (docs/bots.md)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def freqtrade_venv() -> Path:
    done = subprocess.run(["bash", str(ROOT / "scripts" / "ensure-freqtrade")], check=True,
                          capture_output=True, text=True, timeout=1800)  # fmt: skip
    venv = Path(done.stdout.strip().splitlines()[-1])
    # the recipe's one step in freqtrade's environment: the autopatch, aggressive for binance
    subprocess.run([str(venv / "bin" / "python"), "-m", "ccxt_driver.autopatch", "install",
                    "--mode", "aggressive", "--override", "binance"],
                   check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                   capture_output=True, timeout=120)  # fmt: skip
    return venv
