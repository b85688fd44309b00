"""Seeding a symbol's default price never overwrites a price that was set meanwhile (regression:
the first reader's seed turned a just-set 123.45 back into the default, and the market stream
never published the set price)."""

import secrets
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from apps.oms.store.store import Store
from apps.paper.domain.book import Quote
from apps.paper.store.venue_store import PaperStore

from ...conftest import mysql_admin_connection


async def test_seed_does_not_overwrite_a_set_price(store_url: str) -> None:
    store = Store.from_url(store_url)
    paper = PaperStore(store.engine)
    symbol = f"T{secrets.token_hex(3)}/USDT"
    try:
        set_ = await paper.put_quote(
            Quote(
                symbol, Decimal("123.45"), Decimal("123.4"), Decimal("123.5"), 0, 1_700_000_000_000
            ),
            "manual",
        )
        seeded = await paper.seed_quote(
            Quote(symbol, Decimal(100), Decimal("99.9"), Decimal("100.1"), 0, 1_700_000_000_001),
            "default",
        )
        assert (seeded.last, seeded.seq) == (Decimal("123.45"), set_.seq)
        stored = (await paper.get_quotes([symbol]))[symbol]
        assert (stored.last, stored.seq) == (Decimal("123.45"), 1)
        fresh = f"U{secrets.token_hex(3)}/USDT"
        first = await paper.seed_quote(
            Quote(fresh, Decimal(7), Decimal(7), Decimal(7), 0, 1), "default"
        )
        assert (first.last, first.seq) == (Decimal(7), 1)
    finally:
        await store.close()


@pytest.mark.parametrize("store_url", ["mysql"], indirect=True)
async def test_a_first_price_stored_while_another_writer_seeds_the_symbol(store_url: str) -> None:
    """The price scheduler's first price of a symbol and another writer's seed of it (a venue's
    default, in its own transaction) between the scheduler's locked read, which locks no absent
    row, and its insert (regression: the scheduler's round failed with a duplicate key)."""
    store = Store.from_url(store_url)
    paper = PaperStore(store.engine)
    symbol = f"R{secrets.token_hex(3)}/USDT"
    database = make_url(store_url).database
    other = mysql_admin_connection()
    seeded: list[str] = []

    def seed_first(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not seeded and statement.lstrip().startswith("INSERT") and "paper_prices" in statement:
            seeded.append(statement)  # the scheduler's first write of the row, as it is sent
            with other.cursor() as cur:
                cur.execute(f"INSERT INTO `{database}`.paper_prices (symbol, last, bid, ask, seq, "  # noqa: S608
                            "source, updated_at) VALUES (%s, 7, 7, 7, 1, 'default', NOW())",
                            (symbol,))  # fmt: skip

    try:
        with store.watching_statements(seed_first):
            stored = await paper.put_quotes(
                [Quote(symbol, Decimal(10), Decimal(10), Decimal(10), 0, 1_700_000_000_000)],
                "random_walk")  # fmt: skip
        assert seeded
        assert (stored[0].last, stored[0].seq) == (Decimal(10), 2)  # after the seed's seq 1
        now = (await paper.get_quotes([symbol]))[symbol]
        assert (now.last, now.seq) == (Decimal(10), 2)
    finally:
        other.close()
        await store.close()
