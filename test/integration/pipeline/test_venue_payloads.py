"""Raw venue payloads are appended once per content (one INSERT … IGNORE statement)."""

import hashlib
import json
import warnings
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select

from apps.oms.service import admin
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
