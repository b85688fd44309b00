"""A native change (`edit_order`) whose answer does not come back as sent: the books follow the
venue's own order. An amend applied and its answer lost (a timeout) is recorded as done; an
amend run again after such a loss and refused as changing nothing (Bybit's "order remains
unchanged") is done too; an amend not applied is run again, never given up as refused."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from apps.oms.exchange.ccxt_errors import errors as ccxt

from .conftest import Harness
from .test_change_replace import Tweaked, paper_orders, resting_buy


async def resting(harness: Callable[..., Harness]) -> tuple[Harness, int, dict[str, Any], Any]:
    """A netting paper account (the paper venue edits natively) with a resting buy of 0.2 at
    2900: the harness, the account, the send's acceptance and the account's runtime."""
    h = harness()
    acct = await h.account("netting")
    item = await resting_buy(h, acct, "0.2", "2900")
    return h, acct, item, await h.runtime(acct)


async def change(h: Harness, acct: int, item: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """Change the resting buy's price to 2950 and run the worker: (its command, its order)."""
    sent = await h.send(acct, "change_order", order_id=item["order_id"], new_price="2950")
    assert sent["ok"], sent
    await h.drain(acct)
    return await h.command(sent["command_id"]), await h.order(item["order_id"])


async def test_an_amend_applied_whose_answer_was_lost_is_recorded(
    harness: Callable[..., Harness],
) -> None:
    h, acct, item, rt = await resting(harness)
    real = rt.venue.edit_order

    async def edit_order(*args: Any, **kw: Any) -> Any:
        await real(*args, **kw)  # applied on the venue
        raise ccxt.RequestTimeout("the answer was lost")

    tweaked = Tweaked(rt.venue, edit_order=edit_order)
    rt.venue = tweaked  # type: ignore[assignment]
    command, order = await change(h, acct, item)
    assert (command["status"], command["attempts"]) == ("completed", 1)
    assert (order["price"], order["edit_replace_state"]) == (Decimal("2950"), "edited")
    assert tweaked.count["edit_order"] == 1  # not sent again
    (on_venue,) = await paper_orders(rt)
    assert Decimal(str(on_venue["price"])) == Decimal("2950")


async def test_an_amend_refused_as_unchanged_after_a_lost_answer_is_recorded(
    harness: Callable[..., Harness],
) -> None:
    h, acct, item, rt = await resting(harness)
    real = rt.venue.edit_order
    calls: list[str] = []

    async def edit_order(*args: Any, **kw: Any) -> Any:
        calls.append("edit")
        if len(calls) == 1:
            await real(*args, **kw)  # applied; its answer lost on a dropped connection
            raise ccxt.NetworkError("connection reset by peer")
        raise ccxt.InvalidOrder("order remains unchanged")  # the second time, as Bybit does

    venue_reads: list[Any] = []
    fetch = rt.venue.fetch_order

    async def fetch_order(*args: Any, **kw: Any) -> Any:
        venue_reads.append(args)
        if len(venue_reads) == 1:
            raise ccxt.ExchangeNotAvailable("the read fails too, this once")
        return await fetch(*args, **kw)

    rt.venue = Tweaked(rt.venue, edit_order=edit_order,  # type: ignore[assignment]
                       fetch_order=fetch_order)
    command, order = await change(h, acct, item)
    assert (command["status"], command["attempts"]) == ("completed", 2), command
    assert (order["price"], order["edit_replace_state"]) == (Decimal("2950"), "edited")
    assert calls == ["edit", "edit"]


async def test_an_amend_not_applied_runs_again(harness: Callable[..., Harness]) -> None:
    h, acct, item, rt = await resting(harness)
    real = rt.venue.edit_order
    calls: list[str] = []

    async def edit_order(*args: Any, **kw: Any) -> Any:
        calls.append("edit")
        if len(calls) == 1:
            raise ccxt.RateLimitExceeded("10006 Too many visits!")  # refused before executing
        return await real(*args, **kw)

    rt.venue = Tweaked(rt.venue, edit_order=edit_order)  # type: ignore[assignment]
    command, order = await change(h, acct, item)
    assert (command["status"], command["attempts"]) == ("completed", 2), command
    assert (order["price"], order["edit_replace_state"]) == (Decimal("2950"), "edited")
    assert calls == ["edit", "edit"]


async def test_an_amend_really_refused_fails_as_before(harness: Callable[..., Harness]) -> None:
    h, acct, item, rt = await resting(harness)

    async def edit_order(*args: Any, **kw: Any) -> Any:
        raise ccxt.InvalidOrder("price out of the band")

    rt.venue = Tweaked(rt.venue, edit_order=edit_order)  # type: ignore[assignment]
    command, order = await change(h, acct, item)
    assert (command["status"], command["error_code"]) == ("failed", "venue_rejected")
    assert order["price"] == Decimal("2900")
