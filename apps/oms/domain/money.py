"""Decimal money helpers shared by the whole core.

All arithmetic on quantities, prices, PnL and fees runs in a local decimal context with 60 digits
of precision; stored values are quantised to 18 fractional digits, ROUND_HALF_EVEN.
"""

from __future__ import annotations

import re
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


# plain ASCII decimal syntax: optional minus, digits with an optional fraction, optional exponent
# (what a JSON number or Python's `str(float)` produces). No spaces, no `_` separators, no
# non-ASCII digits (Python's `Decimal()` accepts all three).
_DECIMAL_TEXT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def parse_decimal(text: str | int | Decimal) -> Decimal:
    """Parse exactly (never via a binary float): the one decimal parser of every entry point.

    Accepts an `int` (a JSON integer), a `Decimal` (a JSON number parsed with
    `parse_float=Decimal`) or a string in plain ASCII decimal syntax. Refuses NaN, Infinity, more
    than 18 fractional digits (trailing zeros count: `1.0000000000000000000` is refused) and more
    than 18 integer digits.
    """
    if isinstance(text, bool):
        raise DecimalFormatError("a boolean is not a decimal number")
    if isinstance(text, Decimal | int):
        value = Decimal(text)
    else:
        raw = str(text)
        if len(raw) > 100 or not _DECIMAL_TEXT.fullmatch(raw):
            raise DecimalFormatError(f"not a plain decimal number: {raw[:40]!r}")
        try:
            value = Decimal(raw)
        except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
            raise DecimalFormatError(f"not a decimal number: {raw[:40]!r}") from exc
    if not value.is_finite():
        raise DecimalFormatError("NaN and Infinity are not allowed")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # noqa: S101 - finite values have an int exponent
    if -exponent > SCALE:
        raise DecimalFormatError(f"more than {SCALE} fractional digits")
    if value != 0 and value.adjusted() >= MAX_INTEGER_DIGITS:
        raise DecimalFormatError(f"more than {MAX_INTEGER_DIGITS} integer digits")
    return value
