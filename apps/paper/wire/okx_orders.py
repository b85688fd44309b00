"""OKX v5 trade endpoints over the paper engine: place (one, or a batch as CCXT sends it by
default), amend, cancel (one, a batch), order details by `ordId` or `clOrdId`, pending and
history lists, fills; and the private channels' pushes (`orders` with each fill's fields,
`positions`, `account`) of what each change did."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apps.oms.domain.markets import Market
from apps.paper.domain.rules import closes
from apps.paper.exchange.venue import PaperVenue
from apps.paper.wire import okx_account as acct
from apps.paper.wire import okx_v5 as v5
from apps.paper.wire.binance_spot import OrderCall, seq_of
from apps.paper.wire.fault_venue import shown_fills
from apps.paper.wire.okx_handlers import OkxCall, OkxHandlers, hedged
from apps.paper.wire.okx_signing import OkxError
from apps.paper.wire.streams import fills_by_order

Json = Any
#: OKX's batch maximum (20 orders a request)
BATCH_MAX = 20
LIST_LIMIT = 100
NOT_FOUND = OkxError(51603, "Order does not exist")


def event(channel: str, market: Market | None, rows: list[Json]) -> Json:
    """One push for the stream hub: the channel, the instrument it concerns, its rows (each
    connection frames it with the `arg` of every subscription it matches)."""
    return {"channel": channel, "instType": v5.inst_type(market) if market else "",
            "instId": v5.inst_id(market) if market else "", "data": rows}  # fmt: skip


def _done(order: Json, call: OkxCall, message: str) -> Json:
    return {"ordId": str(order["id"]), "clOrdId": order.get("clientOrderId") or "", "tag": "",
            "ts": str(call.now_ms), "sCode": "0", "sMsg": message}  # fmt: skip


def _answer(results: list[Json]) -> Json:
    """A trade request's `data`: all placed; else OKX's code 1 (all failed) or 2 (some)."""
    failed = [r for r in results if r["sCode"] != "0"]
    if failed and len(failed) == len(results):
        raise OkxError(1, "All operations failed", items=results)
    if failed:
        raise OkxError(2, "Batch operation partially succeeded", items=results)
    return results


class OkxTrading(OkxHandlers):
    """The trade endpoints on top of the public and account ones."""

    # --- placing, amending, canceling ----------------------------------------------------------

    async def place_order(self, call: OkxCall) -> Json:
        return _answer([await self._place(call, call.params)])

    async def batch_orders(self, call: OkxCall) -> Json:
        entries = self._entries(call)
        return _answer([await self._place(call, e) for e in entries])

    async def _place(self, call: OkxCall, params: Mapping[str, str]) -> Json:
        try:
            oc, mode = v5.order_call(params, self.listed, await hedged(call.account))
            if oc.market.is_swap:
                await self.switch_margin_mode(call.account, oc.market, mode, 51000)
            if oc.params.get("reduceOnly") or closes(oc.side, oc.params.get("positionSide", "")):
                await self._reducible(call.account, oc)
            order = await call.account.create_order(oc.market.symbol, oc.type, oc.side, oc.qty,
                                                    oc.price, oc.params)  # fmt: skip
        except Exception as exc:
            return v5.item_error(v5.error_of(exc), params, call.now_ms)
        await self._changed(call.account, [(order, list(order.get("trades") or ()))],
                            call.now_ms)  # fmt: skip
        return _done(order, call, "Order placed")

    @staticmethod
    async def _reducible(venue: PaperVenue, oc: OrderCall) -> None:
        """OKX refuses an order that can only reduce (`reduceOnly`, or a long/short mode close:
        sell long, buy short) with no position to reduce on the other side of it, in its own
        `posSide` in long/short mode (51169), where the engine would place and cancel it."""
        side = oc.params.get("positionSide", "both")
        held = [p for p in await venue.fetch_positions([oc.market.symbol])
                if p["info"]["position_side"] == side]  # fmt: skip
        closing = "sell" if held and held[0]["side"] == "long" else "buy" if held else None
        if oc.side != closing:
            raise OkxError(51169, "Order failed because you don't have any positions in this "
                                  "direction for this contract to reduce or close.")  # fmt: skip

    async def amend_order(self, call: OkxCall) -> Json:
        """POST /api/v5/trade/amend-order: a resting limit order's `newSz` and `newPx`, in
        place (51503 when it is not open)."""
        try:
            market, order = await self._order(call.account, call.params)
            if order["status"] != "open":
                raise OkxError(51503, "Order modification failed as the order does not exist.")
            qty = v5.decimal_param(call.params, "newSz") or order["amount"]
            price = v5.decimal_param(call.params, "newPx") or order["price"]
            if qty == order["amount"] and price == order["price"]:
                raise v5.param_error("newSz", "newSz or newPx must change the order")
            v5.check_limits(OrderCall(market, "limit", order["side"], qty, price))
            amended = await call.account.edit_order(order["id"], market.symbol, "limit",
                                                    order["side"], qty, price)  # fmt: skip
        except Exception as exc:
            return _answer([v5.item_error(v5.error_of(exc), call.params, call.now_ms)])
        await self._changed(call.account, [(amended, list(amended.get("trades") or ()))],
                            call.now_ms)  # fmt: skip
        return _answer([{**_done(amended, call, ""), "reqId": call.params.get("reqId", "")}])

    async def cancel_order(self, call: OkxCall) -> Json:
        return _answer([await self._cancel(call, call.params)])

    async def cancel_batch(self, call: OkxCall) -> Json:
        return _answer([await self._cancel(call, e) for e in self._entries(call)])

    async def _cancel(self, call: OkxCall, params: Mapping[str, str]) -> Json:
        """One cancel: 51400 when the order is not open (filled, canceled or unknown)."""
        try:
            market, order = await self._order(call.account, params)
            if order["status"] != "open":
                raise OkxError(51400, "Order cancellation failed as the order has been filled, "
                                      "canceled or does not exist.")  # fmt: skip
            canceled = await call.account.cancel_order(order["id"], market.symbol)
        except OkxError as exc:
            code = 51400 if exc.code == 51603 else exc.code
            return v5.item_error(OkxError(code, exc.msg), params, call.now_ms)
        except Exception as exc:
            return v5.item_error(v5.error_of(exc), params, call.now_ms)
        await self._changed(call.account, [(canceled, [])], call.now_ms)
        return _done(canceled, call, "")

    def _entries(self, call: OkxCall) -> list[dict[str, str]]:
        if not call.items:
            raise OkxError(50002, "Json data format error: a batch request takes a JSON array")
        if len(call.items) > BATCH_MAX:
            raise OkxError(51111, f"Maximum {BATCH_MAX} orders can be placed in bulk.")
        return call.items

    # --- lookups ---------------------------------------------------------------------------------

    async def get_order(self, call: OkxCall) -> Json:
        """GET /api/v5/trade/order: one order in any state by `ordId` or `clOrdId` (51603)."""
        market, order = await self._order(call.account, call.params)
        return [await self._order_row(call.account, order, market)]

    async def _order(self, venue: PaperVenue, params: Mapping[str, str]) -> tuple[Market, Json]:
        """The order `ordId` / `clOrdId` names on `instId` (51603 when there is none)."""
        market = v5.market_of(params, self.listed)
        order_id, lookup = v5.order_ref(params)
        try:
            order = await venue.fetch_order(order_id, market.symbol, lookup)
        except Exception as exc:
            raise v5.error_of(exc) from exc
        if order["symbol"] != market.symbol:
            raise NOT_FOUND
        return market, order

    async def _order_row(self, venue: PaperVenue, order: Json, market: Market) -> Json:
        if not market.is_swap:
            return acct.order_json(order, market)
        lev = await venue.fetch_leverage(market.symbol)
        return acct.order_json(order, market, lev["marginMode"], int(lev["longLeverage"]))

    async def orders_pending(self, call: OkxCall) -> Json:
        """GET /api/v5/trade/orders-pending: open orders, newest first, at most `limit` (100) a
        page; `after` an `ordId`: the page of the orders placed before it (OKX's pagination)."""
        before = _seq_param(call.params, "after")
        rows = []
        for m in v5.chosen(call.params, self.listed):
            for o in await call.account.fetch_open_orders(m.symbol):
                if before is None or seq_of(str(o["id"])) < before:
                    rows.append(await self._order_row(call.account, o, m))
        rows.sort(key=lambda r: seq_of(r["ordId"]), reverse=True)  # the same ms: newest first
        return self._newest(rows, call.params, "cTime")

    async def orders_history(self, call: OkxCall) -> Json:
        """GET /api/v5/trade/orders-history (and -archive): finished orders, newest first, by
        `instType` (required), `instId`, `state`, `ordType`, `begin`/`end`."""
        begin, end = v5.time_param(call.params, "begin"), v5.time_param(call.params, "end")
        state, kind = call.params.get("state", ""), call.params.get("ordType", "")
        rows = []
        for m in v5.chosen(call.params, self.listed, required_type=True):
            for o in await call.account.fetch_orders(m.symbol, begin):
                if o["status"] == "open":
                    continue
                row = await self._order_row(call.account, o, m)
                if (not state or row["state"] == state) and (not kind or row["ordType"] == kind):
                    rows.append(row)
        rows = [r for r in rows if end is None or int(r["cTime"]) <= end]
        return self._newest(rows, call.params, "cTime")

    async def fills(self, call: OkxCall) -> Json:
        """GET /api/v5/trade/fills and fills-history: fills, newest first, by `instType`,
        `instId`, `ordId`, `begin`/`end`."""
        begin, end = v5.time_param(call.params, "begin"), v5.time_param(call.params, "end")
        rows = []
        for m in v5.chosen(call.params, self.listed):
            shown = await shown_fills(call.account, m.symbol, begin, call.params.get("ordId"))
            rows += [acct.fill_json(t, order, m) for t, order in shown]
        rows = [r for r in rows if end is None or int(r["ts"]) <= end]
        return self._newest(rows, call.params, "ts")

    async def fills_history(self, call: OkxCall) -> Json:
        v5.inst_type_of(call.params, required=True)
        return await self.fills(call)

    @staticmethod
    def _newest(rows: list[Json], params: Mapping[str, str], key: str) -> list[Json]:
        rows.sort(key=lambda r: int(r[key]), reverse=True)
        return rows[:v5.int_param(params, "limit", LIST_LIMIT, LIST_LIMIT)]

    # --- pushes ----------------------------------------------------------------------------------

    async def after_match(self, venue: PaperVenue, fills: list[dict[str, Any]],
                          now_ms: int) -> None:  # fmt: skip
        by_order = fills_by_order(fills, self.by_symbol)
        if by_order:
            changes = [(await venue.fetch_order(o), trades) for o, trades in by_order.items()]
            await self._changed(venue, changes, now_ms)

    async def venue_canceled(self, venue: PaperVenue, order: Json, now_ms: int,
                             expired: bool) -> None:  # fmt: skip
        """The venue canceled (or expired: OKX has no expired state) an open order itself: its
        `canceled` push on the `orders` channel with `cancelSource` 0, "canceled by system" (a
        client's own cancel says 1), then the account's balance."""
        market = self.by_symbol[order["symbol"]]
        row = {**await self._order_row(venue, order, market), "cancelSource": "0",
               "cancelSourceReason": "Order canceled by system", "uTime": str(now_ms)}
        await self.publish(venue.account_id, [
            event("orders", market, [row]),
            event("account", None, [await self.balance_of(venue, now_ms)])])  # fmt: skip

    async def _changed(self, venue: PaperVenue, changes: list[tuple[Json, list[Json]]],
                       now_ms: int) -> None:  # fmt: skip
        """Push the orders' new states (one push per fill, with its fields), the positions of
        the SWAPs that filled (a closed one as `pos` "0") and the account after."""
        events, filled = [], []
        for order, trades in changes:
            market = self.by_symbol[order["symbol"]]
            row = await self._order_row(venue, order, market)
            pushes = [acct.order_fill_json(row, t) for t in trades] or [row]
            events += [event("orders", market, [p]) for p in pushes]
            if trades and market.is_swap:
                filled.append(market)
        for row in await self.positions_of(venue, list(dict.fromkeys(filled)), now_ms, True):
            events.append(event("positions", self.listed[row["instId"]], [row]))
        events.append(event("account", None, [await self.balance_of(venue, now_ms)]))
        await self.publish(venue.account_id, events)


def _seq_param(params: Mapping[str, str], name: str) -> int | None:
    """An `ordId` parameter as the engine's order sequence (None when absent)."""
    text = params.get(name) or ""
    if not text:
        return None
    try:
        return seq_of(text)
    except (ValueError, IndexError):
        raise v5.param_error(name) from None
