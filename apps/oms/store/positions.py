"""Position rows ↔ domain `Position`, and the locked read that reservations need."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.domain.enums import DealEntry, PositionState, Side
from apps.oms.domain.positions import Deal, Position
from apps.oms.store.tables import positions

OPEN_STATES = (PositionState.OPEN.value, PositionState.CLOSE_REQUESTED.value)


def position_from_row(row: Mapping[str, Any]) -> Position:
    return Position(
        position_id=int(row["id"]),
        account_id=int(row["account_id"]),
        symbol=row["symbol"],
        strategy_id=int(row["strategy_id"]),
        side=Side(row["side"]),
        qty=row["qty"],
        avg_price=row["avg_price"],
        realized_pnl=row["realized_pnl"],
        fee=row["fee"],
        contract_size=row["contract_size"],
        state=PositionState(row["state"]),
        reason=row["reason"],
        opened_at=row["opened_at"],
        updated_at=row["updated_at"],
        closed_at=row["closed_at"],
        comment=row["comment"],
        stop_loss=row["stop_loss"],
        stop_gain=row["stop_gain"],
        pending_close_qty=row["pending_close_qty"],
    )


def flat_values(obj: Any) -> dict[str, Any]:
    """The fields of a flat dataclass (no nested dataclasses or containers, as `Position` and
    `Deal` are) as a dict: `dataclasses.asdict` deep-copies every value, which cost more than
    the insert itself on the worker's hot path."""
    return {name: getattr(obj, name) for name in _field_names(type(obj))}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def position_values(position: Position) -> dict[str, Any]:
    """Column values of a domain position (without the id)."""
    values = flat_values(position)
    values.pop("position_id")
    values["side"] = position.side.value
    values["state"] = position.state.value
    values["is_open"] = position.state.is_open
    return values


async def get_position(
    conn: AsyncConnection, position_id: int, *, for_update: bool = False
) -> dict[str, Any] | None:
    """One position row; `for_update` locks it (MySQL) — SQLite's BEGIN IMMEDIATE already does."""
    query = select(positions).where(positions.c.id == position_id)
    if for_update and conn.dialect.name == "mysql":
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def save_reservation(conn: AsyncConnection, position: Position) -> None:
    """Write the pending close qty and state decided by the domain (row locked by the caller)."""
    await conn.execute(
        update(positions)
        .where(positions.c.id == position.position_id)
        .values(
            pending_close_qty=position.pending_close_qty,
            state=position.state.value,
            is_open=position.state.is_open,
            updated_at=position.updated_at,
        )
    )


async def open_positions_of(
    conn: AsyncConnection, account_id: int, symbol: str | None = None
) -> list[dict[str, Any]]:
    query = select(positions).where(
        positions.c.account_id == account_id, positions.c.is_open.is_(True)
    )
    if symbol is not None:
        query = query.where(positions.c.symbol == symbol)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


def deal_values(deal: Deal) -> dict[str, Any]:
    """The row of `deal` (its id comes from the insert)."""
    values = flat_values(deal)
    values.pop("deal_id")
    values["side"] = deal.side.value
    values["entry"] = deal.entry.value
    return values


def deal_from_row(row: Mapping[str, Any]) -> Deal:
    return Deal(
        deal_id=int(row["id"]),
        account_id=int(row["account_id"]),
        order_id=row["order_id"],
        position_id=int(row["position_id"]),
        symbol=row["symbol"],
        side=Side(row["side"]),
        qty=row["qty"],
        price=row["price"],
        fee=row["fee"],
        fee_currency=row["fee_currency"],
        pnl=row["pnl"],
        entry=DealEntry(row["entry"]),
        leg=int(row["leg"]),
        contract_size=row["contract_size"],
        strategy_id=int(row["strategy_id"]),
        reason=row["reason"],
        comment=row["comment"],
        reconciled=bool(row["reconciled"]),
        exchange_trade_id=row["exchange_trade_id"],
        executed_at=row["executed_at"],
        created_at=row["created_at"],
        taker_or_maker=row.get("taker_or_maker"),
    )
