"""One step of a held account's queue, as the worker's account task and the tests run it: a
batch of sends in one joined transaction when the venue can join it (`joined`; shared with the
worker's other accounts by a group commit, `group`), else the oldest command the classic way
(claim -> execute)."""

from __future__ import annotations

import asyncio

from apps.oms.ports import JoinableVenuePort, implements
from apps.oms.service.execution import dispatch, joined
from apps.oms.service.execution.group import GroupCommit
from apps.oms.service.execution.runtime import AccountRuntime


def joinable(rt: AccountRuntime) -> JoinableVenuePort | None:
    """The account's venue if its calls can join the record transaction (fault-free paper) and
    joined batches are on (`worker.batch_size` > 0)."""
    venue = rt.venue
    if rt.settings.batch_size <= 0:
        return None
    return venue if implements(venue, JoinableVenuePort) and venue.joinable() else None


async def run_next(
    rt: AccountRuntime, stop: asyncio.Event, group: GroupCommit | None = None
) -> bool:
    """Run the next unit of the account's queue; False when nothing is unfinished. With a
    `group`, a joined batch is recorded together with the worker's other ready accounts."""
    venue = joinable(rt)
    if venue is not None:
        limit = rt.settings.batch_size
        if group is not None:
            done = await group.run_batch(rt, venue, limit)
        else:
            done = await joined.run_batch(rt, venue, limit)
        if done is None:
            return False
        if done:
            return True
    cmd = await dispatch.claim(rt)
    if cmd is None:
        return False
    await dispatch.execute(rt, cmd, stop)
    return True
