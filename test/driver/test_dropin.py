"""Drop-in: `strategy_plain.py`, written for plain CCXT, runs unchanged against the gateway;
only the constructor differs (sync and asyncio forms)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ccxt_driver import OmsCcxtExchange, OmsCcxtProExchange
from test.driver.conftest import SYMBOL, Stack
from test.driver.strategy_plain import run_async, run_sync

pytestmark = pytest.mark.mysql


def check_summary(out: dict[str, Any]) -> None:
    assert out["free"] > 0
    assert out["was_open"] == [out["bid"]]
    assert out["bought"] == "closed"
    assert out["canceled"] == "canceled"
    assert len(out["closed"]) == 3
    assert out["closed"][-1] == out["ask"]
    assert out["trades"] == 3
    assert out["positions"] == []  # netting: bought 0.4, sold 0.2 + 0.2


def test_sync_strategy_runs_unchanged(stack: Stack) -> None:
    stack.price("100")
    account = stack.account("netting")
    exchange = OmsCcxtExchange({"apiKey": stack.trader_key, "accountId": account,
                                "urls": {"api": {"rest": stack.base}}})
    check_summary(run_sync(exchange, SYMBOL, lambda price: stack.price(str(price))))


async def test_async_strategy_runs_unchanged(stack: Stack) -> None:
    stack.price("100")
    account = await asyncio.to_thread(stack.account, "netting")
    exchange = OmsCcxtProExchange({"apiKey": stack.trader_key, "accountId": account,
                                   "urls": {"api": {"rest": stack.base}}})
    try:
        out = await run_async(exchange, SYMBOL, lambda price: stack.price(str(price)))
    finally:
        await exchange.close()
    check_summary(out)
    assert out["watched"][-1] == "closed"
