"""The driver against the real app: `ccxt-oms api` + `ccxt-oms worker` processes on a fresh
MariaDB database, paper accounts, prices `manual` (moved only through `POST /paper/prices`).
Reuses the e2e pipeline stack (`test/e2e/pipeline/conftest.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ccxt_driver import OmsCcxtExchange, OmsCcxtProExchange
from test.e2e.pipeline.conftest import SYMBOL, Stack, make_stack

pytestmark = pytest.mark.mysql
__all__ = ["SYMBOL", "Stack"]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with make_stack(tmp_path_factory.mktemp("driver")) as s:
        yield s


@pytest.fixture
def account(stack: Stack) -> int:
    """A fresh hedge-mode paper account per test (its own orders, deals and positions)."""
    stack.price("100")
    return stack.account("hedge")


def make_sync(stack: Stack, account_id: int, **config: object) -> OmsCcxtExchange:
    return OmsCcxtExchange({"apiKey": stack.trader_key, "accountId": account_id,
                            "urls": {"api": {"rest": stack.base}}, **config})


@pytest.fixture
def ex(stack: Stack, account: int) -> OmsCcxtExchange:
    exchange = make_sync(stack, account)
    exchange.load_markets()
    return exchange


@pytest.fixture
async def pro(stack: Stack, account: int) -> AsyncIterator[OmsCcxtProExchange]:
    exchange = OmsCcxtProExchange(api_key=stack.trader_key, account_id=account,
                                  base_url=stack.base, timeout_seconds=20)
    exchange.options["pollInterval"] = 0.1
    try:
        await exchange.load_markets()
        yield exchange
    finally:
        await exchange.close()


def root() -> Path:
    return Path(__file__).resolve().parents[2]
