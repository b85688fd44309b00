"""An account's paper venue as the wire serves it: the order faults of the venue's plan applied
beneath every dialect's handlers (they only see what a real venue would show them).

- an order invisible for a while after creation: reads of a client's request do not find it
  (`fetch_order` raises OrderNotFound, which each dialect already renders its way; lists leave
  it out, and the fill lists that show each fill's order, Bybit's and OKX's, its fills too:
  `shown_fills`);
- a marketable order filled in parts over time: placed waiting (the engine's fill latency),
  then filled part by part by the engine (`PaperVenue.fill_part`), each part's events
  published by the dialect as a match's are."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from decimal import ROUND_DOWN, Decimal
from typing import Any

from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.paper.exchange.structures import Structure
from apps.paper.exchange.venue import PaperVenue, Params
from apps.paper.wire.fault_gate import FaultGate
from apps.paper.wire.fault_plan import OrderFaults

FillsHook = Callable[[PaperVenue, list[Structure], int], Awaitable[None]]
#: a partly filled order still waits this long past its last part, should the venue's task
#: not finish it (the engine then executes the rest at the next match)
GRACE_MS = 60_000
log = logging.getLogger(__name__)


class FaultyVenue(PaperVenue):
    gate: FaultGate | None = None
    on_fills: FillsHook | None = None

    async def create_order(self, symbol: str, type: str, side: str, amount: Decimal,
                           price: Decimal | None = None,
                           params: Params | None = None) -> Structure:  # fmt: skip
        if self.gate is None:
            return await super().create_order(symbol, type, side, amount, price, params)
        faults = self.gate.order()
        latency = faults.over_ms + GRACE_MS if faults.parts > 1 else None
        order = await self._create(symbol, type, side, amount, price, params or {}, None,
                                   fill_latency_ms=latency)  # fmt: skip
        if faults.hidden_ms:
            self.gate.hide(order["id"], faults.hidden_ms)
        if faults.parts > 1 and order["status"] == "open" and not order["filled"]:
            self.gate.spawn(self._fill_in_parts(order, faults))
        return order

    async def _fill_in_parts(self, order: Structure, faults: OrderFaults) -> None:
        """Part i of n at i/n of the span; each part a lot-size multiple, the last the rest."""
        step = self._market(order["symbol"]).amount_step
        qty = Decimal(order["amount"])
        part = max(step, (qty / faults.parts / step).to_integral_value(ROUND_DOWN) * step)
        pause = faults.over_ms / faults.parts / 1000
        for i in range(1, faults.parts + 1):
            await self._sleep(pause)
            try:
                fills = await self.fill_part(order["id"], qty if i == faults.parts else part)
            except ccxt.BaseError:
                return  # canceled or done meanwhile
            except Exception:  # the venue's own task: keep serving, say why
                log.exception("filling %s in parts failed", order["id"])
                return
            if fills and self.on_fills is not None:
                await self.on_fills(self, fills, self.clock())

    async def fetch_order(self, id: str, symbol: str | None = None,
                          params: Params | None = None) -> Structure:  # fmt: skip
        order = await super().fetch_order(id, symbol, params)
        if self._hidden(order):
            raise ccxt.OrderNotFound(f"paper order {id or order['clientOrderId']!r} not found")
        return order

    async def fetch_orders(self, symbol: str | None = None, since: int | None = None,
                           limit: int | None = None,
                           params: Params | None = None) -> list[Structure]:  # fmt: skip
        return self._visible(await super().fetch_orders(symbol, since, limit, params))

    async def fetch_open_orders(self, symbol: str | None = None, since: int | None = None,
                                limit: int | None = None,
                                params: Params | None = None) -> list[Structure]:  # fmt: skip
        return self._visible(await super().fetch_open_orders(symbol, since, limit, params))

    def _hidden(self, order: Structure) -> bool:
        return self.gate is not None and self.gate.is_hidden(str(order["id"]))

    def _visible(self, orders: list[Any]) -> list[Structure]:
        return [o for o in orders if not self._hidden(o)]


async def shown_fills(venue: PaperVenue, symbol: str, since: int | None,
                      order_id: str | None = None) -> list[tuple[Structure, Structure]]:  # fmt: skip
    """The account's fills of `symbol` since `since` (of one order, given `order_id`), each with
    its order, as a client's fill list sees them: the fills of an order the venue keeps out of
    sight are left out with it (`shown_order`; each order is asked once)."""
    orders: dict[str, Structure | None] = {}
    shown: list[tuple[Structure, Structure]] = []
    for trade in await venue.fetch_my_trades(symbol, since):
        if order_id and trade["order"] != order_id:
            continue
        if trade["order"] not in orders:
            orders[trade["order"]] = await shown_order(venue, trade["order"], symbol)
        order = orders[trade["order"]]
        if order is not None:
            shown.append((trade, order))
    return shown


async def shown_order(venue: PaperVenue, order_id: str, symbol: str) -> Structure | None:
    """The order of a fill as a client's request sees it: None while the venue keeps it out of
    sight (a dialect's fill list then leaves its fills out with it)."""
    try:
        return await venue.fetch_order(order_id, symbol)
    except ccxt.OrderNotFound:
        return None
