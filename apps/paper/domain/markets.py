"""Built-in paper markets: precision, limits, contract size, fees and default start prices.

Pure data. Quantities follow domain.md: `qty` is base units for spot and contracts for swaps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from apps.oms.domain.money import to_plain
from apps.paper.domain.errors import BadSymbolError, InvalidOrderError

SPOT = "spot"
SWAP = "swap"


@dataclass(frozen=True, slots=True)
class Market:
    """One tradable market. Steps are tick sizes (CCXT `precisionMode = TICK_SIZE`)."""

    symbol: str
    base: str
    quote: str
    settle: str | None
    type: str
    amount_step: Decimal
    price_step: Decimal
    min_amount: Decimal
    min_cost: Decimal
    contract_size: Decimal = Decimal(1)
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")

    @property
    def is_swap(self) -> bool:
        return self.type == SWAP

    @property
    def market_id(self) -> str:
        """Exchange-side id, CCXT style (`BTCUSDT`, `BTCUSDT-PERP`)."""
        return self.base + self.quote + ("-PERP" if self.is_swap else "")

    @property
    def max_fee_rate(self) -> Decimal:
        return max(self.maker_fee, self.taker_fee)


def _pair(base: str, amount_step: str, price_step: str, min_amount: str) -> tuple[Market, Market]:
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
    *_pair("BTC", "0.0001", "0.1", "0.0001"),
    *_pair("ETH", "0.001", "0.01", "0.001"),
    *_pair("SOL", "0.01", "0.001", "0.01"),
)

#: Documented start prices (USDT) of each base coin, used until a price source moves them.
DEFAULT_PRICES: Mapping[str, Decimal] = MappingProxyType(
    {"BTC": Decimal(50000), "ETH": Decimal(3000), "SOL": Decimal(150)}
)


@dataclass(frozen=True, slots=True)
class MarketList:
    """The configured markets by symbol."""

    by_symbol: Mapping[str, Market]

    @classmethod
    def of(cls, markets: Iterable[Market] = DEFAULT_MARKETS) -> MarketList:
        return cls(MappingProxyType({m.symbol: m for m in markets}))

    def get(self, symbol: str) -> Market:
        """The market for `symbol`; BadSymbolError if it is not listed."""
        try:
            return self.by_symbol[symbol]
        except KeyError:
            raise BadSymbolError(f"paper does not have market symbol {symbol}") from None

    def default_price(self, symbol: str) -> Decimal:
        return DEFAULT_PRICES.get(self.get(symbol).base, Decimal(100))


def is_multiple(value: Decimal, step: Decimal) -> bool:
    return (value % step) == 0


def check_qty(market: Market, qty: Decimal) -> None:
    """Refuse a qty that is not positive, off the amount step or below the market minimum."""
    if qty <= 0:
        raise InvalidOrderError(f"amount must be positive, got {to_plain(qty)}")
    if not is_multiple(qty, market.amount_step):
        raise InvalidOrderError(
            f"amount {to_plain(qty)} is not a multiple of the {market.symbol} step {to_plain(market.amount_step)}"
        )
    if qty < market.min_amount:
        raise InvalidOrderError(
            f"amount {to_plain(qty)} is below the {market.symbol} minimum {to_plain(market.min_amount)}"
        )


def check_price(market: Market, price: Decimal, what: str = "price") -> None:
    """Refuse a price that is not positive or off the price step."""
    if price <= 0:
        raise InvalidOrderError(f"{what} must be positive, got {to_plain(price)}")
    if not is_multiple(price, market.price_step):
        raise InvalidOrderError(
            f"{what} {to_plain(price)} is not a multiple of the {market.symbol} tick {to_plain(market.price_step)}"
        )


def check_cost(market: Market, qty: Decimal, price: Decimal) -> None:
    """Refuse an order whose notional (qty x contract size x price) is below the market minimum."""
    cost = qty * market.contract_size * price
    if cost < market.min_cost:
        raise InvalidOrderError(
            f"order cost {to_plain(cost)} is below the {market.symbol} minimum {to_plain(market.min_cost)}"
        )
