"""The paper price scheduler: one worker at a time drives the source (by lease); the others
stand by and take over when it stops, a replay continuing where it was; a live source that
cannot be reached says so and leaves prices where they were. Rounds are driven by hand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.exc import OperationalError

from apps.oms.config import Settings, load_settings
from apps.oms.domain.enums import PositionState, Side
from apps.oms.domain.positions import Position
from apps.oms.store import books, fleet
from apps.oms.store.accounts import insert_account
from apps.oms.store.migrate import upgrade
from apps.oms.store.store import Store
from apps.oms.store.tables import commands
from apps.paper.exchange.feeds import SAMPLE_REPLAY, LiveFeed, build_feed
from apps.paper.store import feed as paper_feed
from apps.paper.store.tables import paper_price_feed
from apps.paper.store.venue_store import PaperStore
from apps.worker import price_feed
from apps.worker.price_feed import PriceScheduler
from test.conftest import create_mysql_database, drop_mysql_database


@pytest.fixture(scope="module", params=["sqlite", "mysql"])
def feed_url(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # fmt: skip
    """A database of its own: the scheduler row is one per market."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('feed') / 'oms.sqlite3'}"
        upgrade(url)
        yield url
        return
    name, url = create_mysql_database("oms_feed")
    upgrade(url)
    yield url
    drop_mysql_database(name)


@pytest.fixture
async def store(feed_url: str) -> AsyncIterator[Store]:
    store = Store.from_url(feed_url, pool_size=4)
    async with store.transaction() as conn:
        await paper_feed.ensure(conn)
        await paper_feed.choose(conn, source=None, speed=None, at_end=None,
                                now=datetime.now(UTC))  # fmt: skip
        await conn.execute(update(paper_price_feed).values(owner=None, expires_at=None))
    yield store
    await store.close()


def settings(source: str) -> Settings:
    # heartbeats are not beaten here: a generous liveness window keeps a loaded machine's
    # registered owners alive for the whole test
    return load_settings(paper={"price_source": source, "replay_speed": "1000000",
                                "replay_at_end": "stop", "default_spread_bps": "2"},
                         worker={"heartbeat_seconds": 30})  # fmt: skip


async def register(store: Store, *owners: str) -> None:
    async with store.transaction() as conn:
        for owner in owners:
            await fleet.register_worker(conn, worker_id=owner, hostname="h", pid=1,
                                        now=datetime.now(UTC))  # fmt: skip


async def status(store: Store) -> paper_feed.FeedRow:
    async with store.read() as conn:
        row = await paper_feed.read(conn)
    assert row is not None
    return row


async def rounds(scheduler: PriceScheduler, n: int) -> None:
    for _ in range(n):
        scheduler.next_at = 0.0  # due now: the test drives the clock
        scheduler.looked_at = 0.0
        await scheduler.round()


async def test_a_round_on_the_existing_row_inserts_nothing(store: Store) -> None:
    """The scheduler takes or renews its lease about once a second: on the existing row that
    is a read and a lock, never an `INSERT IGNORE` (on MySQL a duplicate-key warning, which
    asyncmy fetches with a second round trip and logs, a line per second per worker)."""
    sent: list[str] = []

    def capture(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    await register(store, "w1")
    engine = store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        for _ in range(2):
            async with store.transaction() as conn:
                epoch = await paper_feed.take(conn, owner="w1", now=datetime.now(UTC),
                                              seconds=5, dead_after=30, dialect=store.dialect)  # fmt: skip
            assert epoch is not None
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert sent, "the rounds ran no statement"
    assert not [s for s in sent if s.lstrip().upper().startswith("INSERT")]


async def test_one_scheduler_drives_and_a_peer_takes_over(store: Store) -> None:
    owners = [f"a-{id(store)}", f"b-{id(store)}"]
    await register(store, *owners)
    a = PriceScheduler(settings(f"replay:{SAMPLE_REPLAY}"), store, owners[0])
    b = PriceScheduler(settings(f"replay:{SAMPLE_REPLAY}"), store, owners[1])
    await rounds(a, 3)
    await rounds(b, 3)  # stands by: the lease is a's
    row = await status(store)
    assert (row.owner, row.state, row.active_source) == (owners[0], "running",
                                                         f"replay:{SAMPLE_REPLAY}")
    assert b.feed is None
    done = row.position
    assert done > 0  # a fast replay stores several due ticks per step
    await a.close_feed()
    async with store.transaction() as conn:
        await paper_feed.release(conn, owner=owners[0])  # a stops (SIGTERM path)
    await rounds(b, 1)
    row = await status(store)
    assert row.owner == owners[1]
    assert row.position > done  # continued from a's position, not from the start
    quotes = await PaperStore(store.engine).get_quotes(["BTC/USDT", "BTC/USDT:USDT"])
    assert quotes["BTC/USDT"].last == quotes["BTC/USDT:USDT"].last  # spot prices the perp
    assert quotes["BTC/USDT"].bid < quotes["BTC/USDT"].ask  # the configured spread
    await b.close_feed()


async def test_a_replay_that_stops_says_so(store: Store) -> None:
    owner = f"c-{id(store)}"
    await register(store, owner)
    s = PriceScheduler(settings(f"replay:{SAMPLE_REPLAY}"), store, owner)
    for _ in range(1000):
        await rounds(s, 1)
        if (await status(store)).state == "ended":
            break
    row = await status(store)
    assert row.state == "ended"
    assert row.position == 960  # 240 candles, four prices each
    assert "stopped at its end" in (row.message or "")
    await s.close_feed()


async def test_an_unreachable_live_source_keeps_prices(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = f"d-{id(store)}"
    await register(store, owner)
    paper = PaperStore(store.engine)
    before: dict[str, Any] = await paper.get_quotes()

    async def refused(*_args: Any) -> Any:
        raise OSError("network is unreachable")  # what this machine answers; no test network

    def offline(*args: Any, **kw: Any) -> Any:
        feed = build_feed(*args, **kw)
        assert isinstance(feed, LiveFeed)
        feed.exchange.fetch_ticker = refused
        return feed

    monkeypatch.setattr(price_feed, "build_feed", offline)
    s = PriceScheduler(settings("live:binance"), store, owner)
    await rounds(s, 2)
    row = await status(store)
    assert (row.state, row.active_source) == ("unreachable", "live:binance")
    assert "network is unreachable" in (row.message or "")
    assert await paper.get_quotes() == before  # prices stay where they were
    await s.close_feed()


def test_random_walk_prices_are_decimal_on_the_tick() -> None:
    from apps.paper.domain.markets import MarketList

    assert all(m.price_step > 0 for m in MarketList.of().by_symbol.values())
    assert Decimal("50000.1") % Decimal("0.1") == 0


async def test_the_scheduler_enqueues_funding_for_accounts_with_open_swaps(store: Store) -> None:
    """A one-second funding interval: the round that holds the lease enqueues the current
    funding time's command for a paper account holding a perpetual, once."""
    owner = f"f-{id(store)}"
    await register(store, owner)
    now = datetime.now(UTC)
    async with store.transaction() as conn:
        held = await insert_account(conn, exchange_id="paper", label="f", position_mode="hedge",
                                    is_testnet=False, is_live=False, config={})  # fmt: skip
        await books.insert_position(conn, Position(
            0, held, "BTC/USDT:USDT", 0, Side.BUY, Decimal("0.01"), Decimal("50000"),
            Decimal(0), Decimal(0), Decimal(1), PositionState.OPEN, "api", now, now))
    funded = load_settings(paper={"price_source": "manual", "funding_interval_seconds": 1},
                           worker={"heartbeat_seconds": 30})  # fmt: skip
    scheduler = PriceScheduler(funded, store, owner)
    await rounds(scheduler, 1)
    assert scheduler.funded_ms is not None
    async with store.read() as conn:
        rows = (await conn.execute(select(commands).where(
            commands.c.account_id == held, commands.c.command_type == "funding"))).mappings().all()
    mine = [r for r in rows if r["request_id"] == f"funding:{scheduler.funded_ms}"]
    assert len(mine) == 1
    assert mine[0]["payload"]["funding_ms"] == scheduler.funded_ms
    assert mine[0]["payload"]["rates"]["BTC/USDT:USDT"] == "0.0001"
    assert "BTC/USDT" not in mine[0]["payload"]["rates"]  # spot pays no funding
    await scheduler.close_feed()


async def test_a_deadlock_victim_round_is_retried_without_a_traceback(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """MariaDB may choose a price step as a deadlock victim under load (seen in a full run:
    the e2e test that checks a worker's log for tracebacks failed). The round's transaction
    rolled back whole: one warning line, and the next rounds store prices again from the
    stored position."""
    owner = f"d-{id(store)}"
    await register(store, owner)
    s = PriceScheduler(settings(f"replay:{SAMPLE_REPLAY}"), store, owner)
    real = s.paper_store.put_quotes
    calls = [0]

    async def first_one_deadlocks(quotes: list[Any], source: str) -> list[Any]:
        calls[0] += 1
        if calls[0] == 2:  # the second step: after a first stored one
            raise OperationalError("UPDATE paper_prices", {}, Exception(1213, "Deadlock found"))
        return await real(quotes, source)

    monkeypatch.setattr(s.paper_store, "put_quotes", first_one_deadlocks)
    stop = asyncio.Event()
    task = asyncio.create_task(s.run(stop))
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while calls[0] < 4:  # the failed step, then two stored after it
            assert asyncio.get_running_loop().time() < deadline, calls
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
    assert (await status(store)).position > 0
    records = [r for r in caplog.records if r.name == "apps.worker.prices"]
    assert any("deadlock victim" in r.getMessage() for r in records)
    assert not [r for r in records if r.levelname == "ERROR" or r.exc_info], [
        r.getMessage() for r in records]
