"""Closed vocabularies of the books: sides, order statuses, position modes and states, deal
entries, reasons and trigger kinds.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum


class Side(StrEnum):
    """Order, deal and position side; a `buy` position is long, a `sell` position is short."""

    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> Decimal:
        """+1 for buy, -1 for sell: signed qty = sign × qty."""
        return Decimal(1) if self is Side.BUY else Decimal(-1)

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderStatus(StrEnum):
    PENDING_SUBMIT = "PENDING_SUBMIT"
    SUBMITTED = "SUBMITTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_open(self) -> bool:
        return self in _OPEN_STATUSES


_OPEN_STATUSES = frozenset(
    {OrderStatus.PENDING_SUBMIT, OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED}
)


class PositionMode(StrEnum):
    HEDGE = "hedge"
    NETTING = "netting"
    STRATEGY_NETTING = "strategy_netting"


class PositionState(StrEnum):
    OPEN = "open"
    CLOSE_REQUESTED = "close_requested"
    CLOSED = "closed"
    MERGED = "merged"

    @property
    def is_open(self) -> bool:
        return self in (PositionState.OPEN, PositionState.CLOSE_REQUESTED)


class DealEntry(StrEnum):
    IN = "in"
    OUT = "out"
    OUT_BY = "out_by"


class Reason(StrEnum):
    """Well-known `reason` values; the field itself is free text (callers may pass their own)."""

    API = "api"
    EXTERNAL = "external"
    CLOSE_BY = "close_by"
    MERGE = "merge"
    OVERFILL = "overfill"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    TIME_LIMIT = "time_limit"  # a bracket's time-limit exit
    FUNDING = "funding"  # a perpetual's funding payment: a cash deal (qty 0) on the position
    OUTCOME_UNKNOWN_NOT_FOUND = "outcome_unknown_not_found"


class TriggerKind(StrEnum):
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
