"""A venue's market as the gateway knows it (pure): precision, limits, contract size and fees,
and the precision rules an order must follow on it.

CCXT-shaped (`precisionMode = TICK_SIZE`) and venue-agnostic: a venue that lists its markets in
advance (the paper venue) describes them with `Market`, acceptance checks an order against them
(`qty_problem`, `price_problem`) and the venue refuses with its own error from the same rules.
Quantities follow domain.md: `qty` is base units for spot and contracts for swaps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from apps.oms.domain.money import to_plain

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


class Markets(Protocol):
    """Markets by symbol (a venue's listing, a venue's matching state)."""

    @property
    def by_symbol(self) -> Mapping[str, Market]: ...


class Listing(Markets, Protocol):
    """The markets a venue lists in advance, by symbol, and the start price of each."""

    def default_price(self, symbol: str) -> Decimal: ...


def is_multiple(value: Decimal, step: Decimal) -> bool:
    return (value % step) == 0


def qty_problem(market: Market, qty: Decimal) -> str | None:
    """Why a qty is refused (not positive, off the amount step, below the market minimum), or
    None when the market takes it."""
    if qty <= 0:
        return f"amount must be positive, got {to_plain(qty)}"
    if not is_multiple(qty, market.amount_step):
        return (f"amount {to_plain(qty)} is not a multiple of the {market.symbol} step "
                f"{to_plain(market.amount_step)}")  # fmt: skip
    if qty < market.min_amount:
        return (f"amount {to_plain(qty)} is below the {market.symbol} minimum "
                f"{to_plain(market.min_amount)}")  # fmt: skip
    return None


def price_problem(market: Market, price: Decimal, what: str = "price") -> str | None:
    """Why a price is refused (not positive, off the price step), or None."""
    if price <= 0:
        return f"{what} must be positive, got {to_plain(price)}"
    if not is_multiple(price, market.price_step):
        return (f"{what} {to_plain(price)} is not a multiple of the {market.symbol} tick "
                f"{to_plain(market.price_step)}")  # fmt: skip
    return None


def cost_problem(market: Market, qty: Decimal, price: Decimal) -> str | None:
    """Why an order's notional (qty x contract size x price) is refused (below the market
    minimum), or None."""
    cost = qty * market.contract_size * price
    if cost < market.min_cost:
        return f"order cost {to_plain(cost)} is below the {market.symbol} minimum {to_plain(market.min_cost)}"
    return None
