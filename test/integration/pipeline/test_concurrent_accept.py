"""Two API processes accepting at once cannot both reserve the same quantity, and a duplicate
idempotency key racing its original yields one command (MariaDB, separate connection pools)."""

import asyncio
import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from apps.oms.config import load_settings
from apps.oms.errors import OmsError
from apps.oms.service.auth import authenticate
from apps.oms.service.install import InstallRequest, install
from apps.oms.service.submit import submit
from apps.oms.store.store import Store
from apps.oms.store.tables import commands, positions

PEPPER = "pepper-for-concurrency-tests-0123456789"


async def _setup(url: str) -> tuple[int, str]:
    store = Store.from_url(url)
    try:
        done = await install(
            store,
            PEPPER,
            InstallRequest(
                admin_name=f"a{secrets.token_hex(3)}",
                with_account=True,
                user_name=f"t{secrets.token_hex(3)}",
            ),
        )
        return int(done["account"]["id"]), str(done["api_key"]["plain"])
    finally:
        await store.close()


async def _position(store: Store, account_id: int, qty: str) -> int:
    now = datetime.now(UTC)
    async with store.transaction() as conn:
        result = await conn.execute(
            insert(positions).values(
                account_id=account_id,
                symbol="BTC/USDT",
                strategy_id=0,
                side="buy",
                qty=Decimal(qty),
                avg_price=Decimal(30000),
                state="open",
                is_open=True,
                opened_at=now,
                updated_at=now,
            )
        )
        return int(result.inserted_primary_key[0])


async def _try(store: Store, key: str, body: dict[str, Any]) -> str:
    settings = load_settings(security={"api_key_pepper": PEPPER})
    principal = await authenticate(store, PEPPER, key)
    try:
        status, _ = await submit(store, settings, principal, body, wait=False)
    except OmsError as exc:
        return exc.code
    return "ok" if status == 200 else str(status)


@pytest.mark.parametrize("rounds", [5])
async def test_concurrent_closes_never_over_reserve(mysql_url: str, rounds: int) -> None:
    account_id, key = await _setup(mysql_url)
    stores = [Store.from_url(mysql_url) for _ in range(4)]
    try:
        for _ in range(rounds):
            position_id = await _position(stores[0], account_id, "0.03")
            body = {
                "account_id": account_id,
                "command": "close_position",
                "payload": {"position_id": position_id, "qty": "0.02"},
            }
            outcomes = await asyncio.gather(*(_try(s, key, body) for s in stores))
            assert outcomes.count("ok") == 1, outcomes
            assert set(outcomes) - {"ok"} == {"invalid_qty"}, outcomes
            async with stores[0].read() as conn:
                pending = (
                    await conn.execute(
                        select(positions.c.pending_close_qty).where(positions.c.id == position_id)
                    )
                ).scalar_one()
            assert pending == Decimal("0.02")
    finally:
        for store in stores:
            await store.close()


async def test_racing_duplicate_request_id_is_one_command(mysql_url: str) -> None:
    account_id, key = await _setup(mysql_url)
    stores = [Store.from_url(mysql_url) for _ in range(4)]
    request_id = f"race-{secrets.token_hex(4)}"
    body = {
        "account_id": account_id,
        "command": "send_order",
        "request_id": request_id,
        "payload": {"symbol": "BTC/USDT", "side": "buy", "type": "market", "qty": "0.001"},
    }
    try:
        outcomes = await asyncio.gather(*(_try(s, key, body) for s in stores))
        assert set(outcomes) == {"ok"}, outcomes
        async with stores[0].read() as conn:
            count = (
                await conn.execute(
                    select(func.count())
                    .select_from(commands)
                    .where(commands.c.account_id == account_id, commands.c.request_id == request_id)
                )
            ).scalar_one()
        assert count == 1
    finally:
        for store in stores:
            await store.close()
