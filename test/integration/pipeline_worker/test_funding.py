"""Funding of paper perpetuals through the real pipeline (SQLite and MariaDB): the scheduler's
enqueue at a funding time, the worker's joined `funding` command, the venue wallet and the books.

A hedge account holds a long and a short on the same perpetual: each position gets its own cash
deal (long pays a positive rate, short receives), quantities and averages stay, realised PnL
includes the payment, the one-way venue wallet moves by the net, and nothing is charged twice
(a second round, a second command for the same funding time)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from apps.oms.config import PaperSettings
from apps.oms.service.funding import enqueue_due
from apps.oms.store import books
from apps.oms.store import commands as command_store
from apps.oms.store.records import NewCommand
from apps.oms.store.tables import commands, deals, positions
from apps.paper.domain.matching import Venue

from .conftest import Harness
from .test_commands import assert_fold

D = Decimal
PERP = "BTC/USDT:USDT"
FUNDING_MS = 1_763_798_400_000  # 2025-11-22 08:00 UTC, a multiple of 8 h
PAPER = PaperSettings(funding_interval_seconds=28800, funding_rate="0.0001",
                      market_funding_rate={"ETH/USDT:USDT": "-0.0002"})  # fmt: skip


def at(ms: int, seconds: float = 0) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC) + timedelta(seconds=seconds)


async def usdt(h: Harness, account_id: int) -> Decimal:
    rt = await h.runtime(account_id)
    balance = await rt.venue.fetch_balance()
    return D(str(balance["USDT"]["total"]))


async def open_long_and_short(h: Harness) -> int:
    acct = await h.account("hedge")
    await h.price(PERP, "50000")
    for side, qty in (("buy", "0.010"), ("sell", "0.004")):
        item = await h.send(acct, "send_order", symbol=PERP, side=side, order_type="market",
                            qty=qty)  # fmt: skip
        assert item["ok"], item
    await h.drain(acct)
    return acct


async def funding_commands(h: Harness, account_id: int) -> list[dict[str, Any]]:
    async with h.store.read() as conn:
        rows = await conn.execute(select(commands).where(
            commands.c.account_id == account_id, commands.c.command_type == "funding"))
        return [dict(r) for r in rows.mappings()]


async def test_funding_books_a_cash_deal_per_position_and_moves_the_wallet(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct = await open_long_and_short(h)
    wallet = await usdt(h, acct)
    async with h.store.transaction() as conn:
        due, queued = await enqueue_due(conn, PAPER, Venue(), at(FUNDING_MS, 10))
    assert due == FUNDING_MS
    assert acct in queued
    async with h.store.transaction() as conn:  # a second round (or scheduler): nothing new
        _, again = await enqueue_due(conn, PAPER, Venue(), at(FUNDING_MS, 20))
    assert acct not in again
    (command,) = await funding_commands(h, acct)
    assert command["request_id"] == f"funding:{FUNDING_MS}"
    assert await h.drain(acct, housekeeping=False) == 1
    done = await h.command(int(command["id"]))
    assert done["status"] == "completed", done
    # long 0.010 pays 0.010 x 50000 x 0.0001 = 0.05; short 0.004 receives 0.02
    async with h.store.read() as conn:
        rows = [dict(r) for r in (await conn.execute(select(deals).where(
            deals.c.account_id == acct, deals.c.reason == "funding"))).mappings()]
        held = {int(r["id"]): dict(r) for r in (await conn.execute(select(positions).where(
            positions.c.account_id == acct))).mappings()}
    by_position = {int(r["position_id"]): r for r in rows}
    assert len(rows) == 2
    for position_id, deal in by_position.items():
        position = held[position_id]
        want = D("-0.05") if position["side"] == "buy" else D("0.02")
        assert D(deal["pnl"]) == want
        assert D(deal["qty"]) == 0
        assert D(deal["price"]) == D("50000")
        assert deal["order_id"] is None
        assert deal["exchange_trade_id"] == f"funding:{FUNDING_MS}:{position_id}"
        assert D(position["realized_pnl"]) == want  # the position's PnL includes its funding
        assert D(position["qty"]) == (D("0.010") if position["side"] == "buy" else D("0.004"))
        assert position["state"] == "open"
    assert done["result"]["amount"] == "-0.03"
    assert await usdt(h, acct) == wallet - D("0.03")  # the one-way wallet moves by the net
    await assert_fold(h, acct)

    # the same funding time asked again (a hand-made command): neither wallet nor books move
    item = await h.send(acct, "send_order", symbol=PERP, side="buy", order_type="market",
                        qty="0.001")  # fmt: skip
    assert item["ok"], item
    await h.drain(acct)
    wallet = await usdt(h, acct)
    async with h.store.transaction() as conn:
        again_id = await command_store.insert_command(conn, NewCommand(
            account_id=acct, command_type="funding", request_id="funding:again",
            client_order_id=None, content_hash="x", payload=dict(command["payload"]),
            api_key_id=None, user_id=None, created_at=at(FUNDING_MS, 30)))  # fmt: skip
    await h.drain(acct, housekeeping=False)
    repeated = await h.command(again_id)
    assert repeated["status"] == "completed"
    assert repeated["result"]["already_applied"] is True
    assert await usdt(h, acct) == wallet
    async with h.store.read() as conn:
        assert len(await books.deals_of_account(conn, acct)) == 2 + 2 + 1  # fills + funding + buy
    await assert_fold(h, acct)


async def test_no_funding_when_off_late_or_flat(harness: Callable[..., Harness]) -> None:
    h = harness()
    acct = await open_long_and_short(h)
    async with h.store.transaction() as conn:
        off = PaperSettings(funding_interval_seconds=0)
        assert await enqueue_due(conn, off, Venue(), at(FUNDING_MS, 10)) == (None, set())
        late = await enqueue_due(conn, PAPER, Venue(), at(FUNDING_MS, 301))  # market was down
        assert late == (FUNDING_MS, set())
    flat = await h.account("hedge")  # no open position: no command
    async with h.store.transaction() as conn:
        _, queued = await enqueue_due(conn, PAPER, Venue(), at(FUNDING_MS + 28_800_000, 1))
    assert acct in queued
    assert flat not in queued
    assert await funding_commands(h, flat) == []


async def test_a_crash_after_the_venue_charged_books_its_marks_once(
    harness: Callable[..., Harness],
) -> None:
    """The venue charges in a transaction of its own, before the books record: a worker killed
    between the two leaves the wallet charged and the command running. The command's next run
    asks the venue again, which charges nothing and answers with the marks it charged at, so
    the books get their deals once, at those marks (not at the price of the retry)."""
    h = harness()
    acct = await open_long_and_short(h)
    wallet = await usdt(h, acct)
    async with h.store.transaction() as conn:
        await enqueue_due(conn, PAPER, Venue(), at(FUNDING_MS, 10))
    (command,) = await funding_commands(h, acct)
    rt = await h.runtime(acct)
    rates = {str(k): D(str(v)) for k, v in dict(command["payload"]["rates"]).items()}
    # what the killed worker did before dying: the venue's charge, nothing of the books
    assert (await rt.venue.apply_funding(FUNDING_MS, rates))[PERP] == D("50000")
    assert await usdt(h, acct) == wallet - D("0.03")
    await h.price(PERP, "60000")  # the market moved before the command ran again
    assert await h.drain(acct, housekeeping=False) == 1
    done = await h.command(int(command["id"]))
    assert done["status"] == "completed", done
    assert done["result"]["deals"] == 2
    assert done["result"]["amount"] == "-0.03"  # at the charged marks, 50000
    async with h.store.read() as conn:
        rows = [dict(r) for r in (await conn.execute(select(deals).where(
            deals.c.account_id == acct, deals.c.reason == "funding"))).mappings()]
    assert sorted(D(r["pnl"]) for r in rows) == [D("-0.05"), D("0.02")]
    assert {D(r["price"]) for r in rows} == {D("50000")}
    assert await usdt(h, acct) == wallet - D("0.03")  # charged once
    await assert_fold(h, acct)
