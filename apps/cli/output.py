"""CLI output: JSON by default (scriptable), `--table` for people; errors as one line.

`--table` is one switch for every command, in both spellings: `ccxt-oms --table <command>` (the
app's option) and `ccxt-oms <command> --table` (`with_table_flag`, applied to every registered
command in `apps/cli/main.py`)."""

from __future__ import annotations

import functools
import inspect
import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, NoReturn, get_type_hints

import typer

from apps.cli import tables

state = {"table": False}
TABLE_HELP = "tables for people instead of JSON (also: ccxt-oms --table <command>)"
TableFlag = Annotated[bool, typer.Option("--table", help=TABLE_HELP)]


def table_mode() -> bool:
    return state["table"]


def with_table_flag(callback: Callable[..., Any]) -> Callable[..., Any]:
    """`callback` as a command that also takes `--table` (it switches the output to tables)."""
    signature = inspect.signature(callback, eval_str=True)
    if "table" in signature.parameters:
        return callback

    @functools.wraps(callback)
    def command(*args: Any, table: bool = False, **kwargs: Any) -> Any:
        if table:
            state["table"] = True
        return callback(*args, **kwargs)

    flag = inspect.Parameter("table", inspect.Parameter.KEYWORD_ONLY, default=False,
                             annotation=TableFlag)  # fmt: skip
    command.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), flag])
    command.__annotations__ = {**get_type_hints(callback, include_extras=True), "table": TableFlag}
    return command


def emit(payload: Any, kind: str | None = None) -> None:
    """Print an answer: JSON, or with `--table` its tables (`kind` picks the columns)."""
    if state["table"]:
        tables.render(payload, kind)
    else:
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear line to stderr and exit non-zero."""
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(code)
