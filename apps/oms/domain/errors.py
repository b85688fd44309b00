"""Domain errors: each carries the stable API error `code` of api.md (and details such as `rule`).

DomainError(code)
├── InvalidQty                 invalid_qty
├── InvalidPrice               invalid_price (off the tick, not positive)
├── InvalidPositionId          invalid_position_id (a position that is not open, or two that do not go together)
├── PositionNotFound           position_not_found (no such position on the account)
├── InvalidStrategyId          invalid_strategy_id
├── PositionCloseInProgress    position_close_in_progress
├── RiskBlocked                risk_blocked (rule, scope; limit, value where the rule has them)
├── InvalidOrderState          invalid_order_state
├── UnsupportedMarket          unsupported_market
├── InsufficientFunds          insufficient_funds (a strategy's allocation: rule, currency, needed, free)
├── InvalidTargets             validation_error
├── OrderFieldConflict         validation_error (field: fields that cannot go together)
├── NotSupported               not_supported (field, venue: the venue would not execute it)
└── BookError                  internal_error (a deal that does not fit its position)
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal decided by the core; `code` maps one-to-one to the API error code."""

    code = "internal_error"

    def __init__(self, message: str, **details: str) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, str] = details


class InvalidQty(DomainError):
    code = "invalid_qty"


class InvalidPrice(DomainError):
    code = "invalid_price"


class InvalidPositionId(DomainError):
    code = "invalid_position_id"


class PositionNotFound(DomainError):
    code = "position_not_found"


class InvalidStrategyId(DomainError):
    code = "invalid_strategy_id"


class PositionCloseInProgress(DomainError):
    code = "position_close_in_progress"


class InvalidOrderState(DomainError):
    code = "invalid_order_state"


class UnsupportedMarket(DomainError):
    code = "unsupported_market"


class InvalidTargets(DomainError):
    code = "validation_error"


class OrderFieldConflict(DomainError):
    code = "validation_error"

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, field=field)


class NotSupported(DomainError):
    """A field of an order the account's venue would not execute (`domain/order_features.py`):
    refused rather than stored and dropped."""

    code = "not_supported"

    def __init__(self, message: str, field: str, venue: str) -> None:
        super().__init__(message, field=field, venue=venue)


class BookError(DomainError):
    """A deal that cannot belong to its position (wrong id, crosses zero, pnl disagrees)."""

    code = "internal_error"


class RiskBlocked(DomainError):
    """A pre-trade rule failed; `rule` is the stable rule name, `scope` is account or strategy."""

    code = "risk_blocked"

    def __init__(self, rule: str, message: str, scope: str = "account", **extra: str) -> None:
        super().__init__(message, rule=rule, scope=scope, **extra)
        self.rule = rule
        self.scope = scope


class InsufficientFunds(DomainError):
    """An order beyond the free balance of its strategy's allocation (`domain/allocation.py`)."""

    code = "insufficient_funds"
