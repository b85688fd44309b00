"""freqtrade, unmodified, trading through the gateway (docs/bots.md): two bots on ONE hedge paper
account, a spot bot and a futures bot (USDT perpetual, isolated margin), each with its own key
restricted to its own strategy, started as the recipe says (freqtrade's own environment, the
driver's autopatch installed there in aggressive mode for `binance`, `CCXT_OMS_*` variables).

The gateway is the real thing: API and worker processes on MariaDB, a random-walk paper market
and perpetual funding every minute. Each bot runs the bundled strategy (`QuickFlip`: enter,
exit 20 s later, again) until it has closed trades; then the test reads the bots' own databases
and the gateway's books and asserts that both started cleanly (no ERROR in their logs), each
placed, filled and closed trades, the books hold every trade under the bot's strategy with the
realised PnL freqtrade computed (within fees), and neither bot saw the other's orders.

Needs freqtrade (scripts/ensure-freqtrade installs it once into its own cached venv).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from test.e2e.pipeline.conftest import Stack, make_stack

pytestmark = [pytest.mark.bots, pytest.mark.mysql]
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples" / "freqtrade"
# the gateway's paper market as the bots see it: moving by itself, funding every minute
GATEWAY_ENV = {"OMS_PAPER__PRICE_SOURCE": "random_walk", "OMS_PAPER__TICK_SECONDS": "1",
               "OMS_PAPER__WALK_STEP_BPS": "5", "OMS_PAPER__FUNDING_INTERVAL_SECONDS": "60"}
TRADES_WANTED = 2  # closed trades per bot
DEADLINE_SECONDS = 900  # generous: a loaded machine slows every loop of both bots


@dataclass
class Bot:
    name: str
    config: str
    strategy_id: int
    key: str
    home: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def db(self) -> Path:
        return self.home / f"{self.name}.sqlite"

    @property
    def log(self) -> Path:
        return self.home / f"{self.name}.log"

    def closed_trades(self) -> list[dict[str, Any]]:
        return [t for t in self.trades() if not t["is_open"]]

    def trades(self) -> list[dict[str, Any]]:
        if not self.db.exists():
            return []
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as conn:
            conn.row_factory = sqlite3.Row
            try:
                return [dict(r) for r in conn.execute("SELECT * FROM trades ORDER BY id")]
            except sqlite3.OperationalError:  # freqtrade has not created its tables yet
                return []

    def orders(self) -> list[dict[str, Any]]:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute("SELECT * FROM orders ORDER BY id")]


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


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with make_stack(tmp_path_factory.mktemp("bots"), env=GATEWAY_ENV) as s:
        yield s


def admin(stack: Stack, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = stack.client.request(method, path, json=body,
                                    headers={"x-api-key": stack.admin_key})  # fmt: skip
    assert response.status_code in (200, 201), response.text
    answer: dict[str, Any] = response.json()
    return answer


def new_bot(stack: Stack, account_id: int, name: str, config: str, home: Path,
            functions: list[str]) -> Bot:
    """A strategy on the account with an allocation, and a key restricted to it (what a
    portfolio manager sets up for a bot: docs/bots.md)."""
    strategy_id = int(admin(stack, "POST", "/admin/strategies",
                            {"name": name, "account_ids": [account_id]})["strategy_id"])
    made = admin(stack, "POST", "/admin/users-with-api-key", {
        "name": name, "role": "trader", "label": name,
        "permissions": [{"account_id": account_id, "can_read": True, "can_trade": True,
                         "can_close_position": True, "strategy_ids": [strategy_id],
                         "allowed_functions": functions}],
    })  # fmt: skip
    admin(stack, "PUT", f"/oms/strategies/{strategy_id}/allocations/{account_id}",
          {"amount": "1000", "currency": "USDT", "comment": f"{name} capital"})
    return Bot(name, config, strategy_id, str(made["api_key"]["api_key"]), home)


def start(bot: Bot, venv: Path, stack: Stack, account_id: int) -> None:
    config = json.loads((EXAMPLES / bot.config).read_text())
    config["db_url"] = f"sqlite:///{bot.db}"
    config["bot_name"] = bot.name
    path = bot.home / f"{bot.name}.json"
    path.write_text(json.dumps(config))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(bot.home),
           "CCXT_OMS_API_KEY": bot.key, "CCXT_OMS_ACCOUNT_ID": str(account_id),
           "CCXT_OMS_STRATEGY_ID": str(bot.strategy_id), "CCXT_OMS_BASE_URL": stack.base}
    bot.proc = subprocess.Popen(  # noqa: S603 - the test's own freqtrade
        [str(venv / "bin" / "freqtrade"), "trade", "--config", str(path), "--userdir",
         str(bot.home / "user_data"), "--strategy-path", str(EXAMPLES), "--logfile",
         str(bot.log)],
        cwd=bot.home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        start_new_session=True)  # fmt: skip


def stop(bot: Bot) -> None:
    if bot.proc is None or bot.proc.poll() is not None:
        return
    os.killpg(bot.proc.pid, signal.SIGINT)  # freqtrade's own clean stop
    try:
        bot.proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(bot.proc.pid, signal.SIGKILL)
        bot.proc.wait()


def wait_for_trades(bots: list[Bot]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not all(len(b.closed_trades()) >= TRADES_WANTED for b in bots):
        for b in bots:
            assert b.proc is not None
            assert b.proc.poll() is None, f"{b.name} stopped:\n{b.log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, {b.name: b.trades() for b in bots}
        time.sleep(2)


def gateway(stack: Stack, key: str, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        response = httpx.get(stack.base + path, params={**params, "page": page,
                                                        "page_size": 500},
                             headers={"x-api-key": key}, timeout=30)  # fmt: skip
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        if len(items) >= int(body.get("total", len(items))) or not body["items"]:
            return items
        page += 1


@pytest.mark.timeout(DEADLINE_SECONDS + 900)  # the safety net: set-up, the bots' own stops
def test_two_freqtrade_bots_share_one_account(freqtrade_venv: Path, stack: Stack,
                                             tmp_path: Path) -> None:
    account_id = stack.account("hedge")
    spot = new_bot(stack, account_id, "spot-bot", "config-spot.json", tmp_path, [])
    futures = new_bot(stack, account_id, "futures-bot", "config-futures.json", tmp_path,
                      ["set_leverage", "set_margin_mode"])
    bots = [spot, futures]
    try:
        for bot in bots:
            start(bot, freqtrade_venv, stack, account_id)
        wait_for_trades(bots)
    finally:
        for bot in bots:
            stop(bot)

    for bot in bots:
        log = bot.log.read_text()
        errors = [line for line in log.splitlines() if " - ERROR - " in line]
        assert not errors, f"{bot.name}:\n" + "\n".join(errors)
        closed = bot.closed_trades()
        assert len(closed) >= TRADES_WANTED, bot.name
        own_orders = gateway(stack, bot.key, "/oms/orders/history", account_ids=account_id)
        by_id = {str(o["id"]): o for o in own_orders}
        # each bot sees only its own strategy's orders, and every order it placed is there
        assert {o["strategy_id"] for o in own_orders} == {bot.strategy_id}
        placed = [o for o in bot.orders() if o["order_id"]]
        assert {o["order_id"] for o in placed} <= set(by_id)
        deals = gateway(stack, bot.key, "/oms/deals", account_ids=account_id)
        assert {d["strategy_id"] for d in deals} == {bot.strategy_id}
        for trade in closed:
            orders = [by_id[o["order_id"]] for o in placed if o["ft_trade_id"] == trade["id"]]
            assert {o["status"] for o in orders} == {"FILLED"}, orders
            position_ids = {int(o["position_id"]) for o in orders}
            assert len(position_ids) == 1, orders  # entered and exited on one position
            (position,) = [p for p in gateway(stack, bot.key, "/oms/positions/history",
                                              account_ids=account_id)
                           if int(p["id"]) in position_ids]  # fmt: skip
            assert position["state"] == "closed"
            assert position["strategy_id"] == bot.strategy_id
            booked = Decimal(position["realized_pnl"]) - Decimal(position["fee"])
            freqtrade_pnl = Decimal(str(trade["close_profit_abs"]))
            fees = Decimal(position["fee"])
            assert abs(booked - freqtrade_pnl) <= fees, (bot.name, position, trade)

    # the other bot's orders are invisible to each key (the account holds both)
    everything = gateway(stack, stack.admin_key, "/oms/orders/history", account_ids=account_id)
    assert {o["strategy_id"] for o in everything} == {spot.strategy_id, futures.strategy_id}
