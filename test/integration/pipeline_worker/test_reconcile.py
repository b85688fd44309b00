"""Reconciliation runs through the real worker code (SQLite and MariaDB): an order placed on the
paper venue outside the OMS becomes an external order, deal and position; a re-run books
nothing twice; a position changed without a trade marks the account out of sync, blocks new
positions when configured, and clears when the venue matches again; reassign rebuilds."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from apps.oms.clock import utcnow
from apps.oms.config import Settings
from apps.oms.domain.positions import rebuild_all
from apps.oms.service.reconcile import command_payload, enqueue
from apps.oms.store import books
from apps.oms.store.positions import position_from_row
from apps.oms.store.store import Store
from apps.oms.store.tables import account_risk_state, accounts, commands, deals, orders, positions
from apps.paper.exchange.factory import build_paper_venue
from test.integration.pipeline_worker.conftest import Harness

pytestmark = pytest.mark.parametrize("mode", ["hedge", "netting", "strategy_netting"])
SWAP = "BTC/USDT:USDT"


async def reconcile(h: Harness, account_id: int, scope: str = "short") -> dict[str, Any]:
    async with h.store.transaction() as conn:
        command_id = await enqueue(conn, account_id, command_payload(Settings().reconcile, scope),
                                   utcnow())
    await h.drain(account_id)
    row = await h.command(command_id)
    assert row["status"] == "completed", row
    result: dict[str, Any] = row["result"]
    return result


async def outside(h: Harness, account_id: int) -> Any:
    """The account's paper venue as a person on the exchange's web page reaches it."""
    async with h.store.read() as conn:
        config = (await conn.execute(select(accounts.c.config).where(
            accounts.c.id == account_id))).scalar()
    return build_paper_venue(account_id, h.store.engine, config or {})


async def rows(store: Store, table: Any, account_id: int) -> list[dict[str, Any]]:
    async with store.read() as conn:
        result = await conn.execute(select(table).where(table.c.account_id == account_id)
                                    .order_by(table.c.id))
        return [dict(r) for r in result.mappings()]


async def assert_books_fold(store: Store, account_id: int) -> None:
    async with store.read() as conn:
        all_deals = await books.deals_of_account(conn, account_id)
    stored = {int(r["id"]): position_from_row(r) for r in await rows(store, positions, account_id)}
    assert rebuild_all(all_deals, stored) == {k: v for k, v in stored.items()
                                              if any(d.position_id == k for d in all_deals)}


async def books_net(store: Store, account_id: int, symbol: str) -> Decimal:
    total = Decimal(0)
    for p in await rows(store, positions, account_id):
        if p["is_open"] and p["symbol"] == symbol:
            total += Decimal(p["qty"]) * (1 if p["side"] == "buy" else -1)
    return total


async def test_external_order_becomes_external_order_deal_and_position(
    mode: str, store: Store, harness: Callable[..., Harness]
) -> None:
    h = harness()
    account_id = await h.account(mode)
    await h.price(SWAP, "50000")
    item = await h.send(account_id, "send_order", symbol=SWAP, side="buy", order_type="market",
                        qty="0.01")
    await h.drain(account_id)
    venue = await outside(h, account_id)
    placed = await venue.create_order(SWAP, "market", "sell", Decimal("0.004"))
    first = await reconcile(h, account_id)
    assert first["external_orders_created"] == 1
    assert first["trades_booked"] == 1
    assert first["positions_checked"] is True
    assert first["out_of_sync"] is False
    ext = [o for o in await rows(store, orders, account_id) if o["reason"] == "external"]
    assert len(ext) == 1
    assert ext[0]["exchange_order_id"] == str(placed["id"])
    assert ext[0]["strategy_id"] == 0
    assert not ext[0]["reconciled"]
    assert ext[0]["status"] == "FILLED"
    assert Decimal(ext[0]["filled_qty"]) == Decimal("0.004")
    ext_deals = [d for d in await rows(store, deals, account_id) if d["order_id"] == ext[0]["id"]]
    assert len(ext_deals) == 1
    assert not ext_deals[0]["reconciled"]
    position = next(p for p in await rows(store, positions, account_id)
                if p["id"] == ext_deals[0]["position_id"])
    assert position["reason"] == "external"
    assert position["side"] == "sell"
    assert await books_net(store, account_id, SWAP) == Decimal("0.006")
    again = await reconcile(h, account_id)  # nothing new: nothing booked twice
    assert again["trades_booked"] == 0
    assert again["external_orders_created"] == 0
    assert again["trades_already_booked"] >= 2
    assert len(await rows(store, deals, account_id)) == 2
    await assert_books_fold(store, account_id)
    assert item["order_id"]


async def test_position_change_without_trade_marks_out_of_sync_and_blocks(
    mode: str, store: Store, harness: Callable[..., Harness]
) -> None:
    h = harness()
    account_id = await h.account(mode)
    async with store.transaction() as conn:
        await conn.execute(update(accounts).where(accounts.c.id == account_id).values(
            config={"reconcile": {"block_new_positions": True}}))
    h.venues = type(h.venues)(Settings(), store)
    await h.price(SWAP, "50000")
    await h.send(account_id, "send_order", symbol=SWAP, side="buy", order_type="market",
                 qty="0.01")
    await h.drain(account_id)
    venue = await outside(h, account_id)
    await venue.adjust_position(SWAP, Decimal("0.004"))  # a partial liquidation
    run = await reconcile(h, account_id)
    assert run["out_of_sync"] is True
    assert run["mismatches"] == [{"symbol": SWAP, "venue_qty": "0.004", "books_qty": "0.01",
                                  "difference": "-0.006"}]
    async with store.read() as conn:
        flags = (await conn.execute(select(account_risk_state.c.out_of_sync,
                                           account_risk_state.c.out_of_sync_blocks).where(
            account_risk_state.c.account_id == account_id))).one()
    assert tuple(flags) == (True, True)
    refused = await h.send(account_id, "send_order", symbol="ETH/USDT:USDT", side="buy",
                           order_type="market", qty="0.01")
    assert refused.get("code") == "risk_blocked" or refused.get("status") == "failed"
    # the operator puts the venue back (or corrects the books); the next run clears the flag
    await venue.adjust_position(SWAP, Decimal("0.01"))
    cleared = await reconcile(h, account_id)
    assert cleared["out_of_sync"] is False
    accepted = await h.send(account_id, "send_order", symbol="ETH/USDT:USDT", side="buy",
                            order_type="market", qty="0.01")
    await h.drain(account_id)
    async with store.read() as conn:
        status = (await conn.execute(select(commands.c.status).where(
            commands.c.id == accepted["command_id"]))).scalar()
    assert status == "completed"


async def test_reassign_external_order_rebuilds_positions(
    mode: str, store: Store, harness: Callable[..., Harness]
) -> None:
    from apps.oms.service.execution.reassign import execute_reassign  # noqa: F401 (registered)
    from apps.oms.store import strategies as strategy_store

    h = harness()
    account_id = await h.account(mode)
    async with store.transaction() as conn:
        strategy_id = await strategy_store.insert_strategy(conn, name=f"s-{mode}") \
            if hasattr(strategy_store, "insert_strategy") else 0
    assert strategy_id >= 0
    await h.price(SWAP, "50000")
    venue = await outside(h, account_id)
    await venue.create_order(SWAP, "market", "buy", Decimal("0.02"))
    await reconcile(h, account_id)
    ext = next(o for o in await rows(store, orders, account_id) if o["reason"] == "external")
    payload = {"order_ids": [ext["id"]], "target_strategy_id": 0, "override": False,
               "target_position_id": None, "actor": {}}
    async with store.transaction() as conn:
        from apps.oms.store import commands as command_store
        from apps.oms.store.records import NewCommand

        command_id = await command_store.insert_command(conn, NewCommand(
            account_id=account_id, command_type="reassign", request_id=None,
            client_order_id=None, content_hash="x", payload=payload, api_key_id=None,
            user_id=None, created_at=utcnow()))
    await h.drain(account_id)
    row = await h.command(command_id)
    assert row["status"] == "completed", row
    assert row["result"]["orders_updated"] == 1
    moved = next(o for o in await rows(store, orders, account_id) if o["id"] == ext["id"])
    assert moved["reason"] == "reassign"
    assert moved["reconciled"]
    position = next(p for p in await rows(store, positions, account_id)
                if p["id"] == moved["position_id"])
    assert position["reason"] == "reassign"
    assert Decimal(position["qty"]) == Decimal("0.02")
    await assert_books_fold(store, account_id)
