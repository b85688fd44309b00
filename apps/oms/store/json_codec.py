"""JSON of the store's JSON columns: orjson, with the standard library's leniency kept.

Every command, order result, event and raw venue payload goes through a JSON column, encoded by
the writer and decoded by every reader (the API's stream tail decodes each event). The
standard library's C encoder and decoder were ~7 % of a worker's CPU and ~11 % of the API's
while it tailed P1's events (docs/benchmarks-history.md, Fourteenth round); orjson does the same work
several times faster. Where it would differ from the standard library:

- types the standard library refuses stay refused (datetimes, dataclasses, sets, anything
  without a JSON form: `TypeError`), Decimals included (money is converted to plain strings
  before it reaches a JSON column); tuples and their subclasses (named tuples) are lists; keys
  that are not strings become strings, as `json.dumps` does;
- what orjson cannot encode or decode and the standard library can (integers beyond 64 bits,
  `NaN` read from an old row) falls back to the standard library; orjson would read an
  integer beyond 64 bits as a float, so a text with a run of 19 digits (-2**63 - 1 has 19) is
  read by the standard library (exact integers; a run inside a string only costs the faster
  path);
- chosen differences: `NaN` and infinities are written as `null` (JSON has no form for them;
  MariaDB's JSON check refused the standard library's `NaN`), enums are written as their value
  and UUIDs as strings (the standard library refused both; nothing of ours writes them).

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
LONG_DIGITS = re.compile(r"\d{19}")  # every integer beyond 64 bits has 19 digits or more


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _with_tuples(default: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`default`, with a tuple subclass (orjson encodes only `tuple` itself) as a list."""

    def convert(value: Any) -> Any:
        if isinstance(value, tuple):
            return list(value)
        return default(value)

    return convert


_REFUSE = _with_tuples(_refuse)  # the columns' default, made once


def _converter(default: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return _REFUSE if default is _refuse else _with_tuples(default)


def dumps(value: Any, default: Callable[[Any], Any] = _refuse) -> str:
    """`value` as JSON text; `default` converts what JSON has no form for (or raises
    `TypeError`), as `json.dumps`'s does."""
    try:
        return orjson.dumps(value, default=_converter(default), option=OPTIONS).decode()
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
        raw = orjson.dumps(value, default=_converter(default), option=OPTIONS)
    except orjson.JSONEncodeError:
        text = dumps(value, default)  # refused (TypeError) or beyond orjson
        return text, json.loads(text)
    return raw.decode(), orjson.loads(raw)
