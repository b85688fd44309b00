"""Good-till-date orders the venue works, cancelled by the worker that owns the account once their
date has passed (`domain/good_till_date.py`).

The account's runtime knows its earliest date (`AccountRuntime.next_expiry`): read by the first
housekeeping round of the account's task (so also by a worker that took the account over),
moved earlier by each such send. A round before that date costs nothing; a round at or after it
reads the due orders (one indexed read) and cancels each on the venue as any cancel does
(`cancel.cancel_one`); the venue's answer is recorded as `EXPIRED` (`results.adopt`), with what
filled before it. A cancel that fails (the venue unreachable) leaves the order due, so the next
round tries again, and after a kill of the owner the next owner's round does. A queued send
whose date passed before it ran is never sent (`send.expire_unsent`).
"""

from __future__ import annotations

from apps.oms.clock import utcnow
from apps.oms.domain.good_till_date import look_due
from apps.oms.service.execution.cancel import cancel_one
from apps.oms.service.execution.runtime import AccountRuntime
from apps.oms.store import order_records


async def expire_due(rt: AccountRuntime) -> int:
    """Cancel the account's good-till-date orders whose date has passed; how many ended."""
    now = utcnow()
    if not look_due(rt.expiry_known, rt.next_expiry, now):
        return 0
    async with rt.store.read() as conn:
        due = await order_records.due_to_expire(conn, rt.account_id, now)
    ended = 0
    for row in due:
        item = await cancel_one(rt, None, int(row["id"]))
        ended += bool(item.get("ok"))
    async with rt.store.read() as conn:
        rt.next_expiry = await order_records.next_expiry(conn, rt.account_id)
    rt.expiry_known = True
    return ended
