"""Binance USDⓈ-M endpoints over the paper engine (one-way or hedge position mode, per
account: `/fapi/v1/positionSide/dual`): each parses with
`binance_usdm`, makes one call of `PaperVenue` (or the shared market data), answers with
`binance_usdm`, and hands `ORDER_TRADE_UPDATE` / `ACCOUNT_UPDATE` events to the stream hub."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from apps.oms.domain.markets import Market
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.paper.domain.position_mode import ORDERS_EXIST
from apps.paper.domain.state import HEDGE
from apps.paper.exchange.market_data import PaperMarketData
from apps.paper.exchange.venue import PaperVenue
from apps.paper.wire import binance_spot as spot
from apps.paper.wire import binance_usdm as usdm
from apps.paper.wire.signing import WireError, mandatory
from apps.paper.wire.spot_handlers import Call, Publish, SpotHandlers
from apps.paper.wire.streams import fills_by_order

Json = Any
MARGIN_TYPES = {"ISOLATED": "isolated", "CROSSED": "cross"}


def futures_error(exc: Exception, not_found: str = spot.NO_ORDER) -> WireError:
    """Binance futures' answer to a paper refusal (margin, not balance, is what runs out)."""
    if isinstance(exc, ccxt.InsufficientFunds):
        return WireError(400, -2019, usdm.MARGIN_FUNDS)
    if isinstance(exc, ccxt.OrderImmediatelyFillable):
        return WireError(400, -5022, "Due to the order could not be executed as maker, the Post "
                                     "Only order will be rejected. The order will not be "
                                     "recorded in the order history")  # fmt: skip
    return spot.error_of(exc, not_found)


class UsdmHandlers(SpotHandlers):
    """The `/fapi` endpoints of one served venue (public data as on spot, over the swaps)."""

    def __init__(self, markets: Mapping[str, Market], data: PaperMarketData,
                 publish: Publish) -> None:  # fmt: skip
        super().__init__({}, data, publish)
        self.markets = usdm.usdm_markets(markets.values())
        self.by_symbol = {m.symbol: m for m in self.markets.values()}

    async def exchange_info(self, call: Call) -> Json:
        return usdm.exchange_info(self.markets, call.now_ms)

    async def leverage_bracket(self, call: Call) -> Json:
        chosen = ([spot.market_of(call.params, self.markets)] if call.params.get("symbol")
                  else list(self.markets.values()))  # fmt: skip
        rows = [usdm.bracket_json(m, await call.account.fetch_market_leverage_tiers(m.symbol))
                for m in chosen]  # fmt: skip
        return rows[0] if call.params.get("symbol") else rows

    # --- orders ------------------------------------------------------------------------------

    async def new_order(self, call: Call) -> Json:
        venue = call.account
        hedged = bool((await venue.fetch_position_mode())["hedged"])
        order_call = usdm.order_call(call.params, self.markets, hedged)
        try:
            order = await venue.create_order(order_call.market.symbol, order_call.type,
                                              order_call.side, order_call.qty, order_call.price,
                                              order_call.params)  # fmt: skip
        except Exception as exc:
            raise futures_error(exc) from exc
        market = order_call.market
        events = [usdm.order_update(order, market, call.now_ms, execution="NEW", status="NEW",
                                    cum_qty=Decimal(0))]  # fmt: skip
        events += self._fill_updates(order, market, list(order.get("trades") or ()), call.now_ms)
        await self._changed(venue, events, [market])
        return usdm.order_json(order, market)

    async def modify_order(self, call: Call) -> Json:
        """PUT /fapi/v1/order: a resting LIMIT order's quantity and price, in place (same
        orderId; an amended price that crosses takes at once, as a new order would)."""
        market = spot.market_of(call.params, self.markets)
        qty, price = (spot.decimal_param(call.params, n) for n in ("quantity", "price"))
        if qty is None or price is None:
            raise mandatory("quantity" if qty is None else "price")
        order = await self._find(call, market, spot.NO_ORDER)
        if qty == order["amount"] and price == order["price"]:
            raise WireError(400, -5027, "No need to modify the order.")
        spot.check_filters(spot.OrderCall(market, "limit", order["side"], qty, price), None)
        try:
            amended = await call.account.edit_order(order["id"], market.symbol, "limit",
                                                    order["side"], qty, price)  # fmt: skip
        except Exception as exc:
            raise futures_error(exc, spot.UNKNOWN_ORDER) from exc
        events = [usdm.order_update(amended, market, call.now_ms, execution="AMENDMENT")]
        events += self._fill_updates(amended, market, list(amended.get("trades") or ()),
                                     call.now_ms)  # fmt: skip
        await self._changed(call.account, events, [market])
        return usdm.order_json(amended, market)

    async def query_order(self, call: Call) -> Json:
        market = spot.market_of(call.params, self.markets)
        return usdm.order_json(await self._find(call, market, spot.NO_ORDER), market)

    async def cancel_order(self, call: Call) -> Json:
        market = spot.market_of(call.params, self.markets)
        order = await self._find(call, market, spot.UNKNOWN_ORDER)
        try:
            canceled = await call.account.cancel_order(order["id"], market.symbol)
        except Exception as exc:
            raise futures_error(exc, spot.UNKNOWN_ORDER) from exc
        await self._changed(call.account, [usdm.order_update(canceled, market, call.now_ms,
                                                             execution="CANCELED")], [market])  # fmt: skip
        return usdm.order_json(canceled, market)

    async def cancel_all(self, call: Call) -> Json:
        market = spot.market_of(call.params, self.markets)
        canceled = await call.account.cancel_all_orders(market.symbol)
        if canceled:
            await self._changed(call.account, [usdm.order_update(o, market, call.now_ms,
                                execution="CANCELED") for o in canceled], [market])  # fmt: skip
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    async def open_orders(self, call: Call) -> Json:
        market = (spot.market_of(call.params, self.markets) if call.params.get("symbol")
                  else None)  # fmt: skip
        orders = await call.account.fetch_open_orders(market.symbol if market else None)
        return [usdm.order_json(o, self.by_symbol[o["symbol"]]) for o in orders
                if o["symbol"] in self.by_symbol]  # fmt: skip

    async def all_orders(self, call: Call) -> Json:
        market = spot.market_of(call.params, self.markets)
        start, end, limit = self._window(call.params)
        orders = await call.account.fetch_orders(market.symbol, start)
        rows = [usdm.order_json(o, market) for o in orders]
        rows = [r for r in rows if end is None or r["time"] <= end]
        return rows[-limit:]

    async def user_trades(self, call: Call) -> Json:
        market = spot.market_of(call.params, self.markets)
        start, end, limit = self._window(call.params)
        trades = await call.account.fetch_my_trades(market.symbol, start)
        rows = [usdm.trade_json(t, market) for t in trades]
        return [r for r in rows if end is None or r["time"] <= end][-limit:]

    # --- account and positions ---------------------------------------------------------------

    async def positions(self, call: Call, markets: list[Market] | None = None) -> list[Json]:
        venue = call.account
        wanted = markets or ([spot.market_of(call.params, self.markets)]
                             if call.params.get("symbol") else list(self.markets.values()))  # fmt: skip
        held = {(p["symbol"], p["info"]["position_side"]): p
                for p in await venue.fetch_positions([m.symbol for m in wanted])}  # fmt: skip
        sides = ("long", "short") if (await venue.fetch_position_mode())["hedged"] else ("both",)
        rows = []
        for m in wanted:
            leverage = await venue.fetch_leverage(m.symbol)
            mark = (await self.data.quote(m.symbol)).last
            rows += [usdm.position_json(m, held.get((m.symbol, side)), leverage["longLeverage"],
                                        leverage["marginMode"], mark, call.now_ms, side)
                     for side in sides]  # fmt: skip
        return rows

    async def position_risk(self, call: Call) -> Json:
        return await self.positions(call)

    async def account_info(self, call: Call) -> Json:
        balance = await call.account.fetch_balance()
        return usdm.account_json(balance, await self.positions(call), call.now_ms)

    async def balance(self, call: Call) -> Json:
        balance = await call.account.fetch_balance()
        positions = await self.positions(call)
        unrealized = sum((Decimal(p["unRealizedProfit"]) for p in positions), Decimal(0))
        return [usdm.asset_json(balance, unrealized, call.now_ms)]

    async def leverage(self, call: Call) -> Json:
        market = spot.market_of(call.params, self.markets)
        value = spot.int_param(call.params, "leverage")
        if value is None:
            raise mandatory("leverage")
        try:
            await call.account.set_leverage(value, market.symbol)
        except ccxt.BaseError as exc:
            raise WireError(400, -4028, f"Leverage {value} is not valid") from exc
        return {"leverage": value, "maxNotionalValue": "250000", "symbol": spot.market_id(market)}

    async def margin_type(self, call: Call) -> Json:
        market = spot.market_of(call.params, self.markets)
        wanted = MARGIN_TYPES.get(call.params.get("marginType", "").upper())
        if wanted is None:
            raise WireError(400, -1116 if call.params.get("marginType") else -1102,
                            "Invalid marginType.")  # fmt: skip
        current = (await call.account.fetch_margin_mode(market.symbol))["marginMode"]
        if current == wanted:
            raise WireError(400, -4046, "No need to change margin type.")
        try:
            await call.account.set_margin_mode(wanted, market.symbol)
        except ccxt.BadRequest as exc:
            code = -4048 if "position" in str(exc) else -4047
            raise WireError(400, code, "Margin type cannot be changed if there exists position."
                            if code == -4048 else "Margin type cannot be changed if there "
                            "exists open orders.") from exc  # fmt: skip
        return {"code": 200, "msg": "success"}

    async def symbol_config(self, call: Call) -> Json:
        """GET /fapi/v1/symbolConfig: margin type and leverage per symbol."""
        chosen = ([spot.market_of(call.params, self.markets)] if call.params.get("symbol")
                  else list(self.markets.values()))  # fmt: skip
        rows = []
        for m in chosen:
            leverage = await call.account.fetch_leverage(m.symbol)
            rows.append({"symbol": spot.market_id(m),
                         "marginType": "ISOLATED" if leverage["marginMode"] == "isolated"
                         else "CROSSED", "isAutoAddMargin": False,
                         "leverage": leverage["longLeverage"], "maxNotionalValue": "250000"})  # fmt: skip
        return rows

    async def commission_rate(self, call: Call) -> Json:
        """GET /fapi/v1/commissionRate (the market's maker and taker rates)."""
        m = spot.market_of(call.params, self.markets)
        return {"symbol": spot.market_id(m), "makerCommissionRate": str(m.maker_fee),
                "takerCommissionRate": str(m.taker_fee), "rpiCommissionRate": "0"}  # fmt: skip

    async def position_side_get(self, call: Call) -> Json:
        return {"dualSidePosition": bool((await call.account.fetch_position_mode())["hedged"])}

    async def position_side_set(self, call: Call) -> Json:
        """POST /fapi/v1/positionSide/dual: the account's mode for every symbol; the mode it
        has is -4059, a switch with a position open -4068, with an open order -4067."""
        wanted = usdm.POSITION_MODE.mode_of(call.params.get("dualSidePosition", ""))
        if wanted is None:
            raise mandatory("dualSidePosition")
        hedged = wanted == HEDGE
        if (await call.account.fetch_position_mode())["hedged"] == hedged:
            raise WireError(400, -4059, "No need to change position side.")
        try:
            await call.account.set_position_mode(hedged)
        except ccxt.BadRequest as exc:
            if ORDERS_EXIST in str(exc):
                raise WireError(400, -4067, "Position side cannot be changed if there exists "
                                            "open orders.") from exc  # fmt: skip
            raise WireError(400, -4068, "Position side cannot be changed if there exists "
                                        "position.") from exc  # fmt: skip
        return {"code": 200, "msg": "success"}

    # --- events ------------------------------------------------------------------------------

    async def after_match(self, venue: PaperVenue, fills: list[dict[str, Any]],
                          now_ms: int) -> None:  # fmt: skip
        by_order = fills_by_order(fills, self.by_symbol)
        events: list[Json] = []
        markets: list[Market] = []
        for order_id, trades in by_order.items():
            order = await venue.fetch_order(order_id)
            market = self.by_symbol[order["symbol"]]
            markets.append(market)
            events += self._fill_updates(order, market, trades, now_ms)
        if events:
            await self._changed(venue, events, markets)

    async def venue_canceled(self, venue: PaperVenue, order: Json, now_ms: int,
                             expired: bool) -> None:  # fmt: skip
        """The venue canceled or expired an open order itself: one ORDER_TRADE_UPDATE."""
        kind = "EXPIRED" if expired else "CANCELED"
        market = self.by_symbol[order["symbol"]]
        await self._changed(venue, [usdm.order_update(order, market, now_ms, execution=kind,
                                                      status=kind)], [market])  # fmt: skip

    def _fill_updates(self, order: Json, market: Market, trades: list[Json],
                      now_ms: int) -> list[Json]:  # fmt: skip
        done = order["filled"] - sum((t["amount"] for t in trades), Decimal(0))
        events = []
        for i, trade in enumerate(trades):
            done += trade["amount"]
            last = i == len(trades) - 1 and order["status"] != "canceled"
            status = None if last else ("FILLED" if done == order["amount"] else
                                        "PARTIALLY_FILLED")  # fmt: skip
            events.append(usdm.order_update(order, market, now_ms, execution="TRADE",
                                            status=status, trade=trade, cum_qty=done))  # fmt: skip
        if order["status"] == "canceled":
            events.append(usdm.order_update(order, market, now_ms, execution="EXPIRED",
                                            status="EXPIRED"))  # fmt: skip
        return events

    async def _changed(self, venue: PaperVenue, events: list[Json],
                       markets: list[Market] | None = None) -> None:  # fmt: skip
        balance = await venue.fetch_balance()
        call = Call({}, venue.clock(), venue)
        positions = await self.positions(call, markets or list(self.markets.values()))
        await self.publish(venue.account_id,
                           [*events, usdm.account_update(balance, positions, venue.clock())])
