"""Every example in `ccxt_driver/examples/` runs against the real app (as against `make run`),
and again, with the README's first example, where the autopatch is installed (aggressive)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
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


# The examples again, and the README's first example, in a fresh virtualenv where the autopatch
# is installed in aggressive mode (its .pth runs at interpreter start, as in a bot's environment:
# docs/bots.md). The driver is imported first and imports CCXT itself, which once raised a
# circular ImportError (`from ccxt_driver import OmsCcxtProExchange`).
@pytest.fixture(scope="module")
def patched_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    home = tmp_path_factory.mktemp("patched")
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages",
                    str(venv)], check=True, capture_output=True, timeout=300)  # fmt: skip
    python = str(venv / "bin" / "python")
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True, timeout=60).stdout.strip()  # fmt: skip
    # the project's environment (ccxt, httpx, ...) reachable from the new one, not the checkout:
    # the autopatch's own .pth line puts the driver on sys.path
    (Path(purelib) / "project_env.pth").write_text(f"{sysconfig.get_paths()['purelib']}\n")
    installed = subprocess.run(
        [python, "-m", "ccxt_driver.autopatch", "install", "--scope", "env", "--mode",
         "aggressive", "--override", "binance,bybit"],
        cwd=root(), capture_output=True, text=True, timeout=90, check=False)  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    assert json.loads(installed.stdout)["path"].startswith(purelib)
    return python


def run_patched(python: str, args: list[str], stack: Stack, account: int, cwd: Path
                ) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CCXT_OMS_API_KEY": stack.trader_key,
           "CCXT_OMS_ACCOUNT_ID": str(account), "CCXT_OMS_BASE_URL": stack.base,
           "CCXT_OMS_WATCH_SECONDS": "3"}  # fmt: skip
    return subprocess.run([python, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=90, check=False)  # fmt: skip


@pytest.mark.parametrize("name", ["basic_usage", "order_flow", "market_data", "watch_loop"])
def test_example_runs_with_the_autopatch_installed(stack: Stack, account: int, name: str,
                                                   patched_python: str, tmp_path: Path) -> None:
    done = run_patched(patched_python, ["-m", f"ccxt_driver.examples.{name}"], stack, account,
                       tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def readme_first_example(stack: Stack, account: int) -> str:
    """The first python block of ccxt_driver/README.md, with this stack's key, account and URL
    in place of its placeholders (each must still be there: the README is run as written)."""
    text = (root() / "ccxt_driver" / "README.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    for placeholder, value in (('api_key="..."', f'api_key="{stack.trader_key}"'),
                               ("account_id=1,", f"account_id={account},"),
                               ('base_url="http://127.0.0.1:8000"', f'base_url="{stack.base}"'),
                               ('"apiKey": "..."', f'"apiKey": "{stack.trader_key}"'),
                               ('"accountId": 1,', f'"accountId": {account},'),
                               ('"http://..."', f'"{stack.base}"')):  # fmt: skip
        assert placeholder in code, placeholder
        code = code.replace(placeholder, value)
    return code


def test_readme_first_example_with_the_autopatch_installed(
    stack: Stack, account: int, patched_python: str, tmp_path: Path
) -> None:
    code = readme_first_example(stack, account)
    assert code.startswith("from ccxt_driver import OmsCcxtExchange, OmsCcxtProExchange\n")
    done = run_patched(patched_python, ["-c", code], stack, account, tmp_path)
    assert done.returncode == 0, done.stderr
    # its limit buy rests in the books with the OMS fields it passed
    (order,) = stack.get("/oms/orders/open", account_ids=account)["items"]
    assert (order["symbol"], order["side"], order["qty"], order["price"], order["stop_loss"]) == (
        "BTC/USDT:USDT", "buy", "0.1", "95", "80")


def bot_key(stack: Stack, account: int) -> tuple[int, str]:
    """A strategy on the account, a key restricted to it and its allocation (docs/bots.md, 2)."""
    admin = {"x-api-key": stack.admin_key}
    strategy_id = int(stack.client.post("/admin/strategies", headers=admin, json={
        "name": f"script-{account}", "account_ids": [account]}).json()["strategy_id"])
    made = stack.client.post("/admin/users-with-api-key", headers=admin, json={
        "name": f"script-{account}", "role": "trader", "label": "script",
        "permissions": [{"account_id": account, "can_read": True, "can_trade": True,
                         "can_close_position": True, "strategy_ids": [strategy_id]}]})
    assert made.status_code == 201, made.text
    allocated = stack.client.put(f"/oms/risk/{account}/allocations", headers=admin, json={
        "strategy_id": strategy_id, "amount": "1000", "currency": "USDT", "comment": "script"})
    assert allocated.status_code == 200, allocated.text
    return strategy_id, str(made.json()["api_key"]["api_key"])


def test_bots_md_plain_ccxt_script_with_the_autopatch_installed(
    stack: Stack, account: int, patched_python: str, tmp_path: Path
) -> None:
    """docs/bots.md's plain CCXT script as written: `ccxt.binance()` is the gateway, its balance
    the strategy's allocation, its order booked under the strategy."""
    text = (root() / "docs" / "bots.md").read_text()
    code = text.split("## Recipe: a plain CCXT script", 1)[1].split("```python\n", 1)[1]
    code = code.split("```", 1)[0] + "print(order['id'], order['status'])\n"
    stack.price("50000", "BTC/USDT")  # its spot market (the stack's prices move by hand)
    strategy_id, key = bot_key(stack, account)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CCXT_OMS_API_KEY": key,
           "CCXT_OMS_ACCOUNT_ID": str(account), "CCXT_OMS_STRATEGY_ID": str(strategy_id),
           "CCXT_OMS_BASE_URL": stack.base}  # fmt: skip
    done = subprocess.run([patched_python, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=90, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    balance, placed = done.stdout.strip().splitlines()
    assert balance == "{'free': 1000.0, 'used': 0.0, 'total': 1000.0}"
    order_id, status = placed.split()
    assert status == "closed"
    assert stack.order(int(order_id))["strategy_id"] == strategy_id
