"""A batch of sends carries its positions: each position is read (locked) once per transaction
of the batch and each changed one written once at the end, while the books come out exactly as the classic path makes
them one command at a time (same deals, same positions, same position events), in every mode,
with a close order inside the batch (its reservation released as it fills)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from apps.oms.clock import utcnow
from apps.oms.domain.risk import RiskLimits
from apps.oms.service.execution import step
from apps.oms.service.views import position_view
from apps.oms.store import risk as risk_store
from apps.oms.store.tables import deals, orders, outbox, positions

from .conftest import Harness
from .test_commands import assert_fold

SYMBOL = "BTC/USDT:USDT"
# buys and sells of one symbol that open, add to, reduce, close and reverse positions
PLAN = ["buy 0.003", "buy 0.002", "close", "sell 0.001", "buy 0.004", "sell 0.009",
        "sell 0.002", "buy 0.011", "buy 0.001", "close", "sell 0.003", "buy 0.002"]


async def queue_plan(h: Harness, acct: int) -> None:
    """Accept the plan without running it; a close names the account's open position as the
    books show it at acceptance (the first one, opened beforehand, stays open until then)."""
    for item in PLAN:
        if item == "close":
            open_ids = [r["id"] for r in await rows(h, acct) if r["is_open"]]
            await h.send(acct, "close_position", position_id=int(open_ids[0]), qty="0.001")
            continue
        side, qty = item.split()
        await h.send(acct, "send_order", symbol=SYMBOL, side=side, order_type="market", qty=qty)


async def rows(h: Harness, acct: int) -> list[dict[str, Any]]:
    async with h.store.read() as conn:
        return [dict(r) for r in (await conn.execute(select(positions).where(
            positions.c.account_id == acct).order_by(positions.c.id))).mappings()]


async def books_of(h: Harness, acct: int) -> tuple[list[Any], list[Any], list[Any]]:
    """Positions, deals and position events, without ids and times (two accounts compared)."""
    skip = {"id", "account_id", "opened_at", "updated_at", "closed_at", "created_at",
            "executed_at", "position_id", "order_id", "exchange_trade_id", "merged_into_id"}
    async with h.store.read() as conn:
        dealt = [{k: v for k, v in r.items() if k not in skip} for r in (await conn.execute(
            select(deals).where(deals.c.account_id == acct).order_by(deals.c.id))).mappings()]
        evs = [r[0] for r in await conn.execute(select(outbox.c.event).where(
            outbox.c.account_id == acct, outbox.c.event.like("position_%")).order_by(
            outbox.c.id))]
    held = [{k: v for k, v in r.items() if k not in skip} for r in await rows(h, acct)]
    return held, dealt, evs


@pytest.mark.parametrize("mode", ["netting", "strategy_netting", "hedge"])
async def test_a_batch_books_as_one_command_at_a_time(
    harness: Callable[..., Harness], mode: str
) -> None:
    classic = harness(batch_size=0)  # write-ahead -> call -> record, a transaction per step
    batched = harness()
    await batched.price(SYMBOL, "50000")
    one, batch = await classic.account(mode), await batched.account(mode)
    for h, acct in ((classic, one), (batched, batch)):  # the position the closes will name
        await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market",
                     qty="0.005")
        await h.drain(acct, housekeeping=False)
    await queue_plan(classic, one)
    await classic.drain(one, housekeeping=False)
    await queue_plan(batched, batch)
    seen: Counter[str] = Counter()

    def count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        text = " ".join(statement.split())
        if text.startswith("SELECT") and " FROM positions " in text:
            seen["read"] += 1
        elif text.startswith("UPDATE positions "):
            seen["update"] += 1
        elif text.startswith("INSERT INTO deals "):
            seen["deal insert"] += 1

    await one_batch(batched, batch, count)
    assert not [r for r in await rows(batched, batch) if r["is_open"] and r["pending_close_qty"]]
    assert await books_of(batched, batch) == await books_of(classic, one)
    await assert_fold(batched, batch)
    # netting modes read the symbol's open positions once per transaction (the write-ahead's
    # re-checks, the record's booking); hedge reads the position each close names once in each
    # (the first close's, the second's is carried); every change is one UPDATE
    assert seen["read"] == 2, seen
    assert seen["update"] == 1, seen
    # MariaDB: every deal of the batch in one INSERT … RETURNING, ids in row order; SQLite
    # cannot promise RETURNING's order for many rows, so SQLAlchemy inserts them one by one
    for h, acct in ((classic, one), (batched, batch)):  # what a read model folds = the store
        assert await last_position_events(h, acct) == {
            int(r["id"]): position_view(r) for r in await rows(h, acct)}
    booked = await deal_rows(batched, batch)
    assert seen["deal insert"] == (1 if batched.store.dialect == "mysql" else len(booked) - 1)
    assert await deal_events(batched, batch) == booked  # each event names its own deal


async def one_batch(h: Harness, acct: int, listener: Callable[..., None]) -> Any:
    """Run the account's queue as one step with `listener` on every statement; returns the
    account's runtime."""
    rt = await h.runtime(acct)
    with h.store.watching_statements(listener):
        assert await step.run_next(rt, asyncio.Event())  # the whole plan: one batch
    return rt


async def last_position_events(h: Harness, acct: int) -> dict[int, dict[str, Any]]:
    """Each position's last `position_*` event payload."""
    async with h.store.read() as conn:
        found = {}
        for (payload,) in await conn.execute(select(outbox.c.payload).where(
                outbox.c.account_id == acct, outbox.c.event.like("position_%")).order_by(
                outbox.c.id)):  # fmt: skip
            view = payload if isinstance(payload, dict) else json.loads(payload)
            found[int(view["position_id"])] = view
    return found


async def deal_events(h: Harness, acct: int) -> list[tuple[int, str, Decimal]]:
    """(id, trade id, qty) of each `deal_created` event, in event order."""
    async with h.store.read() as conn:
        payloads = [r[0] if isinstance(r[0], dict) else json.loads(r[0])
                    for r in await conn.execute(select(outbox.c.payload).where(
                        outbox.c.account_id == acct, outbox.c.event == "deal_created").order_by(
                        outbox.c.id))]  # fmt: skip
    return [(int(p["id"]), p["exchange_trade_id"], Decimal(p["qty"])) for p in payloads]


async def deal_rows(h: Harness, acct: int) -> list[tuple[int, str, Decimal]]:
    async with h.store.read() as conn:
        return [(int(r.id), r.exchange_trade_id, Decimal(r.qty)) for r in await conn.execute(
            select(deals).where(deals.c.account_id == acct).order_by(deals.c.id))]


async def close_then_open(
    h: Harness, opened_qty: str, close_at: str, limits: RiskLimits
) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """A hedge account with one position bought at 50,000 (`opened_qty`), then, queued with the
    price at `close_at`: its close and a buy of 0.001 that opens a new position; `limits` (the
    account's) set after they were accepted: the batch takes one such send at a time, each
    re-checked after the one before it was booked. Returns the account, the first position's
    row and the buy's command as recorded (the close completed)."""
    acct = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market",
                 qty=opened_qty)
    await h.drain(acct, housekeeping=False)
    (first,) = await rows(h, acct)
    await h.price(SYMBOL, close_at)
    close = await h.send(acct, "close_position", position_id=int(first["id"]))
    opening = await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market",
                           qty="0.001")
    async with h.store.transaction() as conn:
        await risk_store.put_limits(conn, acct, 0, limits, utcnow())
    await h.drain(acct, housekeeping=False)
    closed, then = await h.command(close["command_id"]), await h.command(opening["command_id"])
    assert closed["finished_at"] < then["finished_at"]  # one after the other
    assert closed["status"] == "completed", closed
    return acct, first, then


async def test_position_limits_see_the_positions_the_batch_changed(
    harness: Callable[..., Harness],
) -> None:
    """The risk counters read position rows: with limits set, a send is re-checked after the
    sends before it were booked. A hedge position closed just before no longer counts against
    `max_open_positions` = 1, so the send after the close opens its position."""
    h = harness()
    limits = RiskLimits(max_open_positions=1)
    acct, first, opened = await close_then_open(h, "0.002", "50000", limits)
    assert opened["status"] == "completed", opened
    assert [(r["id"] == first["id"], bool(r["is_open"])) for r in await rows(h, acct)] == [
        (True, False), (False, True)]
    await assert_fold(h, acct)


async def test_a_loss_limit_sees_the_deals_the_batch_booked(
    harness: Callable[..., Harness],
) -> None:
    """The daily loss counter reads deal rows: with limits set, a send is re-checked after the
    deals of the sends before it were booked. A close realising a loss of 50 USDT makes the
    next send meet `daily_loss_limit` = 40."""
    h = harness()
    acct, _first, refused = await close_then_open(h, "0.005", "40000",
                                                  RiskLimits(daily_loss_limit=Decimal(40)))
    assert (refused["status"], refused["error_code"]) == ("failed", "risk_blocked"), refused
    await assert_fold(h, acct)


@pytest.mark.parametrize("limits", [False, True])
async def test_positions_a_batch_opens_are_inserted_together(
    harness: Callable[..., Harness], limits: bool
) -> None:
    """Hedge: every market send opens a position. A batch inserts the positions it opened at its
    end, in one statement on MariaDB, known until then by stand-in ids (with risk limits, the
    batch takes one send at a time: its counters read the ones before it); a send that walks
    several book levels books several trades into its one position, and every row and event
    names real ids: the books equal the classic path's, command at a time. (The paper venue
    follows the account's own `paper.book`.)"""
    book = {"level_volume": "0.001"}  # one 0.001 per level: a 0.003 market order takes three
    classic, batched = harness(batch_size=0), harness()
    await batched.price(SYMBOL, "50000")
    one, batch = await classic.account("hedge", book=book), await batched.account("hedge", book=book)
    if limits:
        async with batched.store.transaction() as conn:
            limits_100 = RiskLimits(max_open_positions=100)
            await risk_store.put_limits(conn, batch, 0, limits_100, utcnow())
    plan = [("buy", "0.003"), ("sell", "0.002"), ("buy", "0.001"), ("buy", "0.003")]
    for h, acct in ((classic, one), (batched, batch)):
        for side, qty in plan:
            await h.send(acct, "send_order", symbol=SYMBOL, side=side, order_type="market",
                         qty=qty)  # fmt: skip
    await classic.drain(one, housekeeping=False)
    inserts: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().startswith("INSERT INTO positions"):
            inserts.append(statement)

    rt = await batched.runtime(batch)
    with batched.store.watching_statements(count):
        while await step.run_next(rt, asyncio.Event()):
            pass
    assert await books_of(batched, batch) == await books_of(classic, one)
    await assert_fold(batched, batch)
    held = await rows(batched, batch)
    assert [r["qty"] for r in held] == [Decimal(q) for _, q in plan]
    together = batched.store.dialect == "mysql" and not limits
    assert len(inserts) == (1 if together else len(plan))
    ids = {int(r["id"]) for r in held}
    async with batched.store.read() as conn:
        placed = list((await conn.execute(select(orders.c.id, orders.c.position_id).where(
            orders.c.account_id == batch).order_by(orders.c.id))).all())  # fmt: skip
        dealt = list((await conn.execute(select(deals.c.order_id, deals.c.position_id).where(
            deals.c.account_id == batch))).all())  # fmt: skip
        events = [(r[0], r[1] if isinstance(r[1], dict) else json.loads(r[1]))
                  for r in await conn.execute(select(outbox.c.event, outbox.c.payload).where(
                      outbox.c.account_id == batch).order_by(outbox.c.id))]  # fmt: skip
    assert [p for _, p in placed] == sorted(ids)  # each order names the position it opened
    assert len(dealt) == 3 + 2 + 1 + 3
    assert dict(placed) == dict(dealt)  # each trade booked into its order's one
    named = [v for _, payload in events for k, v in payload.items() if k == "position_id"]
    named += [p["id"] for e, p in events if e.startswith("position_")]
    assert set(named) - {0} == ids  # no event names a stand-in (accepted orders name none: 0)
    assert await last_position_events(batched, batch) == {
        int(r["id"]): position_view(r) for r in held}
