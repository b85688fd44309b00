"""One step of a held account's queue, as the worker's account task and the tests run it: the
sends at the front of the queue as one batch (write ahead, place, record: `sends`), the same
for every venue, else the oldest command the classic way (claim -> execute)."""

from __future__ import annotations

import asyncio

from apps.oms.service.execution import dispatch, sends
from apps.oms.service.execution.group import GroupCommit
from apps.oms.service.execution.runtime import AccountRuntime


async def run_next(
    rt: AccountRuntime, stop: asyncio.Event, group: GroupCommit | None = None
) -> bool:
    """Run the next unit of the account's queue; False when nothing is unfinished. With a
    `group`, a batch's transactions are shared with the worker's other ready accounts."""
    await rt.warm_markets()
    limit = rt.settings.batch_size
    if limit > 0:
        done = await sends.run_batch(rt, limit, group)
        if done is None:
            return False
        if done:
            return True
    cmd = await dispatch.claim(rt)
    if cmd is None:
        return False
    await dispatch.execute(rt, cmd, stop)
    return True
