"""Test harness for the books core: drives `apply_fill`, `close_by` and `merge_positions` the
way the pipeline will (orders remember their position), and keeps every deal."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from apps.oms.domain.book import AccountBook, Fill, Instrument, OrderRef, SequentialIds
from apps.oms.domain.closing import InternalResult, StopMode, close_by, merge_positions
from apps.oms.domain.enums import PositionMode, Side
from apps.oms.domain.fills import FillResult, apply_fill
from apps.oms.domain.positions import Deal, Position

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def D(value: str | int) -> Decimal:
    return Decimal(str(value))


@dataclass
class Sim:
    mode: PositionMode
    instrument: Instrument = field(default_factory=lambda: Instrument("BTC/USDT:USDT",
                                                                      spot=False))
    account_id: int = 7
    book: AccountBook = field(init=False)
    ids: SequentialIds = field(default_factory=SequentialIds)
    deals: list[Deal] = field(default_factory=list)
    fills: list[tuple[Fill, OrderRef]] = field(default_factory=list)
    clock: datetime = T0
    trade_no: int = 0

    def __post_init__(self) -> None:
        self.book = AccountBook(self.account_id, self.mode)

    def tick(self) -> datetime:
        self.clock += timedelta(seconds=1)
        return self.clock

    def fill(
        self, side: Side | str, qty: str | Decimal, price: str | Decimal, *, strategy: int = 0,
        position_id: int = 0, fee: str | Decimal = "0", external: bool = False,
        order_id: int | None = None, reserves_close: bool = False,
        stop_loss: Decimal | None = None, stop_gain: Decimal | None = None,
    ) -> FillResult:
        self.trade_no += 1
        at = self.tick()
        fill = Fill(self.instrument.symbol, Side(side), D(qty), D(price), f"t{self.trade_no}",
                    at, D(fee), "USDT")
        if external:
            order = OrderRef.for_external(order_id, position_id)
        else:
            order = OrderRef(order_id, strategy, position_id, reserves_close=reserves_close,
                             stop_loss=stop_loss, stop_gain=stop_gain)
        return self.book_fill(fill, order)

    def book_fill(self, fill: Fill, order: OrderRef) -> FillResult:
        result = apply_fill(self.book, fill, order, self.instrument, self.ids, fill.executed_at)
        self.book = result.book
        self.deals.extend(result.deals)
        self.fills.append((fill, order))
        return result

    def internal(self, result: InternalResult) -> InternalResult:
        self.book = self.book.with_positions(result.positions)
        self.deals.extend(result.deals)
        return result

    def close_by(self, a: int, b: int, qty: Decimal | None = None) -> InternalResult:
        pa, pb = self.book.positions[a], self.book.positions[b]
        return self.internal(close_by(pa, pb, self.tick(), self.ids, qty))

    def merge(self, source: int, target: int, mode: StopMode = StopMode.KEEP) -> InternalResult:
        ps, pt = self.book.positions[source], self.book.positions[target]
        return self.internal(merge_positions(ps, pt, self.tick(), self.ids, mode))

    def pos(self, position_id: int) -> Position:
        return self.book.positions[position_id]

    def open(self) -> list[Position]:
        return sorted(self.book.open_positions(), key=lambda p: p.position_id)
