"""The served venue's faults at run time: the plan the operator set, what it has done so far,
and the orders kept out of sight. The adapters ask it what a request, an order or a stream
event meets (`fault_plan` decides); it keeps the tally between calls."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from contextvars import ContextVar
from typing import Any, Protocol

from apps.paper.wire import fault_plan as fp
from apps.paper.wire.fault_plan import FaultPlan, OrderFaults, RequestFaults, Tally

#: True while a client's REST request is handled: only then is an order hidden (the venue's
#: own bookkeeping, e.g. the events of a match, still sees every order)
SERVING: ContextVar[bool] = ContextVar("serving_a_request", default=False)


class SkewedClock(Protocol):
    skew_ms: int

    def __call__(self) -> int: ...


class FaultGate:
    def __init__(self, clock: SkewedClock) -> None:
        self.clock = clock
        self.plan = FaultPlan()
        self.tally = Tally()
        self.hidden: dict[str, int] = {}  # order id -> shown again at (venue ms)
        self._tasks: set[asyncio.Task[None]] = set()

    def set(self, plan: FaultPlan) -> None:
        """Replace the plan (counts start again); its `skew_ms`, when given, sets the clock."""
        self.plan, self.tally = plan, Tally()
        if plan.skew_ms is not None:
            self.clock.skew_ms = plan.skew_ms

    def clear(self) -> None:
        """No faults, no skew, every order visible."""
        self.set(FaultPlan(skew_ms=0))
        self.hidden.clear()

    def show(self) -> dict[str, Any]:
        """The plan, the clock's skew now and each fault's hits so far (the admin's GET)."""
        shown = fp.plan_json(self.plan)
        hits = self.tally.hits + (0,) * (len(self.plan.faults) - len(self.tally.hits))
        for fault, count in zip(shown["faults"], hits, strict=True):
            fault["hits"] = count
        return {**shown, "skew_ms": self.clock.skew_ms, "hidden_orders": len(self.hidden)}

    def request(self, method: str, path: str) -> RequestFaults:
        faults, self.tally = fp.on_request(self.plan, self.tally, fp.endpoint_kind(method, path))
        return faults

    def order(self) -> OrderFaults:
        faults, self.tally = fp.on_order(self.plan, self.tally)
        return faults

    def event(self) -> str:
        what, self.tally = fp.on_event(self.plan, self.tally)
        return what

    def hide(self, order_id: str, ms: int) -> None:
        now = self.clock()
        self.hidden = {k: until for k, until in self.hidden.items() if until > now}
        self.hidden[order_id] = now + ms

    def is_hidden(self, order_id: str) -> bool:
        """Whether a client's request must not see the order yet."""
        until = self.hidden.get(order_id)
        if until is None or not SERVING.get():
            return False
        if self.clock() >= until:
            del self.hidden[order_id]
            return False
        return True

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run the venue's own later work (fills in parts) beside the requests, outside any
        request's context; kept referenced until done."""
        task = asyncio.get_running_loop().create_task(_unserved(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop the venue's own later work (the venue is stopping)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _unserved(work: Coroutine[Any, Any, None]) -> None:
    SERVING.set(False)
    await work
