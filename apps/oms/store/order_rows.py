"""The order row as the store hands it across its boundary, and the columns a step changes.

Typed dicts, not frozen dataclasses: an order row is read, changed and rendered several times
per command on the worker's hottest path, and a 46-field frozen dataclass costs 31–39 µs to
build and 21–23 µs per `dataclasses.replace` on this machine against ~1 µs for a dict merge
(docs/architecture.md, "Records at the store boundary"). A `TypedDict` gives mypy every
column's name and type at no cost at run time; `{**row, **changes}` stays an `OrderRow`.

Standard library only, so every layer above the store may name them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypedDict, cast


class OrderChanges(TypedDict, total=False):
    """Columns of an order row a step sets (any subset; `id`, `account_id` and `created_at`
    never change)."""

    command_id: int | None
    client_order_id: str
    exchange_order_id: str | None
    symbol: str
    side: str
    order_type: str
    qty: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    stop_price: Decimal | None
    take_profit_price: Decimal | None
    trailing_amount: Decimal | None
    trailing_percent: Decimal | None
    trailing_trigger_price: Decimal | None
    trigger_price_type: str | None
    expire_at: datetime | None
    fire_at: datetime | None
    emulation: str
    parent_order_id: int | None
    group_id: int | None
    group_kind: str | None
    group_role: str | None
    time_in_force: str | None
    post_only: bool
    reduce_only: bool
    status: str
    is_open: bool
    filled_qty: Decimal
    avg_fill_price: Decimal | None
    fee: Decimal
    fee_currency: str | None
    strategy_id: int
    position_id: int
    previous_position_id: int | None
    reason: str
    comment: str | None
    stop_loss: Decimal | None
    stop_gain: Decimal | None
    outcome_unknown: bool
    reconciled: bool
    params: dict[str, Any] | None  # the venue params as accepted: free-form
    edit_replace_state: str
    edit_replace_at: datetime | None
    edit_replace_orphan_order_id: int | None
    edit_replace_origin_order_id: int | None
    error_code: str | None
    error_message: str | None
    updated_at: datetime
    submitted_at: datetime | None
    closed_at: datetime | None


class OrderRow(OrderChanges):
    """One `orders` row: its keys and every column of `OrderChanges`, which a fetched row has
    all of (declared once, there)."""

    id: int
    account_id: int
    created_at: datetime


def order_row(row: Mapping[Any, Any]) -> OrderRow:
    """A fetched `orders` row (every column selected) as the typed row, copied."""
    return cast(OrderRow, dict(row))


def changed(row: OrderRow, changes: OrderChanges) -> OrderRow:
    """`row` with `changes` applied (a new dict; `row` is left as it was)."""
    new: OrderRow = {**row, **changes}
    return new
