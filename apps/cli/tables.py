"""`--table` rendering of API answers for people: the useful columns of each object kind, fitted
to the terminal. Columns are listed most useful first; those that do not fit the width are left
out (named under the table; the JSON output keeps every field), and cells never wrap."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table

# columns per kind, most useful first (also the order shown)
COLUMNS: dict[str, tuple[str, ...]] = {
    "orders": (
        "order_id", "symbol", "side", "order_type", "qty", "price", "status", "filled_qty",
        "emulation", "trigger_price", "stop_price", "take_profit_price", "group",
        "parent_order_id", "avg_fill_price", "account_id", "strategy_id", "position_id",
        "expire_at", "created_at",
    ),
    "deals": (
        "deal_id", "symbol", "side", "qty", "price", "fee", "pnl", "entry", "order_id",
        "position_id", "account_id", "strategy_id", "executed_at",
    ),
    "positions": (
        "position_id", "symbol", "side", "qty", "avg_price", "realized_pnl", "state",
        "stop_loss", "stop_gain", "fee", "account_id", "strategy_id", "opened_at",
    ),
    "portfolio": (
        "position_id", "symbol", "side", "qty", "avg_price", "mark_price", "unrealized_pnl",
        "notional", "leverage", "realized_pnl", "account_id", "strategy_id", "margin_mode",
        "collateral", "stop_loss", "stop_gain",
    ),
    "balances": ("account_id", "currency", "total"),
    "accounts": (
        "id", "exchange_id", "label", "position_mode", "environment", "status",
        "allow_new_positions", "has_credentials",
    ),
    "strategies": ("strategy_id", "name", "client_strategy_id", "status", "created_at"),
    "results": ("index", "ok", "command_id", "order_id", "status", "error"),
}  # fmt: skip



def group_cell(order: dict[str, Any]) -> str:
    """`bracket #12 · stop_loss`: an order's group with its kind and the order's role
    (`group_kind`, `group_role`); `group #12` from an API that does not send them."""
    group_id = order.get("group_id")
    if group_id is None:
        return ""
    role = order.get("group_role")
    return f"{order.get('group_kind') or 'group'} #{group_id}" + (f" · {role}" if role else "")


# columns computed from an item's fields, per kind
COMPUTED = {"orders": {"group": group_cell}}
PIPE_WIDTH = 220  # output to a file or a pipe: wide enough for most columns


def console() -> Console:
    """The terminal's width; `COLUMNS` when set; else (a pipe) `PIPE_WIDTH`."""
    wide = sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit()
    return Console(width=None if wide else PIPE_WIDTH, highlight=False)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        if "code" in value:
            return f"{value.get('code')}: {value.get('message', '')}"
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ",".join(_cell(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _fit(columns: Sequence[str], rows: list[list[str]], width: int
         ) -> tuple[list[int], list[str]]:  # fmt: skip
    """Indexes of the columns that fit `width` (most useful first), and the names left out.
    A rich table with the default box takes 1 + the sum of (cell width + 3)."""
    used = 1
    shown: list[int] = []
    hidden: list[str] = []
    for i, name in enumerate(columns):
        need = max([len(name), *(len(row[i]) for row in rows)]) + 3
        if shown and used + need > width:
            hidden.append(name)
            continue
        used += need
        shown.append(i)
    return shown, hidden


def item_table(items: Sequence[dict[str, Any]], kind: str | None, title: str | None = None,
               width: int | None = None) -> Table:  # fmt: skip
    """One row per item, the kind's columns (or the first item's scalar fields) that fit."""
    columns: Sequence[str] = COLUMNS.get(kind or "", ())
    if not columns and items:
        columns = [k for k, v in items[0].items() if not isinstance(v, dict)]
    computed = COMPUTED.get(kind or "", {})
    cells = [[computed[name](item) if name in computed else _cell(item.get(name))
              for name in columns] for item in items]  # fmt: skip
    shown, hidden = _fit(columns, cells, width or console().width)
    caption = f"not shown at this width: {', '.join(hidden)}" if hidden else None
    table = Table(title=title, caption=caption, caption_justify="left")
    for i in shown:
        table.add_column(columns[i], no_wrap=True, overflow="ellipsis")
    for row in cells:
        table.add_row(*(row[i] for i in shown))
    return table


def pairs_table(payload: dict[str, Any], title: str | None = None) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("field", no_wrap=True)
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


def _is_rows(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def portfolio_tables(payload: dict[str, Any], width: int) -> list[RenderableType]:
    """`/oms/portfolio`: every account's positions (with marks), then its balances."""
    accounts = payload.get("items", [])
    rows = [p for item in accounts for p in item.get("positions", [])]
    balances = [{"account_id": a["account_id"], **b} for a in accounts for b in a["balances"]]
    out: list[RenderableType] = [item_table(rows, "portfolio", "positions", width)]
    if balances:
        out.append(item_table(balances, "balances", "balances", width))
    return out


def tables_of(payload: Any, kind: str | None, width: int) -> list[RenderableType]:
    """An API answer as tables: its `items` / `results` (or any other list of objects) as rows,
    its other fields as field / value pairs."""
    if not isinstance(payload, dict):
        return [str(payload)]
    if kind == "portfolio":
        return portfolio_tables(payload, width)
    out: list[RenderableType] = []
    rest: dict[str, Any] = {}
    for key, value in payload.items():
        if key in ("items", "results") or _is_rows(value):
            rows_kind = kind if key == "items" else "results" if key == "results" else None
            out.append(item_table(value, rows_kind, kind if key == "items" else key, width))
            if not value:
                out.append(f"(no {kind or key})")
        else:
            rest[key] = value
    if rest:
        out.append(pairs_table(rest))
    return out


def render(payload: Any, kind: str | None = None) -> None:
    out = console()
    out.print(Group(*tables_of(payload, kind, out.width)))
