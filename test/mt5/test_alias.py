"""`import MetaTrader5` resolves to mt5_driver only when asked (the alias `.pth`), and never
shadows an installed official package. No gateway needed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = ("import site, sys; site.addsitedir(sys.argv[1]); import MetaTrader5 as mt5; "
         "print(mt5.__name__, mt5.TRADE_RETCODE_DONE, 'numpy' in sys.modules)")  # fmt: skip


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120, check=False)  # fmt: skip


def test_the_alias_is_opt_in_and_never_shadows(tmp_path: Path) -> None:
    site_dir = tmp_path / "site"
    assert "ModuleNotFoundError" in run("-c", "import MetaTrader5", cwd=tmp_path).stderr
    installed = run("-m", "mt5_driver.alias", "install", "--site-dir", str(site_dir), cwd=ROOT)
    assert json.loads(installed.stdout)["installed"] is True, installed.stderr
    start = run("-c", "import site, sys; site.addsitedir(sys.argv[1]); "
                "print('numpy' in sys.modules, 'mt5_driver' in sys.modules)", str(site_dir),
                cwd=tmp_path)  # fmt: skip
    assert start.stdout.split() == ["False", "False"]  # nothing heavy at interpreter start
    found = run("-c", PROBE, str(site_dir), cwd=tmp_path)
    assert found.stdout.split() == ["mt5_driver", "10009", "True"], found.stderr
    official = tmp_path / "official"
    (official / "MetaTrader5").mkdir(parents=True)
    (official / "MetaTrader5" / "__init__.py").write_text("TRADE_RETCODE_DONE = 10009\n")
    shadowed = run("-c", f"import sys; sys.path.insert(0, {str(official)!r}); {PROBE}",
                   str(site_dir), cwd=tmp_path)  # fmt: skip
    assert shadowed.stdout.split()[0] == "MetaTrader5", shadowed.stderr  # the official one
    removed = run("-m", "mt5_driver.alias", "uninstall", "--site-dir", str(site_dir), cwd=ROOT)
    assert json.loads(removed.stdout)["removed"] is True
    assert "ModuleNotFoundError" in run("-c", PROBE, str(site_dir), cwd=tmp_path).stderr
