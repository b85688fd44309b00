"""Numbers, times and symbol groups between MetaTrader's types and the gateway's wire: floats
↔ exact decimal strings, datetimes ↔ epoch seconds, MetaTrader's `group` masks. Pure."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any


def num(value: Any) -> float:
    """A wire decimal (string, Decimal, int or None) as MetaTrader's float (None → 0.0)."""
    return 0.0 if value is None else float(value)


def dec(value: float | int | str | Decimal) -> Decimal:
    """A float from a program as the decimal it means: 15 significant digits (what a float
    holds exactly), so `0.1 + 0.2` is 0.3 and `107.123 - 100 * 0.001` is 107.023."""
    if isinstance(value, bool):
        raise ValueError("a number is needed, not a bool")
    try:
        if isinstance(value, float):
            return Decimal(format(value, ".15g")).normalize()
        return Decimal(str(value)).normalize()
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a number") from exc


def plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def on_tick(value: Decimal, tick: Decimal) -> Decimal:
    """The nearest multiple of `tick` (MetaTrader normalises prices to the symbol's digits)."""
    return (value / tick).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * tick


def digits(tick: Decimal) -> int:
    exponent = tick.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def seconds(value: datetime | int | float) -> int:
    """MetaTrader's time argument: a datetime (naive ones are local time, as in Python's
    `timestamp()`, hence the documentation's advice to build them in UTC) or epoch seconds."""
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a datetime or epoch seconds is needed, got {value!r}")
    return int(value)


def ms_of(iso: str | None) -> int:
    """Epoch milliseconds of a gateway time (ISO 8601 with `Z`); 0 for none."""
    if not iso:
        return 0
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def day(epoch_s: int) -> str:
    return datetime.fromtimestamp(max(epoch_s, 0), UTC).strftime("%Y-%m-%d")


@lru_cache(maxsize=256)
def _mask(condition: str) -> re.Pattern[str]:
    return re.compile(".*".join(map(re.escape, condition.split("*"))), re.IGNORECASE)


def in_group(name: str, group: str) -> bool:
    """MetaTrader's `group`: comma-separated masks with `*`, applied in order; `!mask`
    excludes what the conditions before it selected (`"*,!*EUR*"`: all but EUR)."""
    selected = False
    for raw in group.split(","):
        condition = raw.strip()
        if not condition:
            continue
        negate = condition.startswith("!")
        if _mask(condition.lstrip("!")).fullmatch(name):
            selected = not negate
    return selected
