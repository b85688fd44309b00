"""The gate between the plan and the adapters: the tally kept across calls, the clock's skew
set and cleared with the plan, orders hidden only from a client's request and only for a
while, and the stream hub skipping or dropping events as the plan says."""

from __future__ import annotations

import asyncio
from typing import Any

from apps.paper.wire.fault_gate import SERVING, FaultGate
from apps.paper.wire.fault_plan import Fault, FaultPlan
from apps.paper.wire.streams import DROPPED, Streams


class Clock:
    def __init__(self) -> None:
        self.skew_ms = 0
        self.now = 1_000

    def __call__(self) -> int:
        return self.now + self.skew_ms


def test_the_tally_runs_across_calls_and_restarts_with_a_plan() -> None:
    gate = FaultGate(Clock())
    gate.set(FaultPlan((Fault("unavailable", count=1),)))
    assert gate.request("GET", "/api/v3/account").refusal is not None
    assert gate.request("GET", "/api/v3/account").refusal is None
    assert gate.show()["faults"][0]["hits"] == 1
    gate.set(FaultPlan((Fault("unavailable", count=1),)))
    assert gate.request("GET", "/api/v3/account").refusal is not None


def test_skew_is_set_with_the_plan_and_cleared_with_it() -> None:
    clock = Clock()
    gate = FaultGate(clock)
    gate.set(FaultPlan(skew_ms=2500))
    assert clock() == 3500
    gate.set(FaultPlan())  # no skew given: the clock stays as it is
    assert clock.skew_ms == 2500
    gate.clear()
    assert (clock.skew_ms, gate.show()["skew_ms"], gate.show()["faults"]) == (0, 0, [])


def test_an_order_is_hidden_from_requests_only_and_for_a_while() -> None:
    clock = Clock()
    gate = FaultGate(clock)
    gate.hide("7-1", 500)
    assert not gate.is_hidden("7-1")  # the venue's own bookkeeping sees it
    token = SERVING.set(True)
    try:
        assert gate.is_hidden("7-1")
        clock.now += 499
        assert gate.is_hidden("7-1")
        clock.now += 1
        assert not gate.is_hidden("7-1")
        assert not gate.is_hidden("7-2")
    finally:
        SERVING.reset(token)


async def test_streams_skip_and_drop_events_as_the_gate_says() -> None:
    gate = FaultGate(Clock())
    streams = Streams(Clock(), gate.event)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    streams.subscribe(1, lambda event: event, queue)
    gate.set(FaultPlan((Fault("stream_skip", count=1), Fault("stream_drop", count=1))))
    await streams.publish(2, [{"n": 0}])  # another account's: nobody listens, nothing drawn
    await streams.publish(1, [{"n": 1}, {"n": 2}])
    assert queue.get_nowait() is DROPPED  # n=1 skipped; n=2 closed the stream instead
    assert queue.empty()
    assert not streams.subscribers


async def test_the_venues_own_work_runs_outside_requests_and_stops_with_it() -> None:
    gate = FaultGate(Clock())
    seen: list[bool] = []

    async def work() -> None:
        seen.append(SERVING.get())
        await asyncio.sleep(60)

    token = SERVING.set(True)
    try:
        gate.spawn(work())
    finally:
        SERVING.reset(token)
    await asyncio.sleep(0.01)
    assert seen == [False]
    await gate.close()
    assert not gate._tasks
