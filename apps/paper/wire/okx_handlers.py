"""OKX v5 public and account endpoints over the paper engine (a single-currency margin account
in net or long/short position mode, the engine's one-way or hedge mode: SPOT and linear SWAP):
each parses with `okx_v5`, makes one call of `PaperVenue` (or the shared market data) and
answers `data` rows with `okx_v5` / `okx_account`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from apps.oms.domain.markets import Market
from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.paper.domain.state import HEDGE
from apps.paper.exchange.market_data import PaperMarketData
from apps.paper.exchange.venue import PaperVenue
from apps.paper.wire import okx_account as acct
from apps.paper.wire import okx_v5 as v5
from apps.paper.wire.bybit_v5 import num
from apps.paper.wire.okx_signing import OkxError
from apps.paper.wire.spot_handlers import Publish

Json = Any
COINS = ("USDT", "BTC", "ETH", "SOL")
CANDLE_LIMIT = 300


async def hedged(venue: PaperVenue) -> bool:
    """Whether the account is in long/short mode (the engine's hedge mode)."""
    return bool((await venue.fetch_position_mode())["hedged"])


@dataclass(frozen=True, slots=True)
class OkxCall:
    """One request as the handlers see it: its parameters (a batch request's entries in
    `items`), the server time, the account's venue (signed endpoints)."""

    params: Mapping[str, str]
    now_ms: int
    venue: PaperVenue | None = None
    items: list[dict[str, str]] = field(default_factory=list)

    @property
    def account(self) -> PaperVenue:
        assert self.venue is not None  # noqa: S101  (signed endpoints only)
        return self.venue


class OkxHandlers:
    """The `/api/v5` public and account endpoints of one served venue."""

    def __init__(self, markets: Mapping[str, Market], data: PaperMarketData,
                 publish: Publish) -> None:  # fmt: skip
        self.listed = v5.listed(markets.values())
        #: what the admin's price call names: the OKX instrument ids and the unified symbols
        self.markets = self.listed
        self.by_symbol = {m.symbol: m for m in self.listed.values()}
        self.data = data
        self.publish = publish

    def swaps(self) -> list[Market]:
        return [m for m in self.listed.values() if m.is_swap]

    # --- public ------------------------------------------------------------------------------

    async def instruments(self, call: OkxCall) -> Json:
        kind = v5.inst_type_of(call.params, required=True)
        rows = [v5.instrument_json(m) for m in v5.chosen(call.params, self.listed, True)]
        return rows if kind in v5.INST_TYPES else []

    async def ticker(self, call: OkxCall) -> Json:
        return [await self.ticker_row(v5.market_of(call.params, self.listed), call.now_ms)]

    async def tickers(self, call: OkxCall) -> Json:
        kind = v5.inst_type_of(call.params, required=True)
        if kind not in v5.INST_TYPES:
            return []
        return [await self.ticker_row(m, call.now_ms)
                for m in self.listed.values() if v5.inst_type(m) == kind]  # fmt: skip

    async def ticker_row(self, m: Market, now_ms: int) -> Json:
        candles = await self.data.fetch_ohlcv(m.symbol, "1h", now_ms - 86_400_000, 24)
        return v5.ticker_json(m, await self.data.fetch_ticker(m.symbol), candles, now_ms)

    async def books(self, call: OkxCall) -> Json:
        market = v5.market_of(call.params, self.listed)
        depth = v5.int_param(call.params, "sz", 1, 400)
        book = await self.data.fetch_order_book(market.symbol, depth)
        quote = await self.data.quote(market.symbol)
        return [v5.books_json(book, quote.seq, call.now_ms)]

    async def candles(self, call: OkxCall) -> Json:
        market = v5.market_of(call.params, self.listed)
        timeframe = v5.BARS.get(call.params.get("bar") or "1m")
        if timeframe is None:
            raise v5.param_error("bar")
        since, after, before, limit = v5.candle_window(call.params, timeframe, CANDLE_LIMIT)
        rows = await self.data.fetch_ohlcv(market.symbol, timeframe, since,
                                           limit if since is not None else limit + 1)  # fmt: skip
        return v5.candle_rows(market, rows, timeframe, after, before, limit, call.now_ms)

    async def trades(self, call: OkxCall) -> Json:
        """GET /api/v5/market/trades (and history-trades): the paper market has no public
        tape, so one synthetic print at the current price."""
        market = v5.market_of(call.params, self.listed)
        return [v5.trade_json(market, t) for t in await self.data.fetch_trades(market.symbol)]

    async def funding_rate(self, call: OkxCall) -> Json:
        market = v5.market_of(call.params, self.listed)
        if not market.is_swap:
            raise OkxError(51015, "Instrument ID does not match instrument type.")
        return [v5.funding_json(market, call.now_ms)]

    async def mark_price(self, call: OkxCall) -> Json:
        rows = []
        for m in v5.chosen(call.params, self.listed, required_type=True):
            rows.append(v5.mark_price_json(m, (await self.data.quote(m.symbol)).last,
                                           call.now_ms))  # fmt: skip
        return rows

    # --- account -----------------------------------------------------------------------------

    async def currencies(self, call: OkxCall) -> Json:
        wanted = {c for c in call.params.get("ccy", "").split(",") if c}
        return [v5.currency_json(c) for c in COINS if not wanted or c in wanted]

    async def config(self, call: OkxCall) -> Json:
        return [acct.config_json(call.account.account_id, await hedged(call.account))]

    async def balance(self, call: OkxCall) -> Json:
        return [await self.balance_of(call.account, call.now_ms)]

    async def balance_of(self, venue: PaperVenue, now_ms: int,
                         coins: set[str] | None = None) -> Json:  # fmt: skip
        positions = await self.positions_of(venue, self.swaps(), now_ms)
        row = acct.balance_json(await venue.fetch_balance(), positions, now_ms)
        if coins:
            row["details"] = [d for d in row["details"] if d["ccy"] in coins]
        return row

    async def positions_of(self, venue: PaperVenue, markets: list[Market], now_ms: int,
                           flat_too: bool = False) -> list[Json]:  # fmt: skip
        """The open positions of `markets`, one per instrument in net mode, one per side in
        long/short mode (with `flat_too`, a `pos` "0" row for each flat one, as the
        `positions` channel pushes a closed position)."""
        held = {(p["symbol"], p["info"]["position_side"]): p
                for p in await venue.fetch_positions([m.symbol for m in markets])}  # fmt: skip
        sides = ("long", "short") if await hedged(venue) else ("both",)
        rows = []
        for m, side in ((m, side) for m in markets for side in sides):
            if (m.symbol, side) in held:
                rows.append(acct.position_json(held[m.symbol, side], m, venue.account_id,
                                               now_ms, side))  # fmt: skip
            elif flat_too:
                lev = await venue.fetch_leverage(m.symbol)
                flat = {"leverage": Decimal(lev["longLeverage"]), "marginMode": lev["marginMode"],
                        "markPrice": (await self.data.quote(m.symbol)).last}  # fmt: skip
                rows.append(acct.position_json(flat, m, venue.account_id, now_ms, side))
        return rows

    async def positions(self, call: OkxCall) -> Json:
        kind = v5.inst_type_of(call.params)
        if kind not in (None, "SWAP"):
            return []
        wanted = {i for i in call.params.get("instId", "").split(",") if i}
        unknown = wanted - set(self.listed)
        if unknown:
            raise OkxError(51001, "Instrument ID does not exist.")
        markets = [m for m in self.swaps() if not wanted or v5.inst_id(m) in wanted]
        return await self.positions_of(call.account, markets, call.now_ms)

    async def leverage_info(self, call: OkxCall) -> Json:
        """GET /api/v5/account/leverage-info: a row per instrument, a row per side (long,
        short) of an isolated SWAP in long/short mode (the engine's one leverage on each)."""
        mode = call.params.get("mgnMode", "")
        if mode not in ("cross", "isolated"):
            raise v5.empty("mgnMode") if not mode else v5.param_error("mgnMode")
        sides = ("long", "short") if mode == "isolated" and await hedged(call.account) else (
            "both",)  # fmt: skip
        rows = []
        for inst in call.params.get("instId", "").split(","):
            market = v5.market_of({"instId": inst}, self.listed)
            lev = await call.account.fetch_leverage(market.symbol) if market.is_swap else None
            lever = int(lev["longLeverage"]) if lev else 1
            rows += [acct.leverage_json(market, lever, mode, side)
                     for side in (sides if market.is_swap else ("both",))]  # fmt: skip
        return rows

    async def set_leverage(self, call: OkxCall) -> Json:
        """POST /api/v5/account/set-leverage: one leverage per SWAP (in long/short mode both
        sides get it: the engine keeps one per instrument, where OKX keeps an isolated
        position's per side); a `posSide` the account's mode does not take is 51000. An
        `mgnMode` other than the instrument's switches it while it is flat without open
        orders (the engine keeps one margin mode per instrument; refused with 59000
        otherwise)."""
        market = v5.market_of(call.params, self.listed)
        mode = call.params.get("mgnMode", "")
        if mode not in ("cross", "isolated"):
            raise v5.empty("mgnMode") if not mode else v5.param_error("mgnMode")
        side = "both"
        if call.params.get("posSide"):
            side = v5.POSITION_MODE.order_side(call.params["posSide"], await hedged(call.account),
                                               v5.pos_side_error())  # fmt: skip
        if not market.is_swap:
            raise v5.param_error("instId", "leverage applies to SWAP instruments here")
        value = v5.decimal_param(call.params, "lever")
        if value is None:
            raise v5.empty("lever")
        if value != value.to_integral_value() or not 1 <= value <= v5.MAX_LEVERAGE:
            raise OkxError(59102, "Leverage exceeds the maximum leverage. Please adjust the "
                                  "leverage")  # fmt: skip
        await self.switch_margin_mode(call.account, market, mode, 59000)
        await call.account.set_leverage(int(value), market.symbol)
        return [acct.leverage_json(market, int(value), mode, side)]

    async def switch_margin_mode(self, venue: PaperVenue, market: Market, mode: str,
                                 code: int) -> None:  # fmt: skip
        current = (await venue.fetch_leverage(market.symbol))["marginMode"]
        if current == mode:
            return
        try:
            await venue.set_margin_mode(mode, market.symbol)
        except Exception as exc:
            raise OkxError(code, f"Your settings failed: {market.symbol} holds a {current} "
                                 f"position or open orders ({exc})") from exc  # fmt: skip

    async def set_position_mode(self, call: OkxCall) -> Json:
        """POST /api/v5/account/set-position-mode: `net_mode` or `long_short_mode`, the
        engine's one-way or hedge mode, for every SWAP of the account; the mode it has is
        answered as set (OKX's own answer); a switch while a SWAP position or open SWAP order
        exists is 59000, as OKX refuses it."""
        mode = call.params.get("posMode", "")
        if not mode:
            raise v5.empty("posMode")
        wanted = v5.POSITION_MODE.mode_of(mode)
        if wanted is None:
            raise v5.param_error("posMode")
        try:
            await call.account.set_position_mode(wanted == HEDGE)
        except ccxt.BadRequest as exc:
            raise OkxError(59000, "Your settings failed as you have positions or open "
                                  "orders.") from exc  # fmt: skip
        return [{"posMode": mode}]

    async def trade_fee(self, call: OkxCall) -> Json:
        """GET /api/v5/account/trade-fee: the instrument type's maker and taker rates (OKX's
        sign: negative is a charge)."""
        kind = v5.inst_type_of(call.params, required=True)
        found = [m for m in self.listed.values() if v5.inst_type(m) == kind]
        if call.params.get("instId"):
            found = [v5.market_of(call.params, self.listed)]
        if not found:
            return []
        m = found[0]
        maker, taker = num(-m.maker_fee), num(-m.taker_fee)
        return [{"category": "1", "delivery": "", "exercise": "", "instType": kind,
                 "level": "Lv1", "maker": maker, "taker": taker, "makerU": maker,
                 "takerU": taker, "makerUSDC": maker, "takerUSDC": taker, "ruleType": "normal",
                 "ts": str(call.now_ms), "fiat": []}]  # fmt: skip
