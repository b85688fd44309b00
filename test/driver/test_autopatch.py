"""Autopatch in a temporary site directory (a `site.addsitedir` dir, as a venv's site-packages
would be) and in a fresh `venv --system-site-packages`: install, status, patched CCXT in a new
interpreter, uninstall. No gateway needed: constructing the objects does no I/O."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test.driver.conftest import root

ENV = {"CCXT_OMS_API_KEY": "k-123", "CCXT_OMS_ACCOUNT_ID": "7", "CCXT_OMS_STRATEGY_ID": "3",
       "CCXT_OMS_BASE_URL": "http://127.0.0.1:1"}
PROBE = """
import json, site, sys
if len(sys.argv) > 1:
    site.addsitedir(sys.argv[1])
import ccxt, ccxt.async_support, ccxt.pro
out = {"oms": ccxt.oms.__name__, "pro": ccxt.pro.oms.__name__,
       "async": ccxt.async_support.oms.__name__}
ex = ccxt.oms_exchange()
out["factory"] = [type(ex).__name__, ex.account_id, ex.strategy_id, ex.apiKey, ex.base_url]
b = ccxt.binance({"apiKey": "venue-key", "secret": "s"})
out["binance"] = [type(b).__mro__[1].__name__, b.account_id, b.apiKey]
out["identity"] = [b.id, b.name, sorted(b.timeframes)]
out["one_way"] = [b.fapiPrivateGetPositionSideDual(), b.fapiPrivateGetMultiAssetsMargin(),
                  b.sapi_get_spot_delist_schedule()]
pb = ccxt.pro.binance({})
out["pro_binance"] = type(pb).__mro__[1].__name__
import asyncio
out["pro_one_way"] = asyncio.run(pb.fapiPrivateGetPositionSideDual())
out["bybit"] = [ccxt.bybit().id, type(ccxt.bybit()).__mro__[1].__name__]
print(json.dumps(out))
"""
# the driver imported first, CCXT by it: the replaced constructors must not import the
# half-initialised driver (a circular ImportError before they were built lazily)
DRIVER_FIRST = """
import json, site, sys
site.addsitedir(sys.argv[1])
from ccxt_driver import OmsCcxtProExchange
from ccxt_driver import OmsCcxtExchange
import ccxt.pro
print(json.dumps([OmsCcxtProExchange.__name__, ccxt.pro.binance.__mro__[1].__name__,
                  ccxt.pro.binance({}).name]))
"""


def run(args: list[str], python: str = sys.executable, cwd: Path | None = None,
        ) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", **ENV}
    return subprocess.run([python, *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd or root(), env=env, check=False)


def cli(*args: str) -> dict[str, object]:
    done = run(["-m", "ccxt_driver.autopatch", *args])
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_safe_then_aggressive_in_a_site_directory(tmp_path: Path) -> None:
    site_dir = str(tmp_path / "site")
    assert cli("status", "--site-dir", site_dir)["installed"] is False
    assert cli("install", "--site-dir", site_dir)["installed"] is True
    assert cli("status", "--site-dir", site_dir)["mode"] == "safe"
    safe_probe = PROBE.replace("b = ccxt.binance", "print(json.dumps(out))\nraise SystemExit\nb = 0")
    safe = run(["-c", safe_probe, site_dir], cwd=tmp_path)
    assert safe.returncode == 0, safe.stderr
    out = json.loads(safe.stdout)
    assert out["oms"] == "OmsCcxtExchange"
    assert out["pro"] == out["async"] == "OmsCcxtProExchange"
    assert out["factory"] == ["OmsCcxtExchange", 7, 3, "k-123", "http://127.0.0.1:1"]
    plain = run(["-c", "import ccxt; print(type(ccxt.binance()).__name__)"], cwd=tmp_path)
    assert plain.stdout.strip() == "binance"  # without the site dir nothing is patched

    cli("install", "--site-dir", site_dir, "--mode", "aggressive", "--override", "binance")
    status = cli("status", "--site-dir", site_dir)
    assert (status["mode"], status["override"]) == ("aggressive", ["binance"])
    aggressive = run(["-c", PROBE, site_dir], cwd=tmp_path)
    assert aggressive.returncode == 0, aggressive.stderr
    out = json.loads(aggressive.stdout)
    assert out["binance"] == ["OmsCcxtExchange", 7, "k-123"]
    # it stands for Binance: the identity programs decide by, the gateway's timeframes until
    # load_markets reads the venue's, and Binance's account-mode endpoints answered one-way
    assert out["identity"] == ["binance", "Binance", ["15m", "1d", "1h", "1m", "30m", "4h", "5m"]]
    assert out["one_way"] == [{"dualSidePosition": False}, {"multiAssetsMargin": False}, []]
    assert out["pro_binance"] == "OmsCcxtProExchange"
    assert out["pro_one_way"] == {"dualSidePosition": False}
    assert out["bybit"] == ["bybit", "Exchange"]  # not listed: CCXT's own
    first = run(["-c", DRIVER_FIRST, site_dir], cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == ["OmsCcxtProExchange", "OmsCcxtProExchange", "Binance"]
    assert cli("uninstall", "--site-dir", site_dir)["removed"] is True
    assert not (Path(site_dir) / "ccxt_oms_autopatch.pth").exists()


def test_env_scope_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    made = run(["-m", "venv", "--without-pip", "--system-site-packages", str(venv)])
    assert made.returncode == 0, made.stderr
    python = str(venv / "bin" / "python")
    # the project's environment (ccxt) is reachable from the new venv through a .pth line
    purelib = run(["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                  python=python).stdout.strip()
    here = run(["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    (Path(purelib) / "project_env.pth").write_text(f"{here}\n{root()}\n")
    installed = run(["-m", "ccxt_driver.autopatch", "install", "--scope", "env"], python=python,
                    cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    assert json.loads(installed.stdout)["path"].startswith(purelib)
    probe = run(["-c", "import ccxt; print(ccxt.oms_exchange().account_id)"], python=python,
                cwd=tmp_path)
    assert probe.stdout.strip() == "7", probe.stderr
    base = run(["-c", "import ccxt; print(hasattr(ccxt, 'oms_exchange'))"], cwd=tmp_path)
    assert base.stdout.strip() == "False"  # the project's own interpreter is untouched


def test_an_install_replaces_the_file_whole_and_leaves_an_unchanged_one_alone(
    tmp_path: Path,
) -> None:
    """A bot starting while another install runs reads the old file or the new one (renamed
    into place, never written in place), and a repeated install does not touch it."""
    site_dir = tmp_path / "site"
    cli("install", "--site-dir", str(site_dir))
    pth = site_dir / "ccxt_oms_autopatch.pth"
    first = pth.stat()
    cli("install", "--site-dir", str(site_dir))
    assert pth.stat().st_ino == first.st_ino  # the same content: not rewritten
    cli("install", "--site-dir", str(site_dir), "--mode", "aggressive", "--override", "binance")
    now = pth.stat()
    assert now.st_ino != first.st_ino  # a new file renamed over the old one
    assert now.st_mode & 0o777 == 0o644
    assert [p.name for p in site_dir.iterdir()] == ["ccxt_oms_autopatch.pth"]  # no leftovers
    assert cli("status", "--site-dir", str(site_dir))["mode"] == "aggressive"
