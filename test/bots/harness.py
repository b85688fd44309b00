"""What the bot tests share (docs/bots.md): a freqtrade bot as a process of its own (its
strategy, key and allocation on the gateway, its config, its sqlite database and log), started
as the recipe says and stopped with freqtrade's own clean stop; the gateway's reads; and
`check_bot`, what every bot must show once it has traded."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from test.e2e.pipeline.conftest import Stack

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples" / "freqtrade"
GATED = Path(__file__).resolve().parent / "strategies"  # GatedQuickFlip: QuickFlip, gated once
TRADES_WANTED = 2  # closed trades per bot
DEADLINE_SECONDS = 900  # generous: a loaded machine slows every loop of the bots
FUTURES_GRANTS = ["set_leverage", "set_margin_mode"]


@dataclass
class Bot:
    name: str
    config: str
    account_id: int
    strategy_id: int
    key: str
    home: Path
    strategy: str = "QuickFlip"
    strategy_path: Path = EXAMPLES
    proc: subprocess.Popen[bytes] | None = None

    @property
    def db(self) -> Path:
        return self.home / f"{self.name}.sqlite"

    @property
    def userdir(self) -> Path:
        return self.home / f"{self.name}-user_data"

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


def admin(stack: Stack, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = stack.client.request(method, path, json=body,
                                    headers={"x-api-key": stack.admin_key})  # fmt: skip
    assert response.status_code in (200, 201), response.text
    answer: dict[str, Any] = response.json()
    return answer


def new_bot(stack: Stack, account_id: int, name: str, config: str, home: Path,
            functions: list[str], allocation: str | None = "1000") -> Bot:
    """A strategy on the account with an allocation (unless None), and a key restricted to it
    (what a portfolio manager sets up for a bot: docs/bots.md)."""
    strategy_id = int(admin(stack, "POST", "/admin/strategies",
                            {"name": name, "account_ids": [account_id]})["strategy_id"])
    made = admin(stack, "POST", "/admin/users-with-api-key", {
        "name": name, "role": "trader", "label": name,
        "permissions": [{"account_id": account_id, "can_read": True, "can_trade": True,
                         "can_close_position": True, "strategy_ids": [strategy_id],
                         "allowed_functions": functions}],
    })  # fmt: skip
    bot = Bot(name, config, account_id, strategy_id, str(made["api_key"]["api_key"]), home)
    if allocation is not None:
        set_allocation(stack, bot, allocation)
    return bot


def set_allocation(stack: Stack, bot: Bot, amount: str) -> None:
    admin(stack, "PUT", f"/oms/risk/{bot.account_id}/allocations",
          {"strategy_id": bot.strategy_id, "amount": amount, "currency": "USDT",
           "comment": f"{bot.name}'s capital"})  # fmt: skip


def start(bot: Bot, venv: Path, stack: Stack) -> None:
    config = json.loads((EXAMPLES / bot.config).read_text())
    config["db_url"] = f"sqlite:///{bot.db}"
    config["bot_name"] = bot.name
    config["strategy"] = bot.strategy
    path = bot.home / f"{bot.name}.json"
    path.write_text(json.dumps(config))
    freqtrade = str(venv / "bin" / "freqtrade")
    subprocess.run([freqtrade, "create-userdir", "--userdir", str(bot.userdir)], check=True,
                   cwd=bot.home, capture_output=True, timeout=300)  # fmt: skip
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(bot.home),
           "CCXT_OMS_API_KEY": bot.key, "CCXT_OMS_ACCOUNT_ID": str(bot.account_id),
           "CCXT_OMS_STRATEGY_ID": str(bot.strategy_id), "CCXT_OMS_BASE_URL": stack.base}
    bot.proc = subprocess.Popen(
        [freqtrade, "trade", "--config", str(path), "--userdir", str(bot.userdir),
         "--strategy-path", str(bot.strategy_path), "--logfile",
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


def wait_until(check: Callable[[], bool], bots: list[Bot], what: Any) -> None:
    """Polls `check` while every bot runs, up to a generous deadline (not a speed bound)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not check():
        for b in bots:
            assert b.proc is not None
            assert b.proc.poll() is None, f"{b.name} stopped:\n{b.log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, what() if callable(what) else what
        time.sleep(2)


def wait_for_trades(bots: list[Bot]) -> None:
    wait_until(lambda: all(len(b.closed_trades()) >= TRADES_WANTED for b in bots), bots,
               lambda: {b.name: b.trades() for b in bots})  # fmt: skip


def warnings(bot: Bot, code: str) -> list[str]:
    """The bot's WARNING lines that carry the gateway's error code."""
    if not bot.log.exists():
        return []
    return [line for line in bot.log.read_text().splitlines()
            if " - WARNING - " in line and code in line]  # fmt: skip


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


def run_bots(bots: list[Bot], venv: Path, stack: Stack,
             meanwhile: Callable[[], None] = lambda: None) -> None:
    """Start every bot, run `meanwhile`, wait until each has closed its trades, stop them all
    (also when something failed)."""
    try:
        for bot in bots:
            start(bot, venv, stack)
        meanwhile()
        wait_for_trades(bots)
    finally:
        for bot in bots:
            stop(bot)


def check_bot(stack: Stack, bot: Bot, tolerated: Callable[[str], bool] = lambda _: False) -> None:
    """No ERROR in the bot's log (but the `tolerated` lines: a test that stops the gateway
    says which errors its stop causes); every closed freqtrade trade is one closed position of
    the bot's strategy in the books, with freqtrade's realised PnL (within the fees)."""
    errors = [line for line in bot.log.read_text().splitlines()
              if " - ERROR - " in line and not tolerated(line)]  # fmt: skip
    assert not errors, f"{bot.name}:\n" + "\n".join(errors)
    closed = bot.closed_trades()
    assert len(closed) >= TRADES_WANTED, bot.name
    own_orders = {str(o["id"]): o for o in gateway(stack, bot.key, "/oms/orders/history",
                                                   account_ids=bot.account_id)}  # fmt: skip
    # the bot's key sees its own strategy's orders only, and every order the bot placed
    assert {o["strategy_id"] for o in own_orders.values()} == {bot.strategy_id}
    placed = [o for o in bot.orders() if o["order_id"]]
    assert {o["order_id"] for o in placed} <= set(own_orders)
    deals = gateway(stack, bot.key, "/oms/deals", account_ids=bot.account_id)
    assert {d["strategy_id"] for d in deals} == {bot.strategy_id}
    positions = {int(p["id"]): p for p in gateway(stack, bot.key, "/oms/positions/history",
                                                  account_ids=bot.account_id)}  # fmt: skip
    for trade in closed:
        order_ids = {o["order_id"] for o in placed if o["ft_trade_id"] == trade["id"]}
        assert {own_orders[i]["status"] for i in order_ids} == {"FILLED"}, order_ids
        position_ids = {int(d["position_id"]) for d in deals if str(d["order_id"]) in order_ids}
        assert len(position_ids) == 1, (bot.name, trade, position_ids)  # in and out of one
        position = positions[position_ids.pop()]
        assert position["state"] == "closed", position
        assert position["strategy_id"] == bot.strategy_id
        fees = Decimal(position["fee"])
        booked = Decimal(position["realized_pnl"]) - fees
        freqtrade_pnl = Decimal(str(trade["close_profit_abs"]))
        assert abs(booked - freqtrade_pnl) <= fees, (bot.name, position, trade)
