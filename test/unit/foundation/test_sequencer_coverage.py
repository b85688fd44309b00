"""The sequencer's wait for a record transaction's numbering (`apps/worker/numbering.py`):
covered only by a numbering whose read started after the kick; out of time or kicked by
something the record transactions do not cover, it runs its round. No speed is asserted:
the waits that must end are bounded by a generous deadline, the grace that must expire is
tiny."""

from __future__ import annotations

import asyncio
import time

from apps.worker.numbering import Coverage

GENEROUS = 60.0


async def test_a_numbering_read_after_the_kick_covers_it() -> None:
    coverage = Coverage(grace=3600.0)
    since = time.monotonic()
    waiting = asyncio.create_task(coverage.covered_since(since))
    await asyncio.sleep(0)
    coverage.numbered(since - 1.0)  # a numbering whose read began before the kick: not enough
    await asyncio.sleep(0)
    assert not waiting.done()
    coverage.numbered(time.monotonic())
    assert await asyncio.wait_for(waiting, GENEROUS) is True


async def test_covered_at_once_when_a_later_numbering_already_committed() -> None:
    coverage = Coverage(grace=0.0)
    since = time.monotonic()
    coverage.numbered(since + 0.001)
    assert await coverage.covered_since(since) is True


async def test_no_numbering_within_the_grace_runs_the_round() -> None:
    coverage = Coverage(grace=0.001)
    assert await asyncio.wait_for(coverage.covered_since(time.monotonic()), GENEROUS) is False


async def test_a_kick_that_numbering_does_not_cover_ends_the_wait() -> None:
    coverage = Coverage(grace=3600.0)
    assert coverage.take_deferrable() is True
    waiting = asyncio.create_task(coverage.covered_since(time.monotonic()))
    await asyncio.sleep(0)
    coverage.kicked_now()
    assert await asyncio.wait_for(waiting, GENEROUS) is False
    assert coverage.take_deferrable() is False  # told once, then starts over
    assert coverage.take_deferrable() is True


async def test_a_transaction_that_wrote_no_events_covers_nothing() -> None:
    """`number_events` reads the unnumbered rows only when its transaction wrote events; one
    that wrote none reports no numbering read, so a kick before it stays uncovered."""
    from apps.oms.service.execution.runtime import numbering_read_at

    coverage = Coverage(grace=0.001)
    since = time.monotonic()
    coverage.numbered(numbering_read_at(0))
    assert await asyncio.wait_for(coverage.covered_since(since), GENEROUS) is False
    coverage.numbered(numbering_read_at(3))  # wrote events: its numbering read comes after
    assert await asyncio.wait_for(coverage.covered_since(since), GENEROUS) is True
