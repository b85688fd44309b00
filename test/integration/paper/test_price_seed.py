"""Seeding a symbol's default price never overwrites a price that was set meanwhile (regression:
the first reader's seed turned a just-set 123.45 back into the default, and the market stream
never published the set price)."""

import secrets
from decimal import Decimal

from apps.oms.domain.paper.book import Quote
from apps.oms.store.paper import PaperStore
from apps.oms.store.store import Store


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
