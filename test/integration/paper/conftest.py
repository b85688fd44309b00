"""Paper venue over a real store (SQLite and MariaDB/MySQL, via the shared `store_url`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from apps.oms.store.engine import create_engine
from apps.oms.store.tables import accounts
from apps.paper.exchange.venue import PaperVenue
from apps.paper.store.venue_store import PaperStore


class Clock:
    """A settable epoch-ms clock."""

    def __init__(self, start: int = 1_760_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


@pytest.fixture
async def engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(store_url, pool_size=4)
    yield engine
    await engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def new_account(engine: AsyncEngine) -> Callable[[], object]:
    """Insert a fresh `accounts` row with exchange_id `paper`; returns its id."""

    async def make() -> int:
        now = datetime.now(UTC)
        async with engine.begin() as conn:
            result = await conn.execute(insert(accounts).values(
                exchange_id="paper", label="paper test", position_mode="netting",
                created_at=now, updated_at=now,
            ))
            return int(result.inserted_primary_key[0])

    return make


@pytest.fixture
def make_venue(engine: AsyncEngine, clock: Clock) -> Callable[..., PaperVenue]:
    """A new adapter instance (as after a restart) over a new store object."""

    def make(account_id: int, **kw: object) -> PaperVenue:
        return PaperVenue(account_id, PaperStore(engine), clock=clock, **kw)  # type: ignore[arg-type]

    return make
