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

from collections.abc import Iterator
from pathlib import Path

import pytest

from test.bots.harness import (
    DEADLINE_SECONDS,
    FUTURES_GRANTS,
    GATED,
    Bot,
    admin,
    check_bot,
    gateway,
    new_bot,
    run_bots,
    set_allocation,
    wait_until,
    warnings,
)
from test.e2e.pipeline.conftest import Stack, make_stack

pytestmark = [pytest.mark.bots, pytest.mark.mysql]
# the gateway's paper market as the bots see it: moving by itself, funding every minute
GATEWAY_ENV = {"OMS_PAPER_PRICE_SOURCE": "random_walk", "OMS_PAPER__TICK_SECONDS": "1",
               "OMS_PAPER__WALK_STEP_BPS": "5", "OMS_PAPER__FUNDING_INTERVAL_SECONDS": "60",
               "OMS_PAPER__DEFAULT_SPREAD_BPS": "2", "OMS_PAPER__LEVEL_NOTIONAL_USDT": "100000"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with make_stack(tmp_path_factory.mktemp("bots"), env=GATEWAY_ENV) as s:
        yield s


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


@pytest.mark.timeout(DEADLINE_SECONDS + 900)  # the safety net: set-up, the bots' own stops
def test_freqtrade_bots_share_accounts(freqtrade_venv: Path, stack: Stack, tmp_path: Path
                                       ) -> None:
    """A spot bot and a futures bot on one strategy-netting account (each strategy its own net
    position per symbol: what one-way bots expect), a futures bot on a hedge account (its
    reduce-only exits close the position it opened) and one on a netting account."""
    shared = stack.account("strategy_netting")
    hedge = stack.account("hedge")
    netting = stack.account("netting")
    spot = new_bot(stack, shared, "spot-bot", "config-spot.json", tmp_path, [])
    spot.strategy, spot.strategy_path = "GatedQuickFlip", GATED
    bots = [spot,
            new_bot(stack, shared, "futures-bot", "config-futures.json", tmp_path,
                    FUTURES_GRANTS),
            new_bot(stack, hedge, "hedge-bot", "config-futures.json", tmp_path, FUTURES_GRANTS),
            new_bot(stack, netting, "netting-bot", "config-futures.json", tmp_path,
                    FUTURES_GRANTS)]
    run_bots(bots, freqtrade_venv, stack, lambda: refuse_then_allow(stack, spot, bots))

    for bot in bots:
        check_bot(stack, bot)
    # each account holds its bots' strategies, and no key saw another strategy's order
    for account_id in (shared, hedge, netting):
        everything = gateway(stack, stack.admin_key, "/oms/orders/history",
                             account_ids=account_id)  # fmt: skip
        assert {o["strategy_id"] for o in everything} == {
            b.strategy_id for b in bots if b.account_id == account_id}
