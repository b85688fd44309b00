"""Five unmodified freqtrade bots and a CLI watch on one Binance account of the local venue,
whose request-weight limit is set low (docs/operations.md → Request budget): the gateway's
processes share one budget through the store, so the venue never answers 429 or 418, no order
is refused for lack of budget, and every bot trades; the API and the worker are killed (-9)
and started again while the bots run, and the budget, kept in the store, holds across it.

The bots, their strategy (`QuickFlip`) and the venue process are those of
test_freqtrade_wire.py; the account is `ccxtpro.binance` in strategy-netting mode (each bot's
trades one position of its own strategy), followed through the venue's private stream.

Needs freqtrade (scripts/ensure-freqtrade installs it once into its own cached venv).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from test.bots.harness import (
    DEADLINE_SECONDS,
    ROOT,
    Bot,
    check_bot,
    new_bot,
    run_bots,
    wait_until,
)
from test.bots.test_freqtrade_wire import MASTER_KEY, check_venue, served, wire_account
from test.e2e.pipeline.conftest import Stack, make_stack

pytestmark = [pytest.mark.bots, pytest.mark.mysql]
BOTS = 5
#: the venue's request weight per minute and client address: a fifth of Binance's 6000 (its
#: spot limit of a few years ago), which five bots' start-up (each loads the markets and its
#: candles) and market reads, their orders and the gateway's own calls fill only if they wait
WEIGHT_LIMIT = 1200


@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with served("binance", tmp_path_factory.mktemp("budget-venue"),
                "--weight-limit", str(WEIGHT_LIMIT)) as spot:  # fmt: skip
        yield spot


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    limits = {"binance": {"units": WEIGHT_LIMIT, "window_ms": 60_000}}
    env = {"ENCRYPTION_MASTER_KEY": MASTER_KEY, "OMS_BUDGET__LIMITS": json.dumps(limits)}
    with make_stack(tmp_path_factory.mktemp("bots-budget"), env=env) as s:
        yield s


def limits(venue: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{venue['admin']}/limits", timeout=30).json()
    return answer


class Restart:
    """Once every bot has traded: kill -9 the API and the worker, start both again; `window`
    is when the API was away (wall clock, what the bots' logs stamp)."""

    def __init__(self, stack: Stack, bots: list[Bot]) -> None:
        self.stack, self.bots = stack, bots
        self.window: tuple[datetime, datetime] | None = None

    def __call__(self) -> None:
        bots = self.bots
        wait_until(lambda: all(b.trades() for b in bots), bots, lambda: {b.name: b.trades()
                                                                          for b in bots})  # fmt: skip
        assert self.stack.api is not None
        killed = datetime.now().astimezone()  # local time, as freqtrade stamps its log
        self.stack.kill(self.stack.api)
        for worker in list(self.stack.workers):
            self.stack.kill(worker)
        self.stack.start_worker()
        self.stack.start_api()
        self.window = (killed, datetime.now().astimezone())

    def caused(self, line: str) -> bool:
        """An ERROR a bot logs because the gateway was away: freqtrade's candle watch logs
        any failed read as an ERROR (the driver's read met a refused connection), stamped
        within the restart (and a poll interval after it)."""
        if self.window is None or "freqtrade.exchange.exchange_ws" not in line:
            return False
        stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").astimezone()
        return self.window[0] <= stamp <= self.window[1] + timedelta(seconds=30)


def refused_reads(bot: Bot) -> set[str]:
    """The ERROR lines of the bot's candle watch whose exception is the gateway's refusal of a
    read past the key's share (`RateLimitExceeded`: the exchange's own error, as the budget
    answers a throttled key instead of delaying it past its timeout; freqtrade's watch logs
    any failed read as an ERROR and reads again)."""
    lines = bot.log.read_text().splitlines()
    refused: set[str] = set()
    for i, line in enumerate(lines):
        if " - ERROR - " in line and "freqtrade.exchange.exchange_ws" in line:
            cause = next((x for x in lines[i + 1:] if x[:4] == "ccxt" or x[:2] == "20"), "")
            if cause.startswith("ccxt.base.errors.RateLimitExceeded"):
                refused.add(line)
    return refused


@pytest.mark.timeout(DEADLINE_SECONDS + 900)  # the safety net, as the other bot suites': set-up,
# five bots' trades within their own deadline, their stops (SIGINT, up to 120 s each)
def test_five_bots_and_a_watch_share_one_low_weight_limit(
    freqtrade_venv: Path, venue: dict[str, Any], stack: Stack, tmp_path: Path
) -> None:
    account = wire_account(stack, venue, "strategy_netting")
    bots = [new_bot(stack, account, f"bot-{i}", "config-spot.json", tmp_path, [], "200")
            for i in range(BOTS)]  # fmt: skip
    watch_log = tmp_path / "watch.jsonl"
    with watch_log.open("wb") as out:
        watch = subprocess.Popen(
            [sys.executable, "-m", "apps.cli", "watch", "--account-ids", str(account),
             "--api-key", stack.admin_key, "--base-url", stack.base],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)  # fmt: skip
    restart = Restart(stack, bots)
    try:
        run_bots(bots, freqtrade_venv, stack, restart)
    finally:
        os.killpg(watch.pid, signal.SIGINT)
        watch.wait(timeout=60)

    seen = limits(venue)
    assert restart.window is not None  # the API and the worker were restarted mid-run
    assert seen["limit"] == WEIGHT_LIMIT
    assert (seen["refused"], seen["banned"]) == (0, 0), seen
    for bot in bots:
        refused = refused_reads(bot)
        check_bot(stack, bot, lambda line: restart.caused(line) or line in refused)  # noqa: B023
    check_venue(stack, account, venue)
    events = [json.loads(line) for line in watch_log.read_text().splitlines()
              if line.startswith("{")]  # fmt: skip
    assert any(e.get("event") == "deal_created" for e in events), watch_log.read_text()[-2000:]
