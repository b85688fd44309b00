"""The bot suite run a second way (docs/bots.md → At the wire): freqtrade, unmodified, trading
through the gateway as in test_freqtrade.py (the driver's autopatch, `CCXT_OMS_*` variables,
`QuickFlip`), with the gateway's accounts CCXT accounts routed to local Binance venues over the
wire instead of paper accounts.

Two venues run as processes of their own (`python -m apps.cli venue serve --dialect binance`
and `--dialect binanceusdm`, prices taking a random-walk step every second). The gateway
(API and worker processes on MariaDB) holds a `ccxtpro.binance` account on the first (a spot
bot, netting) and a `ccxtpro.binanceusdm` account on the second (two futures bots on one
symbol, strategy-netting: one net position at the venue, one per strategy in the books); each
account is `config.ccxt` (the venue's URLs) and the venue's key and secret, as
`ccxt-oms add-account --ccxt-config` makes it (docs/testnet.md → A gateway account on the local
venue). A CCXT account picks its market type by its class: `binance` spot, `binanceusdm` USDⓈ-M
futures, so spot and futures are two accounts.

Asserted: what `check_bot` asserts for every bot (no ERROR in its log, trades closed, the books
hold each trade as one closed position of its strategy with freqtrade's PnL within fees), and
the venue's side, read with CCXT over the wire: its fills for the account (`fetch_my_trades`)
are the gateway's deals one for one (trade id, side, amount, price, fee), and no client order id
appears twice among its orders (`fetch_orders`), each being a gateway order's.

Needs freqtrade (scripts/ensure-freqtrade installs it once into its own cached venv).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest

from apps.oms.exchange.ccxt.instances import merged
from apps.oms.security.credentials import CredentialCipher, generate_master_key
from apps.oms.service import admin as oms_admin
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.store import Store
from test.bots.harness import (
    DEADLINE_SECONDS,
    FUTURES_GRANTS,
    ROOT,
    Bot,
    check_bot,
    gateway,
    new_bot,
    run_bots,
)
from test.e2e.pipeline.conftest import Stack, make_stack

pytestmark = [pytest.mark.bots, pytest.mark.mysql]
MASTER_KEY = generate_master_key()  # the gateway's credentials at rest, for this run
WALK_SECONDS = "1"  # the venues' prices take a random-walk step every second
OPTIONS = {"binance": {"fetchMarkets": {"types": ["spot"]}},
           "binanceusdm": {"fetchCurrencies": False}}  # fmt: skip
SYMBOLS = {"binance": ["BTC/USDT"], "binanceusdm": ["BTC/USDT:USDT"]}


@contextlib.contextmanager
def served(dialect: str, tmp: Path, *extra: str) -> Iterator[dict[str, Any]]:
    """`ccxt-oms venue serve` as a process: yields the line it announced (URLs, key, secret).
    `extra`: more of `venue serve`'s options."""
    out, err = tmp / f"venue-{dialect}.out", tmp / f"venue-{dialect}.log"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "apps.cli", "venue", "serve", "--dialect", dialect,
             "--port", "0", "--store", f"sqlite+aiosqlite:///{tmp / f'venue-{dialect}.sqlite3'}",
             "--walk-seconds", WALK_SECONDS, *extra],
            cwd=ROOT, stdout=stdout, stderr=stderr,
            env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not out.read_text().endswith("\n"):
            assert proc.poll() is None, err.read_text()
            assert time.monotonic() < deadline, f"{dialect} venue did not start"
            time.sleep(0.1)
        yield dict(json.loads(out.read_text().splitlines()[0]))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def venues(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("venues")
    with served("binance", tmp) as spot, served("binanceusdm", tmp) as futures:
        yield {"binance": spot, "binanceusdm": futures}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with make_stack(tmp_path_factory.mktemp("bots-wire"),
                    env={"ENCRYPTION_MASTER_KEY": MASTER_KEY}) as s:  # fmt: skip
        yield s


def wire_account(stack: Stack, venue: dict[str, Any], mode: str) -> int:
    """A gateway account of `ccxtpro.<dialect>` on the served venue, its key and secret stored
    encrypted: what `add-account --ccxt-config` and `upsert-account-credentials` make."""
    dialect = str(venue["dialect"])

    async def run() -> int:
        store = Store.from_url(stack.url)
        try:
            async with store.transaction() as conn:
                account_id = await oms_admin.add_account(
                    conn, CLI_ACTOR, user_id=None, exchange_id=f"ccxtpro.{dialect}",
                    label=f"local-{dialect}", position_mode=mode, testnet=True, live=False,
                    ccxt_config={"urls": venue["ccxt_urls"], "options": OPTIONS[dialect]})  # fmt: skip
                await oms_admin.upsert_credentials(
                    conn, CLI_ACTOR, CredentialCipher(MASTER_KEY), account_id=account_id,
                    values={"api_key": venue["api_key"], "secret": venue["secret"],
                            "passphrase": None},
                    encrypt_input=True, require_encrypted=True)  # fmt: skip
            return account_id
        finally:
            await store.close()

    return asyncio.run(run())


def venue_client(venue: dict[str, Any]) -> Any:
    """Plain CCXT on the venue's own wire, with the account's key (the test's own view)."""
    dialect = str(venue["dialect"])
    options = {**OPTIONS[dialect], "fetchCurrencies": False, "fetchMargins": False}
    exchange = getattr(ccxt, dialect)({"apiKey": venue["api_key"], "secret": venue["secret"],
                                       "options": options})  # fmt: skip
    exchange.urls["api"] = merged(exchange.urls["api"], venue["ccxt_urls"])
    return exchange


def D(value: Any) -> Decimal:
    return Decimal(str(value)).normalize()


def check_venue(stack: Stack, account_id: int, venue: dict[str, Any]) -> None:
    """The venue's fills for the account are the gateway's deals one for one, and no client
    order id appears twice among the venue's orders (each is a gateway order's)."""
    exchange = venue_client(venue)
    fills: list[dict[str, Any]] = []
    orders: list[dict[str, Any]] = []
    for symbol in SYMBOLS[str(venue["dialect"])]:
        fills += exchange.fetch_my_trades(symbol, limit=1000)
        orders += exchange.fetch_orders(symbol, limit=1000)
    assert fills, venue["dialect"]
    at_venue = {str(t["id"]): (t["order"], t["side"], D(t["amount"]), D(t["price"]),
                               D(t["fee"]["cost"])) for t in fills}  # fmt: skip
    assert len(at_venue) == len(fills)
    ours = gateway(stack, stack.admin_key, "/oms/orders/history", account_ids=account_id)
    exchange_id = {int(o["id"]): o["exchange_order_id"] for o in ours}
    deals = [d for d in gateway(stack, stack.admin_key, "/oms/deals", account_ids=account_id)
             if d["order_id"] is not None]  # fmt: skip
    in_books = {str(d["exchange_trade_id"]): (exchange_id[int(d["order_id"])], d["side"].lower(),
                                               D(d["qty"]), D(d["price"]), D(d["fee"]))
                for d in deals}  # fmt: skip
    assert len(in_books) == len(deals), deals  # no fill booked twice
    assert in_books == at_venue
    client_ids = Counter(str(o["clientOrderId"]) for o in orders)
    assert [c for c, n in client_ids.items() if n > 1] == [], client_ids
    sent = {str(o["client_order_id"]): o["exchange_order_id"] for o in ours
            if o["exchange_order_id"] is not None}  # fmt: skip
    assert {str(o["clientOrderId"]): o["id"] for o in orders} == sent


@pytest.mark.timeout(DEADLINE_SECONDS + 900)  # the safety net: set-up, the bots' own stops
def test_freqtrade_bots_at_the_wire(freqtrade_venv: Path, venues: dict[str, dict[str, Any]],
                                    stack: Stack, tmp_path: Path) -> None:  # fmt: skip
    """A spot bot on a `ccxtpro.binance` netting account and two futures bots on one symbol of
    a `ccxtpro.binanceusdm` strategy-netting account, all on local venues over the wire."""
    spot_account = wire_account(stack, venues["binance"], "netting")
    futures_account = wire_account(stack, venues["binanceusdm"], "strategy_netting")
    bots: list[Bot] = [
        new_bot(stack, spot_account, "spot-bot", "config-spot.json", tmp_path, []),
        new_bot(stack, futures_account, "futures-a", "config-futures.json", tmp_path,
                FUTURES_GRANTS),
        new_bot(stack, futures_account, "futures-b", "config-futures.json", tmp_path,
                FUTURES_GRANTS),
    ]  # fmt: skip
    run_bots(bots, freqtrade_venv, stack)

    for bot in bots:
        check_bot(stack, bot)
    check_venue(stack, spot_account, venues["binance"])
    check_venue(stack, futures_account, venues["binanceusdm"])
