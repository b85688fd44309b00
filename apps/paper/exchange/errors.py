"""Map paper-core refusals to the CCXT error classes the worker already handles."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.paper.domain.errors import (
    BadRequestError,
    BadSymbolError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderNotFoundError,
    OrderWouldTakeError,
    PaperError,
)

_MAP: tuple[tuple[type[PaperError], type[Exception]], ...] = (
    (BadSymbolError, ccxt.BadSymbol),
    (OrderWouldTakeError, ccxt.OrderImmediatelyFillable),
    (InvalidOrderError, ccxt.InvalidOrder),
    (InsufficientFundsError, ccxt.InsufficientFunds),
    (OrderNotFoundError, ccxt.OrderNotFound),
    (BadRequestError, ccxt.BadRequest),
)


@contextmanager
def ccxt_errors() -> Iterator[None]:
    """Re-raise a PaperError as the CCXT class of the same meaning, message prefixed `paper`."""
    try:
        yield
    except PaperError as exc:
        raise as_ccxt(exc) from exc


def as_ccxt(exc: PaperError) -> Exception:
    """The CCXT error of the same meaning as a PaperError, message prefixed `paper`."""
    message = prefixed(str(exc))
    for paper_class, ccxt_class in _MAP:
        if isinstance(exc, paper_class):
            return ccxt_class(message)
    error: Exception = ccxt.ExchangeError(message)
    return error


def prefixed(message: str) -> str:
    """CCXT's style, `<exchange id> <message>`, without doubling a `paper` already there."""
    return message if message.startswith("paper ") else f"paper {message}"
