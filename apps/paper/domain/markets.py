"""Paper markets: the built-in listing (precision, limits, contract size, fees) with default start
prices, the markets an operator adds (`paper_pair`), and the venue's refusals by the market rules
of `apps.oms.domain.markets`.

Pure data. Quantities follow domain.md: `qty` is base units for spot and contracts for swaps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from apps.oms.domain.markets import (
    SPOT,
    SWAP,
    Market,
    cost_problem,
    price_problem,
    qty_problem,
)
from apps.paper.domain.errors import BadSymbolError, InvalidOrderError


def paper_pair(base: str, amount_step: str, price_step: str, min_amount: str
               ) -> tuple[Market, Market]:  # fmt: skip
    """A base coin's spot market against USDT and its USDT-margined perpetual, same steps."""
    spot = Market(
        symbol=f"{base}/USDT",
        base=base,
        quote="USDT",
        settle=None,
        type=SPOT,
        amount_step=Decimal(amount_step),
        price_step=Decimal(price_step),
        min_amount=Decimal(min_amount),
        min_cost=Decimal(5),
    )
    swap = Market(
        symbol=f"{base}/USDT:USDT",
        base=base,
        quote="USDT",
        settle="USDT",
        type=SWAP,
        amount_step=Decimal(amount_step),
        price_step=Decimal(price_step),
        min_amount=Decimal(min_amount),
        min_cost=Decimal(5),
        maker_fee=Decimal("0.0002"),
        taker_fee=Decimal("0.0005"),
    )
    return spot, swap


DEFAULT_MARKETS: tuple[Market, ...] = (
    *paper_pair("BTC", "0.0001", "0.1", "0.0001"),
    *paper_pair("ETH", "0.001", "0.01", "0.001"),
    *paper_pair("SOL", "0.01", "0.001", "0.01"),
)

#: Documented start prices (USDT) of each base coin, used until a price source moves them.
DEFAULT_PRICES: Mapping[str, Decimal] = MappingProxyType(
    {"BTC": Decimal(50000), "ETH": Decimal(3000), "SOL": Decimal(150)}
)


@dataclass(frozen=True, slots=True)
class MarketList:
    """The configured markets by symbol, and the start price of each base coin."""

    by_symbol: Mapping[str, Market]
    start_prices: Mapping[str, Decimal] = field(default_factory=lambda: DEFAULT_PRICES)

    @classmethod
    def of(cls, markets: Iterable[Market] = DEFAULT_MARKETS,
           start_prices: Mapping[str, Decimal] = DEFAULT_PRICES) -> MarketList:  # fmt: skip
        return cls(MappingProxyType({m.symbol: m for m in markets}),
                   MappingProxyType(dict(start_prices)))

    def get(self, symbol: str) -> Market:
        """The market for `symbol`; BadSymbolError if it is not listed."""
        try:
            return self.by_symbol[symbol]
        except KeyError:
            raise BadSymbolError(f"paper does not have market symbol {symbol}") from None

    def default_price(self, symbol: str) -> Decimal:
        return self.start_prices.get(self.get(symbol).base, Decimal(100))


def check_qty(market: Market, qty: Decimal) -> None:
    """Refuse a qty that is not positive, off the amount step or below the market minimum."""
    if (problem := qty_problem(market, qty)) is not None:
        raise InvalidOrderError(problem)


def check_price(market: Market, price: Decimal, what: str = "price") -> None:
    """Refuse a price that is not positive or off the price step."""
    if (problem := price_problem(market, price, what)) is not None:
        raise InvalidOrderError(problem)


def check_cost(market: Market, qty: Decimal, price: Decimal) -> None:
    """Refuse an order whose notional (qty x contract size x price) is below the market minimum."""
    if (problem := cost_problem(market, qty, price)) is not None:
        raise InvalidOrderError(problem)
