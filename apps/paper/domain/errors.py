"""Errors of the paper matching core; the adapter maps each to the CCXT class of the same name.

PaperError
 ├── BadSymbolError         -> ccxt.BadSymbol
 ├── InvalidOrderError      -> ccxt.InvalidOrder
 │    ├── OrderWouldTakeError -> ccxt.OrderImmediatelyFillable (post_only)
 │    └── PositionSideError   -> ccxt.InvalidOrder (position side vs position mode)
 ├── InsufficientFundsError -> ccxt.InsufficientFunds
 ├── OrderNotFoundError     -> ccxt.OrderNotFound
 └── BadRequestError        -> ccxt.BadRequest (a setting the account's state does not allow)
"""

from __future__ import annotations


class PaperError(Exception):
    """Base of every paper venue refusal (the request changed nothing)."""


class BadSymbolError(PaperError):
    """The symbol is not a paper market."""


class InvalidOrderError(PaperError):
    """The order parameters are invalid for the market or the order state."""


class OrderWouldTakeError(InvalidOrderError):
    """A post-only order would have taken liquidity."""


class InsufficientFundsError(PaperError):
    """Free balance or margin does not cover the order."""


class OrderNotFoundError(PaperError):
    """No such order on this account (or it is no longer open)."""


class BadRequestError(PaperError):
    """A request the account's current state does not allow (e.g. changing a symbol's margin
    mode while it has a position or open orders, as Binance refuses it)."""


class PositionSideError(InvalidOrderError):
    """An order's position side does not fit the account's position mode (BOTH in one-way
    mode, LONG / SHORT in hedge mode), as Binance refuses it (-4061)."""
