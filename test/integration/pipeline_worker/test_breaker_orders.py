"""A tripped loss breaker takes its scope's opening orders off the venue
(`service/execution/breaker_orders.py`), through the worker's own housekeeping round: the
opening limit order is cancelled on the paper venue and in the books, the reduce-only exit
keeps working, and a trip whose cancels a dead worker never made is finished by the next
round (level-triggered), on SQLite and MariaDB."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from apps.oms.clock import utcnow
from apps.oms.domain.risk import RiskLimits
from apps.oms.service import breakers
from apps.oms.store import risk as risk_store
from apps.oms.store.tables import loss_breakers, outbox
from apps.paper.store.tables import paper_orders

from .conftest import Harness
from .test_commands import assert_fold

pytestmark = pytest.mark.mysql
SYMBOL = "BTC/USDT:USDT"


async def limit(h: Harness, acct: int, side: str, price: str, **extra: Any) -> int:
    item = await h.send(acct, "send_order", symbol=SYMBOL, side=side, order_type="limit",
                        qty="0.001", price=price, **extra)  # fmt: skip
    assert item["ok"], item
    return int(item["order_id"])


async def venue_status(h: Harness, order_id: int) -> str:
    client_order_id = (await h.order(order_id))["client_order_id"]
    async with h.store.read() as conn:
        return str((await conn.execute(select(paper_orders.c.status).where(
            paper_orders.c.client_order_id == client_order_id))).scalar_one())  # fmt: skip


async def long_with_orders(h: Harness, breaker: str) -> tuple[int, int, int]:
    """A netting account with a loss breaker of `breaker`, long 0.001 at 50,000, a resting
    opening buy at 30,000 and a resting reduce-only exit at 60,000."""
    acct = await h.account("netting")
    async with h.store.transaction() as conn:
        await risk_store.put_limits(conn, acct, 0, RiskLimits(loss_breaker=Decimal(breaker)),
                                    utcnow())  # fmt: skip
    breakers.WATCH_LIST.clear()  # the limits were just set
    await h.price(SYMBOL, "50000")
    item = await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market",
                        qty="0.001")  # fmt: skip
    assert item["ok"], item
    await h.drain(acct)
    position_id = (await h.order(item["order_id"]))["position_id"]
    opening = await limit(h, acct, "buy", "30000")
    exit_ = await limit(h, acct, "sell", "60000", reduce_only=True, position_id=position_id)
    await h.drain(acct)
    assert [(await h.order(i))["status"] for i in (opening, exit_)] == ["SUBMITTED", "SUBMITTED"]
    return acct, opening, exit_


async def test_a_trip_cancels_the_opening_orders_on_the_venue_and_keeps_the_exits(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct, opening, exit_ = await long_with_orders(h, breaker="5")
    await h.price(SYMBOL, "44000")  # 6 down on 0.001: past the limit of 5
    await h.drain(acct)  # the worker's round: watch trips, then the opening order goes
    assert (await h.order(opening))["status"] == "CANCELED"
    assert await venue_status(h, opening) == "canceled"
    assert (await h.order(exit_))["status"] == "SUBMITTED"
    assert await venue_status(h, exit_) == "open"
    async with h.store.read() as conn:
        names = [r[0] for r in await conn.execute(select(outbox.c.event).where(
            outbox.c.account_id == acct).order_by(outbox.c.id))]  # fmt: skip
    tripped_at = names.index("loss_breaker_tripped")
    assert "order_canceled" in names[tripped_at:], names
    await h.drain(acct)  # nothing more to take off
    assert (await h.order(exit_))["status"] == "SUBMITTED"
    await assert_fold(h, acct)


async def test_a_trip_whose_cancels_were_never_made_is_finished_by_the_next_round(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct, opening, exit_ = await long_with_orders(h, breaker="1000")
    # the trip committed by a worker that died before its cancels
    async with h.store.transaction() as conn:
        tripped = await conn.execute(update(loss_breakers).where(
            loss_breakers.c.account_id == acct, loss_breakers.c.strategy_id == 0).values(
            state="halted", rule="loss_breaker", limit_value=Decimal(1000),
            value=Decimal(1000), tripped_at=utcnow(), updated_at=utcnow()))  # fmt: skip
        assert tripped.rowcount == 1  # the watch armed it while the orders were placed
    await h.drain(acct)
    assert (await h.order(opening))["status"] == "CANCELED"
    assert await venue_status(h, opening) == "canceled"
    assert (await h.order(exit_))["status"] == "SUBMITTED"
