"""Decimal money helpers shared by the whole core.

All arithmetic on quantities, prices, PnL and fees runs in a local decimal context with 60 digits
of precision; stored values are quantised to 18 fractional digits, ROUND_HALF_EVEN.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation, localcontext

SCALE = 18
MAX_INTEGER_DIGITS = 18
QUANTUM = Decimal(1).scaleb(-SCALE)
ZERO = Decimal(0)
CONTEXT = Context(prec=60, rounding=ROUND_HALF_EVEN)


def money_context() -> AbstractContextManager[Context]:
    """A local 60-digit, half-even context for a block of book-keeping arithmetic."""
    return localcontext(CONTEXT)


def quantize(value: Decimal) -> Decimal:
    """Round to 18 fractional digits, half-even (the stored precision)."""
    return value.quantize(QUANTUM, rounding=ROUND_HALF_EVEN, context=CONTEXT)


def to_plain(value: Decimal) -> str:
    """Plain notation for the wire: no exponent, trailing zeros stripped.

    `'1E-18'` -> `'0.000000000000000001'`.
    """
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


class DecimalFormatError(ValueError):
    """A textual decimal was malformed, not finite or beyond DECIMAL(36,18)."""


def parse_decimal(text: str | int | Decimal) -> Decimal:
    """Parse exactly (never via a binary float).

    Refuses NaN, Infinity, more than 18 fractional or more than 18 integer digits.
    """
    try:
        value = text if isinstance(text, Decimal) else Decimal(str(text).strip())
    except InvalidOperation as exc:
        raise DecimalFormatError(f"not a decimal number: {text!r}") from exc
    if not value.is_finite():
        raise DecimalFormatError("NaN and Infinity are not allowed")
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # noqa: S101 - finite values have an int exponent
    fractional = max(0, -exponent)
    integer = max(0, len(digits) + exponent)
    if fractional > SCALE and value != quantize(value):
        raise DecimalFormatError(f"more than {SCALE} fractional digits")
    if integer > MAX_INTEGER_DIGITS and value.adjusted() >= MAX_INTEGER_DIGITS:
        raise DecimalFormatError(f"more than {MAX_INTEGER_DIGITS} integer digits")
    return value
