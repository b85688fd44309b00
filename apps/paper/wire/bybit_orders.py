"""Bybit v5 order, execution and event handlers over the paper engine: create, amend, cancel,
cancel-all, realtime and history lookups, the execution list, and the private-stream topics
(`order`, `execution`, `position`, `wallet`) of what each change did."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from apps.oms.domain.markets import Market
from apps.paper.exchange.venue import PaperVenue
from apps.paper.wire import bybit_account as acct
from apps.paper.wire import bybit_v5 as v5
from apps.paper.wire.binance_spot import OrderCall
from apps.paper.wire.bybit_handlers import BybitHandlers
from apps.paper.wire.bybit_signing import BybitError, params_error
from apps.paper.wire.fault_venue import shown_fills
from apps.paper.wire.spot_handlers import Call
from apps.paper.wire.streams import fills_by_order

Json = Any
HISTORY_LIMIT = (20, 50)
EXECUTION_LIMIT = (50, 100)


def topic(name: str, data: list[Json], now_ms: int) -> Json:
    """One private-stream message: `topic`, `creationTime`, `data` (rows as given: the order,
    execution and position rows carry their `category`)."""
    return {"id": secrets.token_hex(16), "topic": name, "creationTime": now_ms, "data": data}


def category(market: Market) -> str:
    return "linear" if market.is_swap else "spot"


class BybitTrading(BybitHandlers):
    """The order and execution endpoints on top of the public and account ones."""

    async def create_order(self, call: Call) -> Json:
        hedged = bool((await call.account.fetch_position_mode())["hedged"])
        oc = v5.order_call(call.params, self.listed, hedged)
        try:
            order = await call.account.create_order(oc.market.symbol, oc.type, oc.side, oc.qty,
                                                    oc.price, oc.params)  # fmt: skip
        except Exception as exc:
            raise v5.error_of(exc, spot=not oc.market.is_swap) from exc
        await self._changed(call.account, [(order, list(order.get("trades") or ()))],
                            call.now_ms)  # fmt: skip
        return {"orderId": order["id"], "orderLinkId": order["clientOrderId"] or ""}

    async def amend_order(self, call: Call) -> Json:
        """POST /v5/order/amend: a resting Limit order's qty and price, in place."""
        market, order = await self._order(call)
        qty = v5.decimal_param(call.params, "qty") or order["amount"]
        price = v5.decimal_param(call.params, "price") or order["price"]
        if order["status"] != "open":
            raise BybitError(110001, "order not exists or too late to replace")
        if qty == order["amount"] and price == order["price"]:
            raise BybitError(10001, "The order remains unchanged as the parameters entered "
                                    "match the existing ones.")  # fmt: skip
        v5.check_limits(OrderCall(market, "limit", order["side"], qty, price))
        amended = await call.account.edit_order(order["id"], market.symbol, "limit",
                                                order["side"], qty, price)  # fmt: skip
        await self._changed(call.account, [(amended, list(amended.get("trades") or ()))],
                            call.now_ms)  # fmt: skip
        return {"orderId": amended["id"], "orderLinkId": amended["clientOrderId"] or ""}

    async def cancel_order(self, call: Call) -> Json:
        market, order = await self._order(call)
        if order["status"] != "open":
            raise v5.NOT_FOUND
        canceled = await call.account.cancel_order(order["id"], market.symbol)
        await self._changed(call.account, [(canceled, [])], call.now_ms)
        return {"orderId": canceled["id"], "orderLinkId": canceled["clientOrderId"] or ""}

    async def cancel_all(self, call: Call) -> Json:
        chosen = self._chosen(call)
        canceled = []
        for m in chosen:
            canceled += await call.account.cancel_all_orders(m.symbol)
        if canceled:
            await self._changed(call.account, [(o, []) for o in canceled], call.now_ms)
        return {"list": [{"orderId": o["id"], "orderLinkId": o["clientOrderId"] or ""}
                         for o in canceled], "success": "1"}  # fmt: skip

    async def realtime(self, call: Call) -> Json:
        """GET /v5/order/realtime: the open orders, or one order in any state by `orderId` /
        `orderLinkId` (Bybit keeps the last 500 there)."""
        kind = v5.category_of(call.params)
        if call.params.get("orderId") or call.params.get("orderLinkId"):
            try:
                market, order = await self._order(call)
            except BybitError:
                return {"category": kind, "list": [], "nextPageCursor": ""}
            return {"category": kind, "list": [acct.order_json(order, market)],
                    "nextPageCursor": ""}  # fmt: skip
        if kind == "linear" and not (call.params.get("symbol") or call.params.get("settleCoin")
                                     or call.params.get("baseCoin")):  # fmt: skip
            raise params_error("symbol, baseCoin or settleCoin is required")
        rows = []
        for m in self._chosen(call):
            rows += [acct.order_json(o, m) for o in await call.account.fetch_open_orders(m.symbol)]
        rows.sort(key=lambda r: int(r["createdTime"]), reverse=True)
        return {"category": kind, "list": rows, "nextPageCursor": ""}

    async def history(self, call: Call) -> Json:
        """GET /v5/order/history: finished orders, newest first, by `orderStatus`, time."""
        kind = v5.category_of(call.params)
        limit = v5.int_param(call.params, "limit", *HISTORY_LIMIT)
        start, end = self._times(call.params)
        wanted = {s for s in call.params.get("orderStatus", "").split(",") if s}
        rows = []
        for m in self._chosen(call):
            for o in await call.account.fetch_orders(m.symbol, start):
                row = acct.order_json(o, m)
                if o["status"] != "open" and (not wanted or row["orderStatus"] in wanted):
                    rows.append(row)
        rows = [r for r in rows if end is None or int(r["createdTime"]) <= end]
        for key in ("orderId", "orderLinkId"):
            if call.params.get(key):
                rows = [r for r in rows if r[key] == call.params[key]]
        rows.sort(key=lambda r: int(r["createdTime"]), reverse=True)
        return {"category": kind, "list": rows[:limit], "nextPageCursor": ""}

    async def executions(self, call: Call) -> Json:
        """GET /v5/execution/list: fills, newest first."""
        kind = v5.category_of(call.params)
        limit = v5.int_param(call.params, "limit", *EXECUTION_LIMIT)
        start, end = self._times(call.params)
        rows = []
        for m in self._chosen(call):
            shown = await shown_fills(call.account, m.symbol, start, call.params.get("orderId"))
            rows += [acct.execution_json(t, order, m) for t, order in shown]
        rows = [r for r in rows if end is None or int(r["execTime"]) <= end]
        rows.sort(key=lambda r: int(r["execTime"]), reverse=True)
        return {"category": kind, "list": rows[:limit], "nextPageCursor": ""}

    @staticmethod
    def _times(params: Mapping[str, str]) -> tuple[int | None, int | None]:
        found = []
        for name in ("startTime", "endTime"):
            text = params.get(name, "")
            if text and not text.isdigit():
                raise params_error(f"{name} invalid")
            found.append(int(text) if text else None)
        return found[0], found[1]

    async def _order(self, call: Call) -> tuple[Market, Json]:
        """The order `orderId` / `orderLinkId` names (110001 when there is none)."""
        kind = v5.category_of(call.params)
        order_id, lookup = v5.order_ref(call.params)
        symbol = call.params.get("symbol")
        market = v5.market_of(call.params, self.listed) if symbol else None
        try:
            order = await call.account.fetch_order(order_id, market.symbol if market else None,
                                                   lookup)  # fmt: skip
        except Exception as exc:
            raise v5.error_of(exc) from exc
        found = self.by_symbol.get(order["symbol"])
        if found is None or category(found) != kind or (market is not None
                                                        and found is not market):  # fmt: skip
            raise v5.NOT_FOUND
        return found, order

    # --- events ------------------------------------------------------------------------------

    async def after_match(self, venue: PaperVenue, fills: list[dict[str, Any]],
                          now_ms: int) -> None:  # fmt: skip
        by_order = fills_by_order(fills, self.by_symbol)
        if by_order:
            changes = [(await venue.fetch_order(o), trades) for o, trades in by_order.items()]
            await self._changed(venue, changes, now_ms)

    async def venue_canceled(self, venue: PaperVenue, order: Json, now_ms: int,
                             expired: bool) -> None:  # fmt: skip
        """The venue canceled (or expired: Bybit shows no other state for it) an open order
        itself: `Cancelled`, by the venue (`cancelType` CancelByAdmin)."""
        await self._changed(venue, [(order, [])], now_ms, cancel_type="CancelByAdmin")

    async def _changed(self, venue: PaperVenue, changes: list[tuple[Json, list[Json]]],
                       now_ms: int, cancel_type: str | None = None) -> None:  # fmt: skip
        """Publish the orders' new states, their fills, and the positions and wallet after."""
        orders, executions, touched = [], [], []
        for order, trades in changes:
            market = self.by_symbol[order["symbol"]]
            kind: dict[str, str] = {"category": category(market)}
            if cancel_type is not None:
                kind["cancelType"] = cancel_type
            touched.append(market)
            orders.append({**acct.order_json(order, market), **kind})
            executions += [{**acct.execution_json(t, order, market), **kind} for t in trades]
        swaps = [m for m in dict.fromkeys(touched) if m.is_swap]
        positions = await self.positions_of(venue, swaps, now_ms)
        every = await self.positions_of(venue, list(self.markets.values()), now_ms)
        wallet = acct.wallet_json(await venue.fetch_balance(), every)
        events = [topic("order", orders, now_ms)]
        if executions:
            events.append(topic("execution", executions, now_ms))
        if executions and positions:
            events.append(topic("position", [{**p, "entryPrice": p["avgPrice"],
                                              "category": "linear"} for p in positions], now_ms))  # fmt: skip
        events.append(topic("wallet", [wallet], now_ms))
        await self.publish(venue.account_id, events)
