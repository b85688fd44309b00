"""Raw venue payloads are appended once per content (one INSERT … IGNORE statement)."""

import hashlib
import json
import warnings
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select

from apps.oms.service import admin
from apps.oms.store import ccxt_records, order_records
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.order_records import store_payload
from apps.oms.store.store import Store
from apps.oms.store.tables import venue_payloads


async def test_same_payload_is_stored_once(store_url: str) -> None:
    store = Store.from_url(store_url)
    now = datetime.now(UTC)
    try:
        async with store.transaction() as conn:
            account = await admin.add_account(
                conn,
                CLI_ACTOR,
                user_id=None,
                exchange_id="paper",
                label="raw",
                position_mode="hedge",
                testnet=False,
                live=False,
            )
        payload = {"id": "1", "amount": Decimal("0.5"), "info": {"x": [1, 2]}}
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a duplicate must not surface as a driver warning
            for _ in range(3):
                async with store.transaction() as conn:
                    await store_payload(
                        conn,
                        account_id=account,
                        kind="order",
                        exchange_id="paper",
                        object_id="1",
                        payload=payload,
                        now=now,
                    )
            async with store.transaction() as conn:
                await store_payload(
                    conn,
                    account_id=account,
                    kind="trade",
                    exchange_id="paper",
                    object_id="1",
                    payload=payload,
                    now=now,
                )
        async with store.read() as conn:
            count = (
                await conn.execute(
                    select(func.count())
                    .select_from(venue_payloads)
                    .where(venue_payloads.c.account_id == account)
                )
            ).scalar_one()
        assert count == 2
    finally:
        await store.close()


async def test_payload_stored_as_its_plain_copy_and_hashed_canonically(store_url: str) -> None:
    """The row holds the payload with Decimals as plain strings, tuples as lists and keys as
    strings, in its own key order; its hash is the SHA-256 of `[kind, payload]` with sorted
    keys and no spaces (the form earlier versions wrote: repeats of their rows stay no-ops)."""
    store = Store.from_url(store_url)
    now = datetime.now(UTC)
    payload = {"z": Decimal("1E+2"), "a": ("x", Decimal("0.10")), "info": {2: "é", "q": "'\"\\"}}
    plain = {"z": "100", "a": ["x", "0.1"], "info": {"2": "é", "q": "'\"\\"}}
    canonical = json.dumps(["order", plain], sort_keys=True, separators=(",", ":"))
    try:
        async with store.transaction() as conn:
            account = await admin.add_account(
                conn, CLI_ACTOR, user_id=None, exchange_id="paper", label="raw2",
                position_mode="hedge", testnet=False, live=False,
            )  # fmt: skip
            await store_payload(conn, account_id=account, kind="order", exchange_id="paper",
                                object_id="1", payload=payload, now=now)  # fmt: skip
        async with store.read() as conn:
            row = (await conn.execute(
                select(venue_payloads.c.payload, venue_payloads.c.content_hash)
                .where(venue_payloads.c.account_id == account))).one()  # fmt: skip
    finally:
        await store.close()
    assert row.payload == plain
    assert list(row.payload) == ["z", "a", "info"]
    assert row.content_hash == hashlib.sha256(canonical.encode()).hexdigest()


async def test_order_payload_holds_its_stored_trades_by_reference(store_url: str) -> None:
    """An order payload whose trades are stored in their own rows by the same transaction keeps
    them as references (their bytes once), hashed as the full content; the reads of order
    payloads (`ccxt_records`) put the trades back."""
    store = Store.from_url(store_url)
    now = datetime.now(UTC)
    trade = {"id": "T1", "order": "O1", "price": Decimal("50000"), "amount": Decimal("0.001"),
             "info": {"trade_id": "T1"}}  # fmt: skip
    other = {"id": "T2", "order": "O1", "price": Decimal("50001"), "amount": Decimal("0.002")}
    order = {"id": "O1", "status": "closed", "filled": Decimal("0.003"), "trades": [trade, other]}
    full = json.loads(json.dumps(order, default=str))
    try:
        async with store.transaction() as conn:
            account = await admin.add_account(
                conn, CLI_ACTOR, user_id=None, exchange_id="paper", label="refs",
                position_mode="hedge", testnet=False, live=False,
            )  # fmt: skip
            stored = order_records.payload_row(account_id=account, kind="trade",
                                               exchange_id="paper", object_id="T1",
                                               payload=trade, now=now)  # fmt: skip
            row = order_records.payload_row(
                account_id=account, kind="order", exchange_id="paper", object_id="O1",
                payload=order, now=now, trade_refs={0: stored["content_hash"]},
            )  # fmt: skip
            plain = order_records.payload_row(account_id=account, kind="order",
                                              exchange_id="paper", object_id="O1",
                                              payload=order, now=now)  # fmt: skip
            await order_records.store_payloads(conn, [stored, row])
        assert row["content_hash"] == plain["content_hash"]  # the full content's hash
        assert json.loads(row["payload_text"])["trades"] == [
            {order_records.TRADE_REF: stored["content_hash"]}, full["trades"][1]]
        async with store.read() as conn:
            pages, total = await ccxt_records.raw_payloads(
                conn, account_ids=[account], kind="order", start=None, end=None, page=1,
                page_size=10)  # fmt: skip
        assert total == 1
        assert pages[0]["payload"] == full
    finally:
        await store.close()
