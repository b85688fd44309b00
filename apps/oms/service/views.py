"""Wire views of stored rows (orders, deals, positions, commands): REST reads and event payloads.

One function per object so that a REST read and the outbox event of the same change carry the
same shape: decimals as plain strings, times ISO 8601 UTC with `Z`, booleans as booleans.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from apps.oms.clock import iso_z
from apps.oms.domain.events import CommandView, DealView, OrderView, PositionView
from apps.oms.domain.money import to_plain
from apps.oms.domain.positions import Position
from apps.oms.store.positions import position_values

ORDER_FIELDS = (
    "id", "account_id", "command_id", "client_order_id", "exchange_order_id", "symbol", "side",
    "order_type", "qty", "price", "trigger_price", "stop_price", "take_profit_price",
    "trailing_amount", "trailing_percent", "trailing_trigger_price", "trigger_price_type",
    "expire_at", "fire_at", "emulation", "parent_order_id", "group_id", "group_kind", "group_role",
    "time_in_force", "post_only", "reduce_only", "status",
    "filled_qty", "avg_fill_price", "fee", "fee_currency", "strategy_id", "position_id",
    "previous_position_id", "reason", "comment", "stop_loss", "stop_gain", "outcome_unknown",
    "reconciled", "params", "edit_replace_state", "edit_replace_at", "edit_replace_orphan_order_id",
    "edit_replace_origin_order_id", "error_code", "error_message", "created_at", "updated_at",
    "submitted_at", "closed_at",
)  # fmt: skip
DEAL_FIELDS = (
    "id", "account_id", "order_id", "position_id", "previous_position_id", "symbol", "side", "qty",
    "price", "fee", "fee_currency", "pnl", "entry", "leg", "contract_size", "strategy_id", "reason",
    "comment", "reconciled", "exchange_trade_id", "taker_or_maker", "executed_at", "created_at",
)  # fmt: skip
POSITION_FIELDS = (
    "id", "account_id", "symbol", "strategy_id", "side", "qty", "avg_price", "realized_pnl", "fee",
    "contract_size", "pending_close_qty", "stop_loss", "stop_gain", "state", "reason", "comment",
    "opened_at", "updated_at", "closed_at",
)  # fmt: skip
COMMAND_FIELDS = (
    "id", "account_id", "command_type", "request_id", "client_order_id", "status", "error_code",
    "error_message", "result", "order_id", "payload", "attempts", "created_at", "started_at",
    "finished_at", "updated_at",
)  # fmt: skip
BOOLEAN_FIELDS = frozenset({"post_only", "reduce_only", "outcome_unknown", "reconciled"})


def wire_value(value: Any) -> Any:
    """One stored value as it goes on the wire."""
    kind = type(value)
    if kind is Decimal:
        return to_plain(value)
    if kind is datetime:
        return iso_z(value)
    return value


def _view(row: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, object]:
    out = {name: wire_value(row.get(name)) for name in fields}
    for name in BOOLEAN_FIELDS:
        if name in out:
            out[name] = bool(out[name])
    return out


# each view has its type's keys (`domain/events.py`; test/unit/foundation/test_events.py)


def order_view(row: Mapping[str, Any]) -> OrderView:
    view = _view(row, ORDER_FIELDS)
    view["order_id"] = view["id"]
    return cast(OrderView, view)


def deal_view(row: Mapping[str, Any]) -> DealView:
    view = _view(row, DEAL_FIELDS)
    view["deal_id"] = view["id"]
    return cast(DealView, view)


def position_view(row: Mapping[str, Any]) -> PositionView:
    view = _view(row, POSITION_FIELDS)
    view["position_id"] = view["id"]
    return cast(PositionView, view)


def position_record_view(position: Position, position_id: int) -> PositionView:
    """`position_view` of a domain position as its row is (or will be) stored under
    `position_id`."""
    return position_view({**position_values(position), "id": position_id})


def command_view(row: Mapping[str, Any]) -> CommandView:
    view = _view(row, COMMAND_FIELDS)
    view["command_id"] = view["id"]
    return cast(CommandView, view)
