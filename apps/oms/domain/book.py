"""Inputs of the allocation core: the account's book of positions, instruments, order references,
venue fills and the id allocator the store provides (the core never invents database ids).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from apps.oms.domain.enums import PositionMode, Reason, Side
from apps.oms.domain.errors import InvalidQty, UnsupportedMarket
from apps.oms.domain.money import ZERO
from apps.oms.domain.positions import Position, base_currency

ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class Instrument:
    """What the core needs of a market: contract size, spot or derivative, linear or inverse."""

    symbol: str
    contract_size: Decimal = ONE
    spot: bool = True
    inverse: bool = False

    @property
    def base(self) -> str:
        return base_currency(self.symbol)

    def check_supported(self) -> None:
        """Inverse contracts are refused (`unsupported_market`) until supported."""
        if self.inverse:
            raise UnsupportedMarket(f"inverse market {self.symbol} is not supported")
        if self.contract_size <= 0:
            raise UnsupportedMarket(f"market {self.symbol} has no positive contract size")


@dataclass(frozen=True, slots=True)
class OrderRef:
    """The attribution of the order a fill belongs to. `position_id` is the order's current
    target (0 = let the mode decide); `reserves_close` marks reduce orders whose open qty is
    reserved in the target's `pending_close_qty`."""

    order_id: int | None
    strategy_id: int = 0
    position_id: int = 0
    reason: str = Reason.API
    comment: str | None = None
    stop_loss: Decimal | None = None
    stop_gain: Decimal | None = None
    external: bool = False
    reserves_close: bool = False

    @staticmethod
    def for_external(order_id: int | None, position_id: int = 0) -> OrderRef:
        """An order found on the venue only: one dedicated position, strategy 0, reason external."""
        return OrderRef(order_id, 0, position_id, Reason.EXTERNAL, external=True)


@dataclass(frozen=True, slots=True)
class Fill:
    """One venue trade record (never an order status update). `executed_at` is the venue time."""

    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    exchange_trade_id: str
    executed_at: datetime
    fee: Decimal = ZERO
    fee_currency: str | None = None
    reconciled: bool = True
    taker_or_maker: str | None = None  # CCXT's `takerOrMaker` of the trade, when reported

    def validate(self) -> None:
        # a negative fee is a maker rebate: booked like any fee
        if self.qty <= 0 or self.price <= 0:
            raise InvalidQty(f"fill {self.exchange_trade_id}: qty and price must be > 0")

    def booked_qty(self, instrument: Instrument) -> Decimal:
        """A spot buy whose fee is charged in the base coin books the net base received."""
        if instrument.spot and self.side is Side.BUY and self.fee_currency == instrument.base:
            if self.fee >= self.qty:
                raise InvalidQty(f"fill {self.exchange_trade_id}: base fee exceeds qty")
            return self.qty - self.fee
        return self.qty


class IdAllocator(Protocol):
    """Hands out real ids (the store's sequences) for new positions and deals."""

    def next_position_id(self) -> int: ...

    def next_deal_id(self) -> int: ...


@dataclass(slots=True)
class SequentialIds:
    """In-memory allocator: a store can pre-reserve a block and pass it in, tests use it as is."""

    position_id: int = 1
    deal_id: int = 1

    def next_position_id(self) -> int:
        self.position_id += 1
        return self.position_id - 1

    def next_deal_id(self) -> int:
        self.deal_id += 1
        return self.deal_id - 1


@dataclass(frozen=True, slots=True)
class AccountBook:
    """One account's positions (at least every open one of the symbols concerned) and the
    `(exchange_trade_id, leg)` keys already booked."""

    account_id: int
    position_mode: PositionMode
    positions: Mapping[int, Position] = field(default_factory=dict)
    booked_trades: frozenset[tuple[str, int]] = frozenset()

    def open_positions(self, symbol: str | None = None) -> list[Position]:
        return [
            p
            for p in self.positions.values()
            if p.is_open and (symbol is None or p.symbol == symbol)
        ]

    def hedge_reduce_target(self, symbol: str, strategy_id: int, side: Side) -> Position | None:
        """Hedge mode: the position a reduce-only order that names none reduces: the
        strategy's oldest open managed position on `symbol` on the other side (first in, first
        out). A one-way client (a CCXT program sending `reduceOnly`) needs no ticket."""
        candidates = [p for p in self.open_positions(symbol)
                      if not p.is_external and p.strategy_id == strategy_id and p.side is not side]
        return min(candidates, key=lambda p: p.position_id, default=None)

    def net_position(self, symbol: str, strategy_id: int) -> Position | None:
        """The managed open position of a netting key (strategy ignored in plain netting)."""
        per_strategy = self.position_mode is PositionMode.STRATEGY_NETTING
        for p in self.open_positions(symbol):
            if not p.is_external and (not per_strategy or p.strategy_id == strategy_id):
                return p
        return None

    def with_positions(
        self, changed: tuple[Position, ...], trades: frozenset[tuple[str, int]] = frozenset()
    ) -> AccountBook:
        positions = dict(self.positions)
        positions.update({p.position_id: p for p in changed})
        return replace(self, positions=positions, booked_trades=self.booked_trades | trades)
