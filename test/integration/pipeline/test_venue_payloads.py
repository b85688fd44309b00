"""Raw venue payloads are appended once per content (one INSERT … IGNORE statement)."""

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
