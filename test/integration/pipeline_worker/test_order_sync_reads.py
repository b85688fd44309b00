"""Order sync reads only the orders on the venue: a deep queue's orders waiting for their
placement (PENDING_SUBMIT, open, no exchange id) are left out of the housekeeping round's read,
and the oldest of them is read as one value (the polled venues' trade cursor stops there)."""

from __future__ import annotations

from collections.abc import Callable

from apps.oms.store import order_records

from .conftest import Harness

SYMBOL = "BTC/USDT:USDT"


async def test_linked_open_orders_leave_the_queued_ones_out(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    acct, resting = await h.resting_buy(SYMBOL)  # linked: on the venue, resting
    async with h.store.read() as conn:
        assert await order_records.oldest_unlinked_open(conn, acct) is None
    queued = [await h.send(acct, "send_order", symbol=SYMBOL, side="buy", order_type="market",
                           qty="0.001") for _ in range(3)]  # accepted, not run: unlinked
    async with h.store.read() as conn:
        linked = await order_records.linked_open_orders(conn, acct)
        oldest = await order_records.oldest_unlinked_open(conn, acct)
        every = await order_records.open_orders(conn, acct)
    assert [int(r["id"]) for r in linked] == [resting["order_id"]]
    assert linked[0]["exchange_order_id"] is not None
    assert len(every) == 4  # the queued sends' orders are open
    first = next(r for r in every if int(r["id"]) == queued[0]["order_id"])
    assert oldest == min(r["created_at"] for r in every if r["exchange_order_id"] is None)
    assert oldest == first["created_at"]
    assert oldest is not None
    assert oldest.tzinfo is not None  # aware UTC, as the trade cursor needs
    await h.drain(acct)  # the queue runs; the resting order stays the only open one
    async with h.store.read() as conn:
        assert [int(r["id"]) for r in await order_records.linked_open_orders(conn, acct)] == [
            resting["order_id"]]
        assert await order_records.oldest_unlinked_open(conn, acct) is None
