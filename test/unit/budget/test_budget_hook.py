"""The request budget around CCXT instances (`apps/oms/exchange/ccxt/budget.py`), with a fake
store: the units of a call are CCXT's own cost in the exchange's units, its purpose the HTTP
method; order entry goes before reads; a wait past the deadline is refused with Retry-After;
the exchange's headers correct the budget."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt_async
import pytest

from apps.oms.config import BudgetSettings, Settings, load_settings
from apps.oms.domain.request_budget import ORDER, READ, Limit
from apps.oms.exchange.ccxt.budget import Budget, BudgetExceeded, Budgets, reads_of
from apps.oms.exchange.ccxt.error_mapping import to_oms_error
from apps.oms.exchange.ccxt.instances import ExchangeRegistry, build_ccxt_exchange
from apps.oms.store.store import Store
from apps.worker.venues import VenueCache

NOW = 1_800_000_030_000  # 30 s into a minute


class Ledger:
    """The store's part: grants what is asked (or `grant`), records the asks; `gate` holds
    a reservation until set."""

    def __init__(self, grant: Decimal | None = None) -> None:
        self.grant = grant
        self.asks: list[tuple[str, str, Decimal]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, key: str, limit: Limit, purpose: str, wanted: Decimal,
                       observed: Decimal, at_ms: int) -> Decimal:  # fmt: skip
        self.asks.append((key, purpose, wanted))
        await self.gate.wait()
        return wanted if self.grant is None else self.grant


async def test_an_instance_spends_ccxts_own_costs_in_binance_weight() -> None:
    ledger = Ledger()
    exchange = ccxt_async.binance({"enableRateLimit": True, "apiKey": "k", "secret": "s"})
    sent: list[tuple[str, str]] = []

    async def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        sent.append((method, url.split("?")[0].rsplit("/", 1)[-1]))
        return {"serverTime": 1} if url.endswith("time") else {"orderId": 1}

    exchange.fetch = fetch
    try:
        budget = Budgets(ledger, BudgetSettings()).attach(exchange, 7)
        assert budget.key == "binance|api.binance.com|ip:default"
        assert budget.limit.units == 6000
        await exchange.fetch_time()  # GET time: a cost of 0.2, a weight of 1
        await exchange.private_post_order({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                           "quantity": "1"})  # fmt: skip
        assert sent == [("GET", "time"), ("POST", "order")]
        # one slice (5% of 6000) reserved by the read; order entry may spend the reads' slices
        assert [(p, w) for _, p, w in ledger.asks] == [(READ, Decimal(300))]
        assert budget.purse.spent == 2
        exchange.on_rest_response(200, "OK", "u", "GET", {"X-MBX-USED-WEIGHT-1M": "5990"}, "",
                                  {}, None)  # fmt: skip
        assert budget.purse.observed == 5990
        assert budget.purse.balance[ORDER] + budget.purse.balance[READ] <= 10
    finally:
        await exchange.close()


def test_other_exchanges_count_ccxts_own_rate_per_account() -> None:
    budgets = Budgets(Ledger(), BudgetSettings(limits={"okx": {"units": 5, "window_ms": 2_000}}))
    bybit = budgets.budget_of(ccxt_async.bybit(), 3)
    okx = budgets.budget_of(ccxt_async.okx(), 3)
    assert bybit.key == "bybit|api.bybit.com|account:3"
    assert (bybit.limit.units, bybit.limit.window_ms) == (Decimal(50), 1_000)  # 1000 / 20 ms
    assert (okx.limit.units, okx.limit.window_ms) == (Decimal(5), 2_000)  # the settings' own
    assert budgets.budget_of(ccxt_async.bybit(), 3) is bybit


async def test_a_read_waits_while_an_order_waits() -> None:
    ledger = Ledger()
    budget = Budget("b", Limit(Decimal(100), 60_000), ledger, clock_ms=lambda: NOW)
    budget.purse.credit(READ, Decimal(10), Decimal(10), NOW)  # room for the read, not the order
    ledger.gate.clear()
    done: list[str] = []

    async def spend(purpose: str) -> None:
        await budget.spend(Decimal(20 if purpose == ORDER else 1), purpose, "1", 10)
        done.append(purpose)

    order = asyncio.create_task(spend(ORDER))
    await asyncio.sleep(0)
    read = asyncio.create_task(spend(READ))
    for _ in range(5):
        await asyncio.sleep(0)
    assert done == []  # the order reserves; the read waits for it
    ledger.gate.set()
    await asyncio.gather(order, read)
    assert done == [ORDER, READ]


async def test_a_wait_past_the_deadline_is_refused_with_retry_after() -> None:
    budget = Budget("b", Limit(Decimal(100), 60_000), Ledger(grant=Decimal(0)),
                    clock_ms=lambda: NOW)  # fmt: skip
    with pytest.raises(BudgetExceeded) as refused:
        await budget.spend(Decimal(1), ORDER, "1", timeout_s=5)
    assert refused.value.retry_after_seconds == 30  # the window's end
    error = to_oms_error(refused.value)
    assert (error.status, error.code) == (429, "rate_limited")
    assert error.details == {"ccxt_error": "RateLimitExceeded", "retry_after_seconds": 30}


async def test_a_keys_read_past_its_share_is_refused_at_once() -> None:
    budget = Budget("b", Limit(Decimal(100), 60_000), Ledger(), clock_ms=lambda: NOW)
    with reads_of(1, 30):
        await budget.spend(Decimal(80), READ, "1", 30)
        with pytest.raises(BudgetExceeded) as refused:
            await budget.spend(Decimal(1), READ, "1", 30)
    assert refused.value.retry_after_seconds == 30


def test_the_exchanges_refusals_and_bybits_status_block_the_budget() -> None:
    budget = Budget("b", Limit(Decimal(100), 60_000), Ledger(), clock_ms=lambda: NOW)
    budget.observe(429, {"Retry-After": "7"})
    assert budget.purse.blocked_until_ms == NOW + 7_000
    budget.observe(200, {"X-Bapi-Limit-Status": "0",
                         "X-Bapi-Limit-Reset-Timestamp": str(NOW + 9_000)})  # fmt: skip
    assert budget.purse.blocked_until_ms == NOW + 9_000
    budget.observe(200, {"X-Bapi-Limit-Status": "3", "X-MBX-USED-WEIGHT-1M": "x"})
    assert budget.purse.blocked_until_ms == NOW + 9_000


async def test_the_api_and_the_worker_build_their_instances_with_budgets(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}")
    try:
        registry = ExchangeRegistry(store, Settings())
        assert registry.budgets is not None
        assert VenueCache(Settings(), store).budgets is not None
        off = load_settings(budget={"enabled": False})
        assert ExchangeRegistry(store, off).budgets is None
        exchange = build_ccxt_exchange({"id": 4, "exchange_id": "ccxt.okx"}, Settings(),
                                       registry.budgets)  # fmt: skip
        try:
            assert exchange.throttle.__qualname__.startswith("Budgets.attach")
        finally:
            await exchange.close()
    finally:
        await store.close()


async def test_while_the_store_fails_a_process_spends_alone_within_the_exchanges_count() -> None:
    async def failing(*args: Any) -> Decimal:
        raise ConnectionError("store down")

    budget = Budget("b", Limit(Decimal(100), 60_000), failing, clock_ms=lambda: NOW)
    budget.observe(200, {"X-MBX-USED-WEIGHT-1M": "95"})
    await budget.spend(Decimal(5), ORDER, "1", 1)  # 5 left of the window: granted alone
    with pytest.raises(BudgetExceeded):
        await budget.spend(Decimal(1), ORDER, "1", 1)  # none left until the window ends


def test_a_count_from_the_last_window_is_not_this_ones() -> None:
    budget = Budget("b", Limit(Decimal(100), 60_000), Ledger(), clock_ms=lambda: NOW)
    budget.observe(200, {"X-MBX-USED-WEIGHT-1M": "99"}, sent_ms=NOW - 30_001)
    assert budget.purse.observed == 0
    budget.observe(200, {"X-MBX-USED-WEIGHT-1M": "9"}, sent_ms=NOW - 1)
    assert budget.purse.observed == 9
