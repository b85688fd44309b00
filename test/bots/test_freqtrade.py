"""freqtrade, unmodified, trading through the gateway (docs/bots.md): a spot bot and a futures
bot (USDT perpetual, isolated margin) on ONE paper account, and a futures bot on a hedge and
one on a netting account, each with its own key restricted to its own strategy and an allocation, started as the
recipe says (freqtrade's own environment, the driver's autopatch installed there in aggressive
mode for `binance`, `CCXT_OMS_*` variables).

The gateway is the real thing: API and worker processes on MariaDB, a random-walk paper market
and perpetual funding every minute. Each bot runs the bundled strategy (`QuickFlip`: enter,
exit 20 s later, again) until it has closed trades; then the test reads the bots' own databases
and the gateway's books and asserts that both started cleanly (no ERROR in their logs), each
placed, filled and closed trades, the books hold every trade under the bot's strategy with the
realised PnL freqtrade computed (within fees), and neither bot saw the other's orders.

The spot bot's first entry is refused by the gateway twice before it may trade: InsufficientFunds
(its allocation lowered after freqtrade read its balance, before the order: `GatedQuickFlip`
holds the entry at freqtrade's `confirm_trade_entry` meanwhile), then InvalidOrder (a strategy
risk limit under its stake); freqtrade logs each as a warning and goes on, and trades once the
limit is lifted.

Needs freqtrade (scripts/ensure-freqtrade installs it once into its own cached venv).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
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
GATED = Path(__file__).resolve().parent / "strategies"  # GatedQuickFlip: QuickFlip, gated once
# the gateway's paper market as the bots see it: moving by itself, funding every minute
GATEWAY_ENV = {"OMS_PAPER_PRICE_SOURCE": "random_walk", "OMS_PAPER__TICK_SECONDS": "1",
               "OMS_PAPER__WALK_STEP_BPS": "5", "OMS_PAPER__FUNDING_INTERVAL_SECONDS": "60",
               "OMS_PAPER__DEFAULT_SPREAD_BPS": "2", "OMS_PAPER__LEVEL_NOTIONAL_USDT": "100000"}
TRADES_WANTED = 2  # closed trades per bot
DEADLINE_SECONDS = 900  # generous: a loaded machine slows every loop of both bots


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
    admin(stack, "PUT", f"/oms/risk/{account_id}/allocations",
          {"strategy_id": strategy_id, "amount": "1000", "currency": "USDT",
           "comment": f"{name}'s capital"})
    return Bot(name, config, account_id, strategy_id, str(made["api_key"]["api_key"]), home)


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


def set_allocation(stack: Stack, bot: Bot, amount: str) -> None:
    admin(stack, "PUT", f"/oms/risk/{bot.account_id}/allocations",
          {"strategy_id": bot.strategy_id, "amount": amount, "currency": "USDT",
           "comment": f"{bot.name}'s capital"})  # fmt: skip


def refuse_then_allow(stack: Stack, bot: Bot, bots: list[Bot]) -> None:
    """The gated bot's first order refused for funds, the next ones by a risk limit, then allowed:
    freqtrade must take both refusals as warnings and go on trading."""
    wait_until((bot.userdir / "entry-waiting").exists, bots, f"{bot.name} reached no entry")
    set_allocation(stack, bot, "10")  # freqtrade read 1000 and priced a 100 USDT entry
    (bot.userdir / "entry-go").touch()
    wait_until(lambda: bool(warnings(bot, "insufficient_funds")), bots,
               f"{bot.name}: no InsufficientFunds warning")  # fmt: skip
    # a risk officer's limit on the bot's strategy, under its 100 USDT stake
    risk = admin(stack, "POST", "/admin/users-with-api-key", {
        "name": f"{bot.name}-risk", "role": "risk", "label": f"{bot.name}-risk",
        "permissions": [{"account_id": bot.account_id, "can_read": True,
                         "can_risk_manage": True}],
    })["api_key"]["api_key"]  # fmt: skip

    def limit(**values: str) -> None:
        response = stack.client.put(f"/oms/risk/{bot.account_id}/limits",
                                    headers={"x-api-key": risk},
                                    json={"strategy_id": bot.strategy_id, **values})  # fmt: skip
        assert response.status_code == 200, response.text

    limit(max_order_notional="50", comment="below the bot's stake")
    set_allocation(stack, bot, "1000")
    wait_until(lambda: bool(warnings(bot, "risk_blocked")), bots,
               f"{bot.name}: no InvalidOrder (risk_blocked) warning")  # fmt: skip
    limit(comment="lifted")
    assert not bot.trades(), bot.trades()  # both refusals came before any trade


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
def test_freqtrade_bots_share_accounts(freqtrade_venv: Path, stack: Stack, tmp_path: Path
                                       ) -> None:
    """A spot bot and a futures bot on one strategy-netting account (each strategy its own net
    position per symbol: what one-way bots expect), a futures bot on a hedge account (its
    reduce-only exits close the position it opened) and one on a netting account."""
    shared = stack.account("strategy_netting")
    hedge = stack.account("hedge")
    netting = stack.account("netting")
    futures_grants = ["set_leverage", "set_margin_mode"]
    spot = new_bot(stack, shared, "spot-bot", "config-spot.json", tmp_path, [])
    spot.strategy, spot.strategy_path = "GatedQuickFlip", GATED
    bots = [spot,
            new_bot(stack, shared, "futures-bot", "config-futures.json", tmp_path,
                    futures_grants),
            new_bot(stack, hedge, "hedge-bot", "config-futures.json", tmp_path, futures_grants),
            new_bot(stack, netting, "netting-bot", "config-futures.json", tmp_path,
                    futures_grants)]
    try:
        for bot in bots:
            start(bot, freqtrade_venv, stack)
        refuse_then_allow(stack, spot, bots)
        wait_for_trades(bots)
    finally:
        for bot in bots:
            stop(bot)

    for bot in bots:
        check_bot(stack, bot)
    # each account holds its bots' strategies, and no key saw another strategy's order
    for account_id in (shared, hedge, netting):
        everything = gateway(stack, stack.admin_key, "/oms/orders/history",
                             account_ids=account_id)  # fmt: skip
        assert {o["strategy_id"] for o in everything} == {
            b.strategy_id for b in bots if b.account_id == account_id}


def check_bot(stack: Stack, bot: Bot) -> None:
    """No ERROR in the bot's log; every closed freqtrade trade is one closed position of the
    bot's strategy in the books, with freqtrade's realised PnL (within the fees)."""
    errors = [line for line in bot.log.read_text().splitlines() if " - ERROR - " in line]
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
