"""Account side of the paper perpetuals, CCXT-shaped: positions, leverage, margin modes,
leverage tiers and trading fees of one paper account (`PaperVenue` inherits these).

Each call loads the account's state, decides in the pure core (`apps/paper/domain/margin.py`,
`leverage.py`, `tiers.py`) and, for a setting, writes it in one short transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.paper.domain.leverage import set_leverage
from apps.paper.domain.margin import margins, set_margin_mode
from apps.paper.domain.matching import Outcome
from apps.paper.domain.position_mode import set_position_mode
from apps.paper.domain.state import HEDGE, ONE_WAY, VenueAccount
from apps.paper.exchange.market_data import PaperMarketData
from apps.paper.exchange.requests import decimal_arg
from apps.paper.exchange.structures import (
    Structure,
    leverage_structure,
    leverage_tier_structures,
    margin_mode_structure,
    position_mode_structure,
    position_structure,
    trading_fee_structure,
)

Params = dict[str, Any]


class PaperDerivatives(PaperMarketData):
    """Positions and margin settings of one paper account (the state access is `PaperVenue`'s)."""

    async def _load(self) -> VenueAccount:
        raise NotImplementedError  # PaperVenue's

    async def _apply(self, event: Callable[[VenueAccount, int], Outcome]) -> Outcome:
        raise NotImplementedError  # PaperVenue's

    async def fetch_positions(
        self, symbols: list[str] | None = None, params: Params | None = None
    ) -> list[Structure]:
        """Open swap positions; margins at the current last price (the mark), in the symbol's
        margin mode (`margin.margins`)."""
        state = await self._load()
        result = []
        for _key, position in sorted(state.positions.items()):  # hedge mode: long, then short
            symbol = position.symbol
            if position.qty == 0 or (symbols and symbol not in symbols):
                continue
            market = self._market(symbol)
            mark = (await self.quote(symbol)).last
            figures = margins(position, market, mark, state.margin_mode_for(symbol),
                              state.total(market.settle or market.quote), self.tiers)  # fmt: skip
            result.append(position_structure(position, market, mark, figures, self.clock(),
                                             hedged=state.hedged))  # fmt: skip
        return result

    async def set_leverage(
        self, leverage: Any, symbol: str | None = None, params: Params | None = None
    ) -> Structure:
        """This account's leverage for a swap (1 to the maximum of the position's tier, 100 when
        flat): new orders and the open position's margin use it; refused (`InsufficientFunds`)
        if the position would be under-margined."""
        if symbol is None:
            raise ccxt.ArgumentsRequired("paper set_leverage needs a symbol")
        value = decimal_arg(leverage, "leverage")
        if value is None or value != value.to_integral_value():
            raise ccxt.BadRequest(f"paper leverage must be a whole number, got {leverage}")
        self._market(symbol)
        outcome = await self._apply(
            lambda state, _now: set_leverage(state, self.venue, symbol, int(value), self.tiers))
        return leverage_structure(symbol, int(value), outcome.state.margin_mode_for(symbol))

    async def set_position_mode(
        self, hedged: bool, symbol: str | None = None, params: Params | None = None
    ) -> Structure:
        """Hedge (a long and a short position side by side) or one-way mode for this account's
        swaps (every symbol: `symbol` is accepted and ignored). The mode it already has is a
        no-op; another is refused (`BadRequest`) while any swap position or order is open."""
        mode = HEDGE if hedged else ONE_WAY
        outcome = await self._apply(lambda state, _now: set_position_mode(state, self.venue, mode))
        return position_mode_structure(outcome.state.hedged)

    async def fetch_position_mode(
        self, symbol: str | None = None, params: Params | None = None
    ) -> Structure:
        """CCXT's answer, `{"info", "hedged"}`: whether this account is in hedge mode."""
        return position_mode_structure((await self._load()).hedged)

    async def fetch_leverage(self, symbol: str, params: Params | None = None) -> Structure:
        self._market(symbol)
        state = await self._load()
        return leverage_structure(symbol, state.leverage_for(symbol),
                                  state.margin_mode_for(symbol))  # fmt: skip

    async def set_margin_mode(
        self, marginMode: str, symbol: str | None = None, params: Params | None = None
    ) -> Structure:
        """`cross` or `isolated` for a swap of this account; the mode it already has is a
        no-op; another is refused (`BadRequest`) while the symbol has a position or open
        orders. Answers CCXT's MarginMode structure."""
        if symbol is None:
            raise ccxt.ArgumentsRequired("paper set_margin_mode needs a symbol")
        self._market(symbol)
        outcome = await self._apply(
            lambda state, _now: set_margin_mode(state, self.venue, symbol, marginMode))
        return margin_mode_structure(symbol, outcome.state.margin_mode_for(symbol))

    async def fetch_margin_mode(self, symbol: str, params: Params | None = None) -> Structure:
        market = self._market(symbol)
        if not market.is_swap:
            raise ccxt.BadRequest(f"paper margin modes apply to swaps, not {symbol}")
        state = await self._load()
        return margin_mode_structure(symbol, state.margin_mode_for(symbol))

    async def fetch_margin_modes(
        self, symbols: list[str] | None = None, params: Params | None = None
    ) -> dict[str, Structure]:
        """Every swap's (or the given swaps') margin mode, by symbol."""
        wanted = self._swaps(symbols)
        state = await self._load()
        return {s: margin_mode_structure(s, state.margin_mode_for(s)) for s in wanted}

    async def fetch_leverage_tiers(
        self, symbols: list[str] | None = None, params: Params | None = None
    ) -> dict[str, list[Structure]]:
        """The tier table of every swap (or the given swaps), by symbol (`apps/paper/domain/tiers`)."""
        return {s: leverage_tier_structures(self._market(s), self.tiers)
                for s in self._swaps(symbols)}  # fmt: skip

    async def fetch_market_leverage_tiers(
        self, symbol: str, params: Params | None = None
    ) -> list[Structure]:
        market = self._market(symbol)
        if not market.is_swap:
            raise ccxt.BadRequest(f"paper leverage tiers apply to swaps, not {symbol}")
        return leverage_tier_structures(market, self.tiers)

    async def fetch_trading_fee(self, symbol: str, params: Params | None = None) -> Structure:
        return trading_fee_structure(self._market(symbol))

    async def fetch_trading_fees(self, params: Params | None = None) -> dict[str, Structure]:
        return {s: trading_fee_structure(m) for s, m in sorted(self.venue.by_symbol.items())}

    def _swaps(self, symbols: list[str] | None) -> list[str]:
        """The given symbols (each a swap, else `BadRequest`) or every swap."""
        if symbols is None:
            return sorted(s for s, m in self.venue.by_symbol.items() if m.is_swap)
        for symbol in symbols:
            if not self._market(symbol).is_swap:
                raise ccxt.BadRequest(f"paper {symbol} is not a swap")
        return list(symbols)
