"""A tripped loss breaker takes its scope's opening orders off the venue (decided by
`domain/breakers.to_cancel`): refusing new orders is not enough while a working limit order
can still fill and add to the loss the breaker was set against.

The worker that holds the account runs this in its housekeeping round, right after the watch
that may trip a breaker. It is level-triggered: each pass asks which of the account's working
orders a tripped breaker covers, so a worker that dies between the trip and the cancels leaves
nothing behind (the next owner's first housekeeping pass cancels what is still working). Sends still queued
behind a trip are refused by the re-check (`recheck.py`), not here. Each cancel goes through
`cancel_one`, the venue call and record that `cancel_order` uses, so the books and the
websocket see it as any cancel.
"""

from __future__ import annotations

from apps.oms.domain.breakers import Working, to_cancel
from apps.oms.service.breakers import WATCH_LIST
from apps.oms.service.execution.cancel import cancel_one
from apps.oms.service.execution.runtime import AccountRuntime
from apps.oms.store import breakers as breaker_store
from apps.oms.store import order_records


async def cancel_behind_breakers(rt: AccountRuntime) -> int:
    """Cancel the account's working opening orders in tripped scopes; how many were."""
    if rt.account_id not in await WATCH_LIST.get(rt.store):
        return 0
    async with rt.store.read() as conn:
        tripped = [b for b in await breaker_store.of_account(conn, rt.account_id) if b.tripped]
        if not tripped:
            return 0
        live = await order_records.linked_open_orders(conn, rt.account_id)
    working = [Working(int(o["id"]), int(o["strategy_id"]), bool(o["reduce_only"]))
               for o in live]  # fmt: skip
    cancelled = 0
    for order_id in to_cancel(tripped, working):
        item = await cancel_one(rt, None, order_id)
        cancelled += bool(item.get("ok"))
    return cancelled
