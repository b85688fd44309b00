"""CLI output: JSON by default (scriptable), `--table` for people; errors as one line."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

state = {"table": False}


def emit(payload: dict[str, Any]) -> None:
    if state["table"]:
        _print_table(payload)
    else:
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def _print_table(payload: dict[str, Any], prefix: str = "") -> None:
    for key, value in payload.items():
        if isinstance(value, dict):
            _print_table(value, prefix=f"{prefix}{key}.")
        else:
            sys.stdout.write(f"{prefix}{key:<24} {value}\n")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one clear line to stderr and exit non-zero."""
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(code)
