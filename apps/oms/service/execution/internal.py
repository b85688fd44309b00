"""Internal commands (no venue call): `close_by`, `merge_positions`, `position_change`, each
decided by the books core over locked positions and recorded in one fenced transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from apps.oms.domain.closing import InternalResult, StopMode, close_by, merge_positions
from apps.oms.domain.errors import DomainError, PositionNotFound
from apps.oms.domain.events import (
    CLOSE_BY_EXECUTED,
    POSITION_CHANGED,
    POSITIONS_MERGED,
    CloseByExecuted,
    PositionsMerged,
    PositionView,
)
from apps.oms.domain.positions import Position
from apps.oms.domain.targets import UNSET, change_targets
from apps.oms.service.execution.booking import emit_position
from apps.oms.service.execution.results import finish
from apps.oms.service.execution.runtime import AccountRuntime, CommandResult, Recorder
from apps.oms.service.risk_snapshot import reference_price
from apps.oms.service.views import position_view
from apps.oms.store import books, order_records
from apps.oms.store.positions import get_position, position_from_row
from apps.oms.store.queue import Claimed
from apps.oms.store.records import CommandPayload


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


async def _position(rec: Recorder, position_id: int) -> Position:
    row = await get_position(rec.conn, int(position_id), for_update=True)
    if row is None or int(row["account_id"]) != rec.rt.account_id:
        raise PositionNotFound(f"position {position_id} not found on this account")
    return position_from_row(row)


def _persist(rec: Recorder, result: InternalResult) -> None:
    """Hold the decided positions and deals, and their events (deals, then positions)."""
    for position in result.positions:
        rec.rows.wrote_position(position)
    for deal in result.deals:
        rec.wrote_deal(deal)
    for position in result.positions:
        emit_position(rec, position)


async def _close_by(rec: Recorder, payload: CommandPayload) -> CloseByExecuted:
    a = await _position(rec, payload["position_id_a"])
    b = await _position(rec, payload["position_id_b"])
    result = close_by(a, b, rec.now, rec.rows, _dec(payload.get("qty")))
    _persist(rec, result)
    body: CloseByExecuted = {
        "position_id_a": a.position_id,
        "position_id_b": b.position_id,
        "qty": str(result.deals[0].qty),
    }
    rec.hold_event(CLOSE_BY_EXECUTED, body, strategy_id=a.strategy_id)
    return body


async def _merge(rec: Recorder, payload: CommandPayload) -> PositionsMerged:
    source = await _position(rec, payload["source_position_id"])
    target = await _position(rec, payload["target_position_id"])
    result = merge_positions(
        source,
        target,
        rec.now,
        rec.rows,
        StopMode(payload.get("stop_mode", "keep")),
        _dec(payload.get("oms_stop_loss")),
        _dec(payload.get("oms_stop_gain")),
    )
    _persist(rec, result)
    await order_records.move_open_orders(rec.conn, source.position_id, target.position_id, rec.now)
    body: PositionsMerged = {"source_position_id": source.position_id,
                             "target_position_id": target.position_id}  # fmt: skip
    rec.hold_event(POSITIONS_MERGED, body, strategy_id=target.strategy_id)
    return body


async def _change(rec: Recorder, payload: CommandPayload) -> dict[str, PositionView]:
    position = await _position(rec, payload["position_id"])
    changed = change_targets(
        position,
        _dec(payload["oms_stop_loss"]) if "oms_stop_loss" in payload else UNSET,
        _dec(payload["oms_stop_gain"]) if "oms_stop_gain" in payload else UNSET,
        await reference_price(rec.conn, rec.rt.account.exchange_id, position.symbol, rec.now),
    )
    if "comment" in payload:
        changed = replace(changed, comment=payload["comment"])
    await books.update_position(rec.conn, changed)
    row = await books.require_position_row(rec.conn, position.position_id)
    view = position_view(row)
    rec.hold_event(POSITION_CHANGED, view, strategy_id=position.strategy_id)
    return {"position": view}


Handler = Callable[[Recorder, CommandPayload], Awaitable[CommandResult]]
HANDLERS: dict[str, Handler] = {"close_by": _close_by, "merge_positions": _merge, "position_change": _change}


async def execute_internal(rt: AccountRuntime, cmd: Claimed, stop: asyncio.Event) -> None:
    handler = HANDLERS[cmd.command_type]
    try:
        async with rt.record(cmd) as rec:
            result = await handler(rec, cmd.payload)
            await finish(rec, cmd, result=result)
    except DomainError as exc:
        async with rt.record(cmd) as rec:
            await finish(rec, cmd, error_code=exc.code, error_message=exc.message)
