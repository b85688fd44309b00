"""Events built from what the record step just wrote, without reading rows back, must equal the
view of the rows as stored: `command_completed` / `command_failed` (from the claimed command
and the finish values) and `position_*` (from the positions written), on SQLite and MariaDB."""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import select

from apps.oms.service.views import command_view, position_view
from apps.oms.store.tables import commands, outbox, positions

from .conftest import Harness

SYMBOL = "BTC/USDT:USDT"


async def test_finish_events_equal_the_stored_rows(harness: Callable[..., Harness]) -> None:
    h = harness()
    account = await h.account("hedge")
    await h.price(SYMBOL, "50000")
    sent = [
        await h.send(account, "send_order", symbol=SYMBOL, side="buy", order_type="market",
                     qty="0.002", request_id="ev-1"),
        await h.send(account, "send_order", symbol=SYMBOL, side="buy", order_type="limit",
                     qty="0.001", price="40000"),
    ]
    await h.drain(account)
    resting = sent[1]["order_id"]
    sent += [
        await h.send(account, "change_order", order_id=resting, new_price="41000"),
        await h.send(account, "cancel_order", order_id=resting),
        await h.send(account, "cancel_order", order_id=resting),  # fails: already canceled
    ]
    await h.drain(account)
    async with h.store.read() as conn:
        stored = {int(r["id"]): dict(r) for r in (await conn.execute(
            select(commands).where(commands.c.account_id == account))).mappings()}
        events = [(e, p) for e, p in (await conn.execute(
            select(outbox.c.event, outbox.c.payload).where(
                outbox.c.account_id == account, outbox.c.event.like("command_%"))
            .order_by(outbox.c.id)))]
    finished = {int(p["command_id"]): (e, p) for e, p in events}
    assert {c["command_id"] for c in sent if c["command_id"]} <= set(finished)
    assert any(e == "command_failed" for e, _ in finished.values())
    for command_id, (event, payload) in finished.items():
        row = stored[command_id]
        assert event == f"command_{row['status']}"
        expected = json.loads(json.dumps(command_view(row), default=str))
        assert payload == expected, (command_id, payload, expected)


async def test_position_events_equal_the_stored_rows(harness: Callable[..., Harness]) -> None:
    """Position events are built from the positions just written: the last event of each
    position equals the view of its stored row (opens, increases, reductions, a netting
    reversal, merge, close-by, a targets change)."""
    h = harness()
    hedge, netting = await h.account("hedge"), await h.account("netting")
    await h.price(SYMBOL, "50000")
    for side, qty in (("buy", "0.02"), ("buy", "0.02"), ("sell", "0.02")):
        await h.send(hedge, "send_order", symbol=SYMBOL, side=side, order_type="market",
                     qty=qty)
    for side, qty in (("buy", "0.02"), ("buy", "0.01"), ("sell", "0.005"), ("sell", "0.05")):
        await h.send(netting, "send_order", symbol=SYMBOL, side=side, order_type="market",
                     qty=qty)
    await h.drain(hedge)
    await h.drain(netting)
    async with h.store.read() as conn:
        longs = [int(r[0]) for r in await conn.execute(select(positions.c.id).where(
            positions.c.account_id == hedge, positions.c.side == "buy").order_by(positions.c.id))]
        (short,) = [int(r[0]) for r in await conn.execute(select(positions.c.id).where(
            positions.c.account_id == hedge, positions.c.side == "sell"))]
    await h.send(hedge, "merge_positions", source_position_id=longs[0],
                 target_position_id=longs[1])
    await h.send(hedge, "close_by", position_id_a=longs[1], position_id_b=short, qty="0.01")
    await h.send(hedge, "position_change", position_id=longs[1], oms_stop_loss="40000",
                 comment="kept")
    await h.drain(hedge)
    for account in (hedge, netting):
        async with h.store.read() as conn:
            stored = {int(r["id"]): dict(r) for r in (await conn.execute(
                select(positions).where(positions.c.account_id == account))).mappings()}
            events = list(await conn.execute(
                select(outbox.c.event, outbox.c.payload).where(
                    outbox.c.account_id == account, outbox.c.event.like("position_%"))
                .order_by(outbox.c.id)))
        kinds = ("position_opened", "position_updated", "position_closed", "position_changed")
        last = {int(p["position_id"]): p for e, p in events if e in kinds}
        assert set(last) == set(stored)
        for position_id, payload in last.items():
            expected = json.loads(json.dumps(position_view(stored[position_id]), default=str))
            assert payload == expected, (position_id, payload, expected)
