"""Worker-side pipeline tests over real stores (SQLite and MariaDB): commands are accepted by the
real acceptance service, then executed by the real worker code against the paper venue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from apps.oms.clock import utcnow
from apps.oms.config import Settings, WorkerSettings
from apps.oms.domain.access import AccountFlags, Role
from apps.oms.errors import OmsError
from apps.oms.security.principal import Principal
from apps.oms.service.execution import step
from apps.oms.service.execution.housekeeping import housekeeping_round
from apps.oms.service.execution.runtime import AccountRuntime
from apps.oms.service.submit import submit
from apps.oms.store import leases, sequencer
from apps.oms.store.accounts import insert_account
from apps.oms.store.migrate import upgrade
from apps.oms.store.store import Store
from apps.oms.store.tables import commands, orders
from apps.paper.domain.matching import Venue
from apps.paper.exchange.market_data import set_paper_price
from apps.paper.store.venue_store import PaperStore
from apps.worker.venues import VenueCache, load_account

from ...conftest import create_mysql_database, drop_mysql_database

FLAGS = AccountFlags(can_trade=True, can_close_position=True, can_risk_manage=True)


def trader(account_id: int) -> Principal:
    return Principal(1, "trader", Role.TRADER, 1, "api_key", None, "test", {account_id: FLAGS})


def worker_settings(**kw: Any) -> WorkerSettings:
    # a generous venue timeout: a paper call slowed by machine load must not turn into an
    # unknown outcome (fault injection raises its timeouts itself, without waiting); a lookup
    # window whose send deadline (half of it) a loaded machine does not pass between a
    # write-ahead and its venue call: a CI host stalled the event loop for 5.5 s, past the
    # 5-s deadline a 10-s window gives (tests of lookups that end in not-found set their own,
    # after the setup that places orders)
    base: dict[str, Any] = {"venue_timeout_seconds": 30, "unknown_outcome_window_seconds": 600,
                            "poll_min_ms": 1, "poll_max_ms": 20, "lease_seconds": 30,
                            "heartbeat_seconds": 0.2, "concurrency": 4}
    return WorkerSettings(**{**base, **kw})


async def with_sequencer_state(store: Store) -> None:
    """The `outbox` sequencer row, as a running worker makes sure of at its start: record
    transactions number their own events with it (`runtime.number_events`)."""
    async with store.transaction() as conn:
        await sequencer.ensure_state(conn, utcnow())


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = Store.from_url(store_url, pool_size=8)
    await with_sequencer_state(s)
    yield s
    await s.close()


class Harness:
    """Accept commands as the API would, and drive one account's worker steps by hand."""

    def __init__(self, store: Store, settings: WorkerSettings | None = None) -> None:
        self.store = store
        self.settings = settings or worker_settings()
        self.venues = VenueCache(Settings(), store)
        self.runtimes: dict[int, AccountRuntime] = {}
        # the lease a runtime takes; nothing renews it (no lease keeper drives the steps), so a
        # test that drives one account for long takes a longer one
        self.lease_seconds = 30

    async def account(
        self, mode: str = "netting", faults: dict[str, Any] | None = None,
        book: dict[str, Any] | None = None,
    ) -> int:
        paper = {**({"faults": faults} if faults else {}), **({"book": book} if book else {})}
        config = {"paper": paper} if paper else {}
        async with self.store.transaction() as conn:
            return await insert_account(conn, exchange_id="paper", label="t", position_mode=mode,
                                        is_testnet=False, is_live=False, config=config)

    async def send(self, account_id: int, command: str, **payload: Any) -> dict[str, Any]:
        request_id = payload.pop("request_id", None)
        body = {"account_id": account_id, "command": command, "payload": payload,
                **({"request_id": request_id} if request_id else {})}
        try:
            _, result = await submit(self.store, Settings(), trader(account_id), body,
                                     wait=False)
        except OmsError as exc:
            return {"ok": False, "code": exc.code}
        item: dict[str, Any] = result["results"][0]
        return item

    async def runtime(self, account_id: int, owner: str = "test-worker") -> AccountRuntime:
        rt = self.runtimes.get(account_id)
        if rt is not None:
            return rt
        async with self.store.transaction() as conn:
            await conn.execute(
                leases.account_leases.update()
                .where(leases.account_leases.c.account_id == account_id)
                .values(owner=None, expires_at=None))
            taken, _left = await leases.acquire(conn, owner=owner, now=utcnow(),
                                                lease_seconds=self.lease_seconds, limit=1000,
                                                dialect=self.store.dialect)
        lease = next(t for t in taken if t.account_id == account_id)
        account = await load_account(self.store, account_id)
        venue = self.venues.get(account)
        assert venue is not None
        rt = AccountRuntime(self.store, self.settings, owner, lease, account, venue)
        self.runtimes[account_id] = rt
        return rt

    async def drain(self, account_id: int, *, housekeeping: bool = True) -> int:
        """Run the account's queued commands (and the worker's housekeeping rounds) until idle."""
        rt = await self.runtime(account_id)
        ran = 0
        while True:
            if not await step.run_next(rt, asyncio.Event()):
                if housekeeping and await housekeeping_round(rt):
                    continue
                return ran
            ran += 1

    async def price(self, symbol: str, price: str) -> None:
        await set_paper_price(PaperStore(self.store.engine), Venue(), symbol, Decimal(price))

    async def resting_buy(self, symbol: str = "BTC/USDT:USDT") -> tuple[int, dict[str, Any]]:
        """A hedge account whose limit buy (0.001 at 40,000, the price at 50,000) rests on the
        venue: (account id, the send's acceptance)."""
        acct = await self.account("hedge")
        await self.price(symbol, "50000")
        resting = await self.send(acct, "send_order", symbol=symbol, side="buy",
                                  order_type="limit", qty="0.001", price="40000")
        await self.drain(acct, housekeeping=False)  # on the venue, resting
        return acct, resting

    async def command(self, command_id: int) -> dict[str, Any]:
        async with self.store.read() as conn:
            row = (await conn.execute(select(commands).where(commands.c.id == command_id))
                   ).mappings().one()
        return dict(row)

    async def order(self, order_id: int) -> dict[str, Any]:
        async with self.store.read() as conn:
            row = (await conn.execute(select(orders).where(orders.c.id == order_id))
                   ).mappings().one()
        return dict(row)


@pytest.fixture
def harness(store: Store) -> Callable[..., Harness]:
    def make(**kw: Any) -> Harness:
        return Harness(store, worker_settings(**kw) if kw else None)

    return make


Wait = Callable[[Callable[[], Awaitable[bool]], float], Awaitable[None]]


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@pytest.fixture(params=["sqlite", "mysql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of its own: a real worker leases every account that has work."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"
        upgrade(url)
        yield url
        return
    name, url = create_mysql_database()
    try:
        upgrade(url)
        yield url
    finally:
        drop_mysql_database(name)


@pytest.fixture
async def fresh_store(fresh_url: str) -> AsyncIterator[Store]:
    store = Store.from_url(fresh_url, pool_size=8)
    await with_sequencer_state(store)
    yield store
    await store.close()
