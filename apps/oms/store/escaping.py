"""String escaping for the MySQL drivers, several times faster on long strings.

aiomysql and asyncmy send parameters inside the SQL text, each string escaped by
`str.translate` over a 128-entry table (pymysql's `escape_string`; asyncmy's is the same
code). `translate` with a table that maps some characters to two looks up every character in
Python objects: ~23 µs per KB. A worker's batch sends kilobytes of JSON per command (raw venue
payloads, event payloads), and that lookup was ~9 % of the worker's CPU in P1
(docs/benchmarks-history.md, Fourteenth round). Seven `str.replace` calls, each a C scan of the
string, give the same text at ~2.5 µs per KB; short strings keep the table (fewer calls).

`install(driver)` puts `escape_string` on the driver's connection class (the method their
`escape` calls for every `str` parameter), keeping their `NO_BACKSLASH_ESCAPES` branch. The
output is the drivers' own, character for character (a property test compares them)."""

from __future__ import annotations

import importlib
from typing import Any

from pymysql.constants.SERVER_STATUS import SERVER_STATUS_NO_BACKSLASH_ESCAPES
from pymysql.converters import escape_string as table_escape

#: below this length the driver's table is as fast (one call instead of seven)
SHORT = 64


def escape_string(value: str) -> str:
    """What pymysql's `escape_string` returns: backslash, NUL, LF, CR, Ctrl-Z and both quotes
    escaped with a backslash (the backslash first: the others' escapes add backslashes)."""
    if len(value) < SHORT:
        escaped: str = table_escape(value)
        return escaped
    return (
        value.replace("\\", "\\\\")
        .replace("\0", "\\0")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\032", "\\Z")
        .replace("'", "\\'")
        .replace('"', '\\"')
    )


def _escape_string_method(self: Any, value: str) -> str:
    """The drivers' `Connection.escape_string`, with the faster escape."""
    if self.server_status & SERVER_STATUS_NO_BACKSLASH_ESCAPES:
        return value.replace("'", "''")
    return escape_string(value)


def install(driver: str) -> None:
    """Give the connections of `driver` (`aiomysql` or `asyncmy`, the database URL's) the
    faster escape (idempotent; the other driver is not imported)."""
    if driver in ("aiomysql", "asyncmy"):
        connection = importlib.import_module(f"{driver}.connection").Connection
        connection.escape_string = _escape_string_method
