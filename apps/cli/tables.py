"""`--table` rendering of API answers for people: the useful columns of each object kind."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

# columns per kind, in the order a trader reads them (the JSON output keeps every field)
COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": (
        "order_id", "account_id", "symbol", "side", "order_type", "qty", "price", "status",
        "filled_qty", "avg_fill_price", "strategy_id", "position_id", "created_at",
    ),
    "deals": (
        "deal_id", "account_id", "order_id", "position_id", "symbol", "side", "qty", "price",
        "fee", "pnl", "entry", "strategy_id", "executed_at",
    ),
    "positions": (
        "position_id", "account_id", "symbol", "side", "qty", "avg_price", "realized_pnl",
        "fee", "state", "strategy_id", "stop_loss", "stop_gain", "opened_at",
    ),
    "accounts": (
        "id", "exchange_id", "label", "position_mode", "environment", "status",
        "allow_new_positions", "has_credentials",
    ),
    "strategies": ("strategy_id", "name", "client_strategy_id", "status", "created_at"),
    "results": ("index", "ok", "command_id", "order_id", "status", "error"),
}  # fmt: skip


def console() -> Console:
    # wide enough for the columns above when output goes to a file or a pipe
    return Console(width=None if sys.stdout.isatty() else 220, highlight=False)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict) and "code" in value:
        return f"{value.get('code')}: {value.get('message', '')}"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def item_table(
    items: Sequence[dict[str, Any]], kind: str | None, title: str | None = None
) -> Table:
    columns: Sequence[str] = COLUMNS.get(kind or "", ())
    if not columns and items:
        columns = [k for k, v in items[0].items() if not isinstance(v, dict | list)]
    table = Table(title=title, show_lines=False)
    for name in columns:
        table.add_column(name, overflow="fold")
    for item in items:
        table.add_row(*(_cell(item.get(name)) for name in columns))
    return table


def pairs_table(payload: dict[str, Any], title: str | None = None) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for key, value in _flatten(payload):
        table.add_row(key, _cell(value))
    return table


def _flatten(payload: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in payload.items():
        if isinstance(value, dict) and "code" not in value:
            out += _flatten(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


def render(payload: Any, kind: str | None = None) -> None:
    """Print an API answer as tables: its `items`/`results` list, then the other fields."""
    out = console()
    if not isinstance(payload, dict):
        out.print(str(payload))
        return
    rows_key = "items" if "items" in payload else "results" if "results" in payload else None
    if rows_key is None:
        out.print(pairs_table(payload))
        return
    rows = payload[rows_key]
    out.print(item_table(rows, kind if rows_key == "items" else "results", title=kind))
    rest = {k: v for k, v in payload.items() if k != rows_key}
    if rest:
        out.print(pairs_table(rest))
    if not rows:
        out.print(f"(no {kind or rows_key})")
