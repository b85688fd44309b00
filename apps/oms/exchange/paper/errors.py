"""Map paper-core refusals to the CCXT error classes the worker already handles."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from apps.oms.domain.paper.errors import (
    BadRequestError,
    BadSymbolError,
    InsufficientFundsError,
    InvalidOrderError,
    OrderNotFoundError,
    OrderWouldTakeError,
    PaperError,
)
from apps.oms.exchange.ccxt_errors import errors as ccxt

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
        message = prefixed(str(exc))
        for paper_class, ccxt_class in _MAP:
            if isinstance(exc, paper_class):
                raise ccxt_class(message) from exc
        raise ccxt.ExchangeError(message) from exc


def prefixed(message: str) -> str:
    """CCXT's style, `<exchange id> <message>`, without doubling a `paper` already there."""
    return message if message.startswith("paper ") else f"paper {message}"
