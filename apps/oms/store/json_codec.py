"""JSON of the store's JSON columns: orjson, with the standard library's leniency kept.

Every command, order result, event and raw venue payload goes through a JSON column, encoded by
the writer and decoded by every reader (the API's stream tail decodes each event). The
standard library's C encoder and decoder were ~7 % of a worker's CPU and ~11 % of the API's
while it tailed P1's events (docs/benchmarks.md, Fourteenth round); orjson does the same work
several times faster. What it would do differently is kept as before:

- types the standard library refuses stay refused (datetimes, dataclasses, anything without a
  JSON form: `TypeError`), Decimals included (money is converted to plain strings before it
  reaches a JSON column); keys that are not strings become strings, as `json.dumps` does;
- what orjson cannot encode or decode and the standard library can (integers beyond 64 bits,
  `NaN` read from an old row) falls back to the standard library; orjson would read an
  integer beyond 64 bits as a float, so a text with a run of 20 digits is read by the standard
  library (exact integers; a run inside a string only costs the faster path).

The text differs only in form (no spaces after separators, non-ASCII characters as UTF-8
instead of `\\u` escapes): the same JSON value."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import orjson

OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)
LONG_DIGITS = re.compile(r"\d{20}")  # 2**64 has 20 digits


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value: Any, default: Callable[[Any], Any] = _refuse) -> str:
    """`value` as JSON text; `default` converts what JSON has no form for (or raises
    `TypeError`), as `json.dumps`'s does."""
    try:
        return orjson.dumps(value, default=default, option=OPTIONS).decode()
    except orjson.JSONEncodeError as exc:
        if isinstance(exc.__cause__, TypeError) or "not JSON serializable" in str(exc):
            raise TypeError(str(exc)) from exc  # refused by `default`: refused here too
        return json.dumps(value, default=default)  # e.g. an integer beyond 64 bits


def loads(text: str | bytes) -> Any:
    """The value of JSON `text`."""
    if isinstance(text, bytes):
        text = text.decode()
    if LONG_DIGITS.search(text):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)  # e.g. NaN or an integer beyond 64 bits, written before


def dumps_with_copy(value: Any, default: Callable[[Any], Any] = _refuse) -> tuple[str, Any]:
    """`dumps(value)` and the value it reads back as (a plain JSON copy), without the scan for
    long integers: a text orjson wrote holds no integer beyond 64 bits."""
    try:
        raw = orjson.dumps(value, default=default, option=OPTIONS)
    except orjson.JSONEncodeError:
        text = dumps(value, default)  # refused (TypeError) or beyond orjson
        return text, json.loads(text)
    return raw.decode(), orjson.loads(raw)
