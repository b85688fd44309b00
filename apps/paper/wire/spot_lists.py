"""Binance spot's OCO order lists over the paper engine: each leg is an engine order, the list
(`binance_lists.OrderList`) is the dialect's own record (`order_lists`). The legs are one
reservation group of the engine: they hold the list's funds once, and the moment one executes
or triggers the engine ends the other, which the list then shows and reports as EXPIRED (after
every match, and a cancel by the venue itself); a cancel of either leg cancels both."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from apps.oms.domain.markets import Market
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.paper.domain import ledger
from apps.paper.exchange.market_data import PaperMarketData
from apps.paper.exchange.venue import PaperVenue
from apps.paper.wire import binance_lists as lists
from apps.paper.wire import binance_spot as spot
from apps.paper.wire.binance_events import execution_report, new_order_reports
from apps.paper.wire.order_lists import OrderLists
from apps.paper.wire.signing import WireError
from apps.paper.wire.spot_handlers import MAX_LIMIT, Call, Publish, SpotHandlers

Json = Any


def no_list() -> WireError:
    return WireError(400, -2013, lists.UNKNOWN_LIST)


class SpotListHandlers(SpotHandlers):
    """The `/api/v3` endpoints with Binance's OCO order lists."""

    def __init__(self, markets: Mapping[str, Market], data: PaperMarketData, publish: Publish,
                 order_lists: OrderLists) -> None:  # fmt: skip
        super().__init__(markets, data, publish)
        self.lists = order_lists

    def _shown(self, venue: PaperVenue, order: spot.Json) -> spot.Json:
        return lists.shown(order, self.lists.of_order(venue.account_id, order["id"]))

    def _list_id(self, venue: PaperVenue, order_id: str) -> int:
        return self.lists.list_id_of(venue.account_id, order_id)

    # --- placing -------------------------------------------------------------------------------

    async def new_oco(self, call: Call) -> Json:
        """POST /api/v3/orderList/oco: both legs checked (shapes, filters, the price relation,
        client ids, funds) before either is placed, the below leg first."""
        venue = call.account
        market = spot.market_of(call.params, self.markets)
        quote = await self.data.quote(market.symbol)
        oco = lists.oco_call(call.params, self.markets, quote.last)
        await self._check_placeable(venue, oco)
        list_id = self.lists.new_id(venue.account_id)
        placed: list[Json] = []
        try:
            for leg in oco.legs:
                params = {**leg.params, "reserveGroup": str(list_id)}  # one reservation
                placed.append(await venue.create_order(market.symbol, leg.type, leg.side,
                                                       leg.qty, leg.price, params))  # fmt: skip
        except Exception as exc:  # a refusal the checks could not foresee (a concurrent order)
            for order in placed:
                with contextlib.suppress(ccxt.BaseError):
                    await venue.cancel_order(order["id"], market.symbol)
            raise spot.error_of(exc) from exc
        order_list = lists.OrderList(list_id, oco.list_client_id, market.symbol,
                                     (placed[0]["id"], placed[1]["id"]), call.now_ms)  # fmt: skip
        await self.lists.add(venue.account_id, order_list)
        legs = [lists.shown(o, order_list) for o in placed]
        await self._changed(venue, [e for o in legs
                                    for e in new_order_reports(o, market, call.now_ms)])  # fmt: skip
        return lists.oco_json(order_list, legs, market, oco.resp_type)

    async def _check_placeable(self, venue: PaperVenue, oco: lists.OcoCall) -> None:
        """-2010 for a list or leg client id in use, or funds short of what the list holds: the
        largest of its legs' reservations (the legs share it, as on Binance)."""
        if self.lists.find(venue.account_id, None, oco.list_client_id) is not None:
            raise WireError(400, -2010, "Duplicate order sent.")
        for leg in oco.legs:
            try:
                await venue.fetch_order("", None, {"clientOrderId": leg.params["clientOrderId"]})
            except ccxt.OrderNotFound:
                continue
            raise WireError(400, -2010, "Duplicate order sent.")
        free = (await venue.fetch_balance())["free"]
        held: dict[str, Decimal] = {}
        for leg in oco.legs:
            amount, currency = ledger.reservation(oco.market, leg.side, leg.qty,
                                                  lists.reserve_price(leg), 1, False)  # fmt: skip
            held[currency] = max(held.get(currency, spot.ZERO), amount)
        if any(Decimal(free.get(c) or 0) < amount for c, amount in held.items()):
            raise WireError(400, -2010, spot.NO_FUNDS)

    # --- one cancels the other -----------------------------------------------------------------

    async def after_match(self, venue: PaperVenue, fills: list[dict[str, Any]],
                          now_ms: int) -> None:  # fmt: skip
        await super().after_match(venue, fills, now_ms)
        await self._settle(venue, now_ms)

    async def venue_canceled(self, venue: PaperVenue, order: spot.Json, now_ms: int,
                             expired: bool) -> None:  # fmt: skip
        await super().venue_canceled(venue, order, now_ms, expired)
        await self._settle(venue, now_ms)

    async def _settle(self, venue: PaperVenue, now_ms: int) -> None:
        """Report the leg the engine expired for its executed sibling (EXPIRED); end the open
        leg of a list whose other leg worked (EXPIRED: a list placed without a reservation
        group) or ended unfilled (CANCELED); each with its executionReport."""
        for order_list in self.lists.unsettled(venue.account_id):
            try:
                legs = [await venue.fetch_order(leg) for leg in order_list.legs]
            except ccxt.OrderNotFound:
                continue  # a leg the venue keeps out of sight for now: the next match
            expired = lists.venue_expired(legs) if order_list.expired is None else None
            end = lists.sibling_to_end(legs)
            if expired is not None:  # the other may still be open (a triggered stop limit)
                ended = next(o for o in legs if o["id"] == expired)
                await self._ended(venue, order_list, ended, True, now_ms)
            elif end is not None:
                await self._end_leg(venue, order_list, end[0], end[1], now_ms)
            elif all(o["status"] != "open" for o in legs):
                self.lists.settled(venue.account_id, order_list.list_id)

    async def _end_leg(self, venue: PaperVenue, order_list: lists.OrderList, order_id: str,
                       expire: bool, now_ms: int) -> None:  # fmt: skip
        try:
            ended = await venue.cancel_order(order_id)
        except ccxt.OrderNotFound:
            return  # it ended meanwhile: the next settle sees how
        await self._ended(venue, order_list, ended, expire, now_ms)

    async def _ended(self, venue: PaperVenue, order_list: lists.OrderList, ended: Json,
                     expire: bool, now_ms: int) -> None:  # fmt: skip
        """A leg ended for its sibling: the list done, the leg recorded as expired (when it
        is), its report."""
        order_id = ended["id"]
        self.lists.settled(venue.account_id, order_list.list_id)
        if expire:
            order_list = await self.lists.expired(venue.account_id, order_list, order_id)
        kind = "EXPIRED" if expire else "CANCELED"
        await self._changed(venue, [execution_report(
            lists.shown(ended, order_list), self.by_symbol[ended["symbol"]], now_ms,
            execution=kind, status=kind)])  # fmt: skip

    async def _cancel_legs(self, venue: PaperVenue, order_ids: list[str],
                           now_ms: int) -> list[Json]:  # fmt: skip
        """Cancel the legs still open, one CANCELED report each; the ones canceled."""
        canceled = []
        for order_id in order_ids:
            try:
                canceled.append(self._shown(venue, await venue.cancel_order(order_id)))
            except ccxt.OrderNotFound:
                continue
        if canceled:
            await self._changed(venue, [execution_report(o, self.by_symbol[o["symbol"]], now_ms,
                                                         execution="CANCELED")
                                        for o in canceled])  # fmt: skip
        return canceled

    async def cancel_order(self, call: Call) -> Json:
        """DELETE /api/v3/order: a leg of a list cancels the whole list (Binance's answer for
        the leg named)."""
        market = spot.market_of(call.params, self.markets)
        order = await self._find(call, market, spot.UNKNOWN_ORDER)
        order_list = self.lists.of_order(call.account.account_id, order["id"])
        if order_list is None:
            return await super().cancel_order(call)
        if order["status"] != "open":
            raise WireError(400, -2011, spot.UNKNOWN_ORDER)
        canceled = await self._cancel_legs(call.account, [order["id"], order_list.other(order["id"])],
                                           call.now_ms)  # fmt: skip
        if not canceled or canceled[0]["id"] != order["id"]:
            raise WireError(400, -2011, spot.UNKNOWN_ORDER)
        self.lists.settled(call.account.account_id, order_list.list_id)
        return spot.canceled_json(canceled[0], market, call.now_ms)

    # --- the list endpoints --------------------------------------------------------------------

    async def cancel_order_list(self, call: Call) -> Json:
        """DELETE /api/v3/orderList (`orderListId` or `listClientOrderId`): both legs."""
        market = spot.market_of(call.params, self.markets)
        list_id, client = lists.list_ref(call.params, "listClientOrderId")
        order_list = self.lists.find(call.account.account_id, list_id, client)
        if order_list is None or order_list.symbol != market.symbol:
            raise WireError(400, -2011, spot.UNKNOWN_ORDER)
        if not await self._cancel_legs(call.account, list(order_list.legs), call.now_ms):
            raise WireError(400, -2011, spot.UNKNOWN_ORDER)
        self.lists.settled(call.account.account_id, order_list.list_id)
        legs = await self._legs(call.account, order_list)
        return lists.canceled_list_json(order_list, legs, market, call.now_ms)

    async def query_order_list(self, call: Call) -> Json:
        """GET /api/v3/orderList (`orderListId` or `origClientOrderId`, the list's)."""
        list_id, client = lists.list_ref(call.params, "origClientOrderId")
        order_list = self.lists.find(call.account.account_id, list_id, client)
        if order_list is None:
            raise no_list()
        return await self._list_json(call.account, order_list)

    async def open_order_lists(self, call: Call) -> Json:
        """GET /api/v3/openOrderList: the lists with a leg open."""
        rows = [await self._list_json(call.account, x)
                for x in self.lists.all(call.account.account_id)]  # fmt: skip
        return [r for r in rows if r["listStatusType"] == "EXEC_STARTED"]

    async def all_order_lists(self, call: Call) -> Json:
        """GET /api/v3/allOrderList: `fromId`, else the newest `limit` (500, at most 1000)
        within `startTime` / `endTime`."""
        start, end, limit = self._window(call.params)
        from_id = spot.int_param(call.params, "fromId")
        chosen = [x for x in self.lists.all(call.account.account_id)
                  if (from_id is None or x.list_id >= from_id)
                  and (start is None or x.time_ms >= start) and (end is None or x.time_ms <= end)]  # fmt: skip
        chosen = chosen[:limit] if from_id is not None or start is not None else chosen[-limit:]
        return [await self._list_json(call.account, x) for x in chosen[:MAX_LIMIT]]

    async def _legs(self, venue: PaperVenue, order_list: lists.OrderList) -> list[Json]:
        try:
            return [self._shown(venue, await venue.fetch_order(leg)) for leg in order_list.legs]
        except ccxt.OrderNotFound as exc:
            raise no_list() from exc

    async def _list_json(self, venue: PaperVenue, order_list: lists.OrderList) -> Json:
        legs = await self._legs(venue, order_list)
        return lists.list_json(order_list, legs, self.by_symbol[order_list.symbol])
