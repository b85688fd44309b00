"""Bybit v5 endpoints over the paper engine (unified account: linear perpetuals in one-way or
hedge mode per account, `switch-mode`; and spot):
each parses with `bybit_v5`, makes one call of `PaperVenue` (or the shared market data),
answers with `bybit_v5` / `bybit_account`, and hands `order` / `execution` / `position` /
`wallet` topic messages to the stream hub."""

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
from apps.paper.wire import bybit_account as acct
from apps.paper.wire import bybit_v5 as v5
from apps.paper.wire.binance_spot import market_id
from apps.paper.wire.bybit_signing import BybitError, params_error
from apps.paper.wire.spot_handlers import Call, Publish

Json = Any
COINS = ("USDT", "BTC", "ETH", "SOL")
LINEAR = ("linear",)


class BybitHandlers:
    """The `/v5` endpoints of one served venue."""

    def __init__(self, markets: Mapping[str, Market], data: PaperMarketData,
                 publish: Publish) -> None:  # fmt: skip
        self.listed = v5.listed(markets.values())
        self.markets = self.listed["linear"]  # what the admin's `BTCUSDT` names
        self.by_symbol = {m.symbol: m for c in self.listed.values() for m in c.values()}
        self.data = data
        self.publish = publish

    # --- public ------------------------------------------------------------------------------

    async def instruments(self, call: Call) -> Json:
        category = v5.category_of(call.params)
        chosen = self._chosen(call)
        if call.params.get("status") not in (None, "", "Trading"):
            chosen = []  # nothing pre-launch or settling here
        entry = v5.instrument_json if category == "linear" else v5.spot_instrument_json
        return {"category": category, "list": [entry(m) for m in chosen],
                "nextPageCursor": ""}  # fmt: skip

    async def tickers(self, call: Call) -> Json:
        category = v5.category_of(call.params)
        rows = []
        for m in self._chosen(call):
            candles = await self.data.fetch_ohlcv(m.symbol, "1h", call.now_ms - 86_400_000, 24)
            rows.append(v5.ticker_json(m, await self.data.fetch_ticker(m.symbol), candles,
                                       call.now_ms))  # fmt: skip
        return {"category": category, "list": rows}

    async def orderbook(self, call: Call) -> Json:
        market = v5.market_of(call.params, self.listed)
        limit = v5.int_param(call.params, "limit", 25 if market.is_swap else 1, 500
                             if market.is_swap else 200)  # fmt: skip
        book = await self.data.fetch_order_book(market.symbol, limit)
        quote = await self.data.quote(market.symbol)
        return v5.orderbook_json(market, book, quote.seq, call.now_ms)

    async def kline(self, call: Call) -> Json:
        market = v5.market_of(call.params, self.listed)
        timeframe = v5.INTERVALS.get(call.params.get("interval", ""))
        if timeframe is None:
            raise params_error("interval invalid")
        limit = v5.int_param(call.params, "limit", 200, 1000)
        start = call.params.get("start")
        end = call.params.get("end")
        rows = await self.data.fetch_ohlcv(market.symbol, timeframe,
                                           int(start) if start else None, limit)  # fmt: skip
        return {"category": call.params["category"], "symbol": market_id(market),
                "list": v5.kline_rows(rows, int(end) if end else None)}  # fmt: skip

    def _chosen(self, call: Call, allowed: tuple[str, ...] = v5.CATEGORIES) -> list[Market]:
        """The market `symbol` names in `category`, else all of the category's."""
        if call.params.get("symbol"):
            return [v5.market_of(call.params, self.listed, allowed)]
        return list(self.listed[v5.category_of(call.params, allowed)].values())

    # --- account -----------------------------------------------------------------------------

    async def query_api(self, call: Call) -> Json:
        """GET /v5/user/query-api: this key is a unified-trading-account key."""
        account_id = call.account.account_id
        return {"id": str(account_id), "note": "paper", "apiKey": "", "readOnly": 0,
                "secret": "", "permissions": {"ContractTrade": ["Order", "Position"],
                                              "Spot": ["SpotTrade"], "Wallet": [],
                                              "Options": [], "Derivatives": [],
                                              "CopyTrading": [], "BlockTrade": [],
                                              "Exchange": [], "NFT": []},
                "ips": ["*"], "type": 1, "deadlineDay": -1, "expiredAt": "",
                "createdAt": "", "unified": 0, "uta": 1, "userID": account_id,
                "inviterID": 0, "vipLevel": "No VIP", "mktMakerLevel": "0",
                "affiliateID": 0, "rsaPublicKey": "", "isMaster": True}  # fmt: skip

    async def account_info(self, call: Call) -> Json:
        return {"unifiedMarginStatus": 5, "marginMode": "REGULAR_MARGIN",
                "isMasterTrader": False, "spotHedgingStatus": "OFF",
                "updatedTime": str(call.now_ms), "dcpStatus": "OFF", "timeWindow": 10,
                "smpGroup": 0}  # fmt: skip

    async def coin_info(self, call: Call) -> Json:
        """GET /v5/asset/coin/query-info: the coins, with no deposit or withdrawal chains."""
        return {"rows": [{"name": c, "coin": c, "remainAmount": "0", "chains": []}
                         for c in COINS]}  # fmt: skip

    async def wallet_balance(self, call: Call) -> Json:
        if call.params.get("accountType", "") != "UNIFIED":
            raise BybitError(10001, "accountType only support UNIFIED.")
        venue = call.account
        positions = await self.positions_of(venue, list(self.markets.values()), call.now_ms)
        return {"list": [acct.wallet_json(await venue.fetch_balance(), positions)]}

    async def fee_rate(self, call: Call) -> Json:
        return {"category": call.params.get("category"), "list": [
            {"symbol": market_id(m), "makerFeeRate": str(m.maker_fee),
             "takerFeeRate": str(m.taker_fee)} for m in self._chosen(call)]}  # fmt: skip

    # --- positions ---------------------------------------------------------------------------

    async def positions_of(self, venue: PaperVenue, markets: list[Market],
                           now_ms: int) -> list[Json]:  # fmt: skip
        """One row per symbol in one-way mode, one per side (positionIdx 1, 2) in hedge mode."""
        held = {(p["symbol"], p["info"]["position_side"]): p
                for p in await venue.fetch_positions([m.symbol for m in markets])}  # fmt: skip
        sides = ("long", "short") if (await venue.fetch_position_mode())["hedged"] else ("both",)
        rows = []
        for m in markets:
            leverage = (await venue.fetch_leverage(m.symbol))["longLeverage"]
            mark = (await self.data.quote(m.symbol)).last
            rows += [acct.position_json(m, held.get((m.symbol, side)), leverage, mark, now_ms,
                                        side) for side in sides]  # fmt: skip
        return rows

    async def position_list(self, call: Call) -> Json:
        if call.params.get("category") == "inverse":  # none listed, so none held
            return {"category": "inverse", "list": [], "nextPageCursor": ""}
        v5.category_of(call.params, LINEAR)
        if not call.params.get("symbol") and not call.params.get("settleCoin"):
            raise params_error("symbol or settleCoin is required")
        rows = await self.positions_of(call.account, self._chosen(call, LINEAR), call.now_ms)
        if not call.params.get("symbol"):
            rows = [r for r in rows if r["side"]]  # by settle coin: the open ones only
        return {"category": "linear", "list": rows, "nextPageCursor": ""}

    async def set_leverage(self, call: Call) -> Json:
        market = v5.market_of(call.params, self.listed, LINEAR)
        buy, sell = call.params.get("buyLeverage", ""), call.params.get("sellLeverage", "")
        if not buy or buy != sell:
            raise BybitError(10001, "buy leverage must equal sell leverage in one-way mode")
        value = v5.decimal_param(call.params, "buyLeverage") or Decimal(0)
        if value != value.to_integral_value() or not 1 <= value <= v5.MAX_LEVERAGE:
            raise BybitError(10001, "leverage invalid")
        current = (await call.account.fetch_leverage(market.symbol))["longLeverage"]
        if current == int(value):
            raise BybitError(110043, "Set leverage not modified")
        await call.account.set_leverage(int(value), market.symbol)
        return {}

    async def switch_mode(self, call: Call) -> Json:
        """POST /v5/position/switch-mode: merged single (0) or both sides (3). The engine keeps
        the mode per account, so a `symbol` or `coin` switches every linear symbol. The mode
        it has is 110025; a switch with a position open is 110024, with an open order 110028."""
        v5.category_of(call.params, LINEAR)
        wanted = v5.POSITION_MODE.mode_of(call.params.get("mode", ""))
        if wanted is None:
            raise params_error("mode invalid")
        hedged = wanted == HEDGE
        if (await call.account.fetch_position_mode())["hedged"] == hedged:
            raise BybitError(110025, "Position mode is not modified")
        try:
            await call.account.set_position_mode(hedged)
        except ccxt.BadRequest as exc:
            if ORDERS_EXIST in str(exc):
                raise BybitError(110028, "Open orders exist, so you cannot change position "
                                         "mode") from exc  # fmt: skip
            raise BybitError(110024, "You have an existing position, so position mode cannot "
                                     "be switched") from exc  # fmt: skip
        return {}
