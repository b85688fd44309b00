"""The booking path goes down the floors: load -> decide -> write once -> render -> last writes.

A `sys.setprofile` hook follows the calls the booking modules make into other floors (domain <
store < exchange < service) from `booking.book_report` to the events' numbering, for one market
`send_order`, on the classic path and in a batch; consecutive calls into one floor are one visit,
and a climb is a visit to a higher floor than the one before. The layout before the typed store
boundary climbed 10 times (classic) and 8 (batched); the two left are what load -> decide ->
write -> render needs: the write after the decision and the views rendered after the write
(docs/architecture.md, "The booking path").
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

from .conftest import Harness

PACKAGE = "apps.oms.service.execution."
BOOKING = {PACKAGE + m for m in ("booking", "order_state", "results", "runtime", "sends",
                                 "send", "group")}  # fmt: skip
FLOORS = (("apps.oms.domain", 1), ("apps.oms.store", 2), ("apps.oms.ports", 2),
          ("apps.oms.exchange", 3), ("apps.paper", 3), ("apps.oms.service", 4))  # fmt: skip


def floor(module: str) -> int | None:
    return next((f for prefix, f in FLOORS if module.startswith(prefix)), None)


class Visits:
    """Floor visits of the booking modules' calls, between the booking and the numbering."""

    def __init__(self) -> None:
        self.on = False
        self.visits: list[tuple[int, list[str]]] = []

    def hook(self, frame: FrameType, event: str, _arg: Any) -> None:
        if event != "call":
            return
        module, name = frame.f_globals.get("__name__", ""), frame.f_code.co_name
        if module == PACKAGE + "booking" and name == "book_report":
            self.on = True
        elif module == PACKAGE + "runtime" and name == "number_events":
            self.on = False
        caller = frame.f_back
        if not self.on or caller is None or caller.f_globals.get("__name__") not in BOOKING:
            return
        level = floor(module)
        # generated and trivial calls (dataclass inits, enum properties, closures) are no visit
        if (level is None or module in BOOKING or name.startswith("__") or name == "<lambda>"
                or module == "apps.oms.domain.enums"):  # fmt: skip
            return
        if self.visits and self.visits[-1][0] == level:
            self.visits[-1][1].append(f"{module.rsplit('.', 1)[-1]}.{name}")
        else:
            self.visits.append((level, [f"{module.rsplit('.', 1)[-1]}.{name}"]))

    @property
    def climbs(self) -> int:
        return sum(1 for (a, _), (b, _) in itertools.pairwise(self.visits) if b > a)


@pytest.mark.parametrize("batch", [0, 50], ids=["classic", "batch"])
@pytest.mark.parametrize("mode", ["hedge", "netting"])
async def test_a_market_send_books_without_climbing_back(
    harness: Callable[..., Harness], batch: int, mode: str
) -> None:
    h = harness(batch_size=batch)
    acct = await h.account(mode)
    await h.price("BTC/USDT:USDT", "50000")
    item = await h.send(acct, "send_order", symbol="BTC/USDT:USDT", side="buy",
                        order_type="market", qty="0.001")  # fmt: skip
    assert item["ok"], item
    await h.runtime(acct)
    seen = Visits()
    sys.setprofile(seen.hook)
    try:
        await h.drain(acct, housekeeping=False)
    finally:
        sys.setprofile(None)
    route = [(level, names[0]) for level, names in seen.visits]
    assert (await h.order(item["order_id"]))["status"] == "FILLED"
    # markets -> plan the load -> load -> decide -> hold and write -> render -> last writes
    assert [level for level, _ in route] == [3, 2, 1, 2, 1, 2, 4, 2], route
    assert seen.climbs == 3, route
