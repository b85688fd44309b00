"""A batch of placements on the paper venue (`place_orders`, the gateway's path:
`PaperStore.apply_batch`) on SQLite and MariaDB:
placements racing on one account all land, each exactly once; on MariaDB the first read locks
the account's row, so the writes need no check and go with the COMMIT in one round trip."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from apps.oms.ports import NewOrder
from apps.oms.store import direct
from apps.oms.store.engine import create_engine
from apps.oms.store.tables import accounts
from apps.paper.exchange.venue import PaperVenue
from apps.paper.store.venue_store import PaperStore

D = Decimal
BTC = "BTC/USDT"


def buy(client_order_id: str) -> NewOrder:
    return NewOrder(BTC, "market", "buy", D("0.01"), None, {"clientOrderId": client_order_id})


async def test_placements_racing_on_one_account_all_land_once(
    engine: AsyncEngine, new_account: Callable[[], Any], make_venue: Callable[..., PaperVenue]
) -> None:
    """On MariaDB each placement waits for the account's row and lands (each store's turn
    lets one of its requests in at a time, so four race; unlocked, some lost five races and were
    refused busy). SQLite serialises its writers; a busy answer ("try again") writes nothing."""
    account_id = await new_account()
    venues = [make_venue(account_id) for _ in range(4)]  # four adapters, four stores
    await venues[0].set_price(BTC, D(50000))
    (first,) = await venues[0].place_orders([buy("first")])  # the account's venue rows exist
    assert not isinstance(first, BaseException)
    ids = [f"r{k}-{n}" for k in range(4) for n in range(5)]
    batches = await asyncio.gather(*(
        venues[k % 4].place_orders([buy(cid)]) for k, cid in enumerate(ids)))  # fmt: skip
    answers = [answer for batch in batches for answer in batch]
    refused = [a for a in answers if isinstance(a, BaseException)]
    assert all(isinstance(a, ccxt.ExchangeNotAvailable) for a in refused), refused
    if engine.dialect.name != "sqlite":
        assert refused == []
    landed = sorted(cid for cid, a in zip(ids, answers, strict=True)
                    if not isinstance(a, BaseException))  # fmt: skip
    again = make_venue(account_id)
    closed = await again.fetch_closed_orders()
    assert sorted(o["clientOrderId"] for o in closed) == sorted([*landed, "first"])
    trades = await again.fetch_my_trades()
    assert len(trades) == len(landed) + 1
    balance = await again.fetch_balance()
    assert balance["total"]["BTC"] == D("0.01") * (len(landed) + 1)
    spent = sum(D(str(t["cost"])) + D(str(t["fee"]["cost"])) for t in trades)
    assert balance["total"]["USDT"] == D(100000) - spent


@pytest.fixture
async def mariadb_engine(mysql_url: str) -> AsyncIterator[AsyncEngine]:
    """The session's MariaDB store alone: the row lock and the merged COMMIT are MySQL/MariaDB's
    (on SQLite, SQLAlchemy runs the statements, the bump checked before the commit)."""
    engine = create_engine(mysql_url, pool_size=2)
    yield engine
    await engine.dispose()


async def test_a_placement_commits_with_its_writes_on_mariadb(
    mariadb_engine: AsyncEngine, clock: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    async with mariadb_engine.begin() as conn:
        made = await conn.execute(insert(accounts).values(
            exchange_id="paper", label="paper test", position_mode="netting",
            created_at=now, updated_at=now))  # fmt: skip
    venue = PaperVenue(int(made.inserted_primary_key[0]), PaperStore(mariadb_engine), clock=clock)
    await venue.set_price(BTC, D(50000))
    trips: list[list[str]] = []
    real = direct._exchange

    async def exchange(sync: Any, parts: list[Any], **kw: Any) -> Any:
        if sync.engine is mariadb_engine.sync_engine:  # not other tests' stores meanwhile
            trips.append([" ".join(p.sql.split()) for p in parts])
        return await real(sync, parts, **kw)

    monkeypatch.setattr(direct, "_exchange", exchange)
    (placed,) = await venue.place_orders([buy("one")])
    assert not isinstance(placed, BaseException)
    writes = [trip for trip in trips if any(p.startswith("INSERT INTO paper_orders") for p in trip)]
    assert len(writes) == 1
    assert writes[0][-1] == "COMMIT"
    assert writes[0][0].startswith("UPDATE paper_accounts")  # the version bump, unchecked
    (head,) = [trip for trip in trips if trip[0].startswith("SELECT paper_accounts")]
    assert head[0].endswith("FOR UPDATE")  # the row held from the first read
    assert trips.index(head) == trips.index(writes[0]) - 1  # read, then write and commit
