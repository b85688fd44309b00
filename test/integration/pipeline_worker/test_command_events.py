"""`command_completed` / `command_failed` events are built from the claimed command and the values
the finish step wrote, without reading the row back: each must equal the view of the row as
stored, for every kind of command and outcome, on SQLite and MariaDB."""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import select

from apps.oms.service.views import command_view
from apps.oms.store.tables import commands, outbox

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
