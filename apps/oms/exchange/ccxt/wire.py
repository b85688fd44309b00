"""CCXT results as wire JSON: Decimal and float numbers as plain decimal strings (floats through
their shortest repr, never binary expansion), tuples as lists, anything else as text."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from apps.oms.domain.money import to_plain


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return to_plain(value) if value.is_finite() else None
    if isinstance(value, float):
        number = Decimal(repr(value))
        return to_plain(number) if number.is_finite() else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def call_arguments(value: Any) -> Any:
    """Arguments for an exchange call: exact JSON decimals passed as strings (CCXT and the paper
    venue both parse strings exactly)."""
    if isinstance(value, Decimal):
        return to_plain(value)
    if isinstance(value, dict):
        return {str(k): call_arguments(v) for k, v in value.items()}
    if isinstance(value, list):
        return [call_arguments(v) for v in value]
    return value
