"""A process's queue for the sequencer's state row (`sequencer.Line`): one turn at a time, held
until the transaction's block has ended, a bounded wait that gives up without keeping the
turn, and a turn handed on when its holder fails or is cancelled. No speed is asserted: waits
that must end have a generous deadline, the wait that must give up is tiny."""

from __future__ import annotations

import asyncio

import pytest

from apps.oms.store import sequencer

GENEROUS = 60.0


async def until(condition: object) -> None:
    async def poll() -> None:
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0)

    await asyncio.wait_for(poll(), GENEROUS)


async def test_one_turn_at_a_time_released_when_the_block_ends() -> None:
    line = sequencer.Line()
    order: list[str] = []
    release_first = asyncio.Event()

    async def first() -> None:
        async with line.place() as place:
            assert await place.take(GENEROUS)
            order.append("first takes")
            await release_first.wait()
            order.append("first ends")

    async def second() -> None:
        async with line.place() as place:
            assert await place.take(GENEROUS)
            order.append("second takes")

    one = asyncio.create_task(first())
    await until(lambda: order == ["first takes"])
    two = asyncio.create_task(second())
    await until(lambda: line.waiting == 1)
    assert order == ["first takes"]  # the second waits for the whole of the first's block
    release_first.set()
    await asyncio.wait_for(asyncio.gather(one, two), GENEROUS)
    assert order == ["first takes", "first ends", "second takes"]
    assert line.waiting == 0


async def test_a_bounded_wait_gives_up_without_keeping_the_turn() -> None:
    line = sequencer.Line()
    async with line.place() as holder:
        assert await holder.take()
        async with line.place() as late:
            assert not await late.take(0.001)
            assert not late.held
        assert line.waiting == 0
    # the holder's block ended: the turn is free again, the one that gave up kept nothing
    async with line.place() as place:
        assert await place.take(GENEROUS)


async def test_taking_twice_holds_once() -> None:
    line = sequencer.Line()
    async with line.place() as place:
        assert await place.take()
        assert await place.take()
    async with line.place() as again:
        assert await again.take(GENEROUS)


async def test_a_failed_block_hands_the_turn_on() -> None:
    line = sequencer.Line()
    with pytest.raises(RuntimeError):
        async with line.place() as place:
            assert await place.take()
            raise RuntimeError("rolled back")
    async with line.turn():  # the sequencer's own round gets it
        assert line.waiting == 0


async def test_a_cancelled_waiter_hands_the_turn_on() -> None:
    line = sequencer.Line()
    got: list[str] = []

    async def waiter(name: str) -> None:
        async with line.place() as place:
            if await place.take(GENEROUS):
                got.append(name)

    async with line.turn():
        cancelled = asyncio.create_task(waiter("cancelled"))
        served = asyncio.create_task(waiter("served"))
        await until(lambda: line.waiting == 2)
        cancelled.cancel()
    await asyncio.wait_for(served, GENEROUS)
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert got == ["served"]
    assert line.waiting == 0
