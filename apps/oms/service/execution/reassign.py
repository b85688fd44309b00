"""`reassign` commands (queued by `POST /oms/reassign` with `preview = false`): move orders and
their deals to the target strategy / position and rebuild every affected position by replaying
its deals, in one fenced transaction of the account with its audit row and `reassigned` event.
Running in the account's queue means nothing books on these positions meanwhile."""

from __future__ import annotations

import asyncio

from apps.oms.domain.enums import PositionMode, Reason
from apps.oms.domain.errors import DomainError
from apps.oms.domain.events import REASSIGNED, PositionBrief, ReassignBefore, ReassignResult
from apps.oms.domain.positions import Deal, Position
from apps.oms.domain.reassign import (
    REASSIGN,
    OrderInfo,
    ReassignConflict,
    plan,
    rebuilt_position,
    refused_orders,
    replay,
)
from apps.oms.service.execution.booking import emit_position
from apps.oms.service.execution.results import finish
from apps.oms.service.execution.runtime import AccountRuntime, Recorder
from apps.oms.service.views import position_view
from apps.oms.store import audit, books
from apps.oms.store import reassign as store
from apps.oms.store.positions import position_values
from apps.oms.store.queue import Claimed
from apps.oms.store.records import ColumnValues, CommandPayload


async def execute_reassign(rt: AccountRuntime, cmd: Claimed, stop: asyncio.Event) -> None:
    try:
        async with rt.record(cmd) as rec:
            result = await apply(rec, cmd.payload)
            await finish(rec, cmd, result=result)
    except DomainError as exc:
        async with rt.record(cmd) as rec:
            await finish(rec, cmd, error_code=exc.code, error_message=exc.message,
                         result={"details": exc.details})  # fmt: skip


def _managed(
    open_positions: list[Position], mode: PositionMode, strategy_id: int
) -> dict[str, Position]:
    out: dict[str, Position] = {}
    for p in open_positions:
        if p.is_external or p.symbol in out:
            continue
        if mode is PositionMode.STRATEGY_NETTING and p.strategy_id != strategy_id:
            continue
        out[p.symbol] = p
    return out


async def apply(rec: Recorder, payload: CommandPayload) -> ReassignResult:
    rt = rec.rt
    aid = rt.account_id
    rows = await store.select_orders(rec.conn, list(payload["order_ids"]), account_ids=[aid],
                                     for_update=True)  # fmt: skip
    target_position_id = payload.get("target_position_id")
    target_strategy_id = int(payload.get("target_strategy_id") or 0)
    infos = [OrderInfo(int(r["id"]), int(r["strategy_id"]), str(r["symbol"]), str(r["reason"]))
             for r in rows]  # fmt: skip
    refused = refused_orders(infos, target_strategy_id, bool(payload.get("override")))
    if refused:
        raise ReassignConflict("orders already attributed to another strategy (use override)",
                               order_ids=",".join(map(str, refused)))  # fmt: skip
    moved_deals = await store.deals_of_orders(rec.conn, [i.order_id for i in infos])
    target = None
    if target_position_id:
        found = await store.positions_by_id(rec.conn, [int(target_position_id)], for_update=True)
        target = found.get(int(target_position_id))
        if target is None or target.account_id != aid or not target.is_open:
            raise ReassignConflict(f"target position {target_position_id} is not open here")
    symbols = {d.symbol for d in moved_deals}
    managed = _managed(await store.open_positions(rec.conn, aid, symbols),
                       rt.account.position_mode, target_strategy_id)  # fmt: skip
    before_positions = await store.positions_by_id(
        rec.conn, [d.position_id for d in moved_deals], for_update=True
    )
    decided = plan(infos, moved_deals, before_positions, rt.account.position_mode,
                   target_strategy_id, target, managed)  # fmt: skip
    positions_before = await store.positions_by_id(rec.conn, decided.affected, for_update=True)
    for deal in decided.deals:
        await store.write_deal(rec.conn, deal)
    rebuilt = await _rebuild(rec, decided.affected, positions_before, target_strategy_id)
    await _write_orders(rec, rows, decided.deals, target_strategy_id)
    before: ReassignBefore = {
        "orders": [{"order_id": i.order_id, "strategy_id": i.strategy_id,
                    "reason": i.reason} for i in infos],
        "positions": [_brief(p) for p in positions_before.values()],
    }  # fmt: skip
    after = {
        "target_strategy_id": target_strategy_id, "target_position_id": target_position_id,
        "positions": [_brief(p) for p in rebuilt.values()],
    }  # fmt: skip
    actor = payload.get("actor") or {}
    await audit.record(
        rec.conn, audit.Actor(actor.get("user_id"), actor.get("api_key_id"),
                              actor.get("client_address")),
        action="reassign", target_type="account", target_id=aid, before=before, after=after,
    )  # fmt: skip
    for position in rebuilt.values():
        emit_position(rec, position)
    result: ReassignResult = {
        "orders_updated": len(rows), "deals_updated": len(decided.deals),
        "positions_rebuilt": len(rebuilt), "order_ids": [i.order_id for i in infos],
        "positions": [position_view({**position_values(p), "id": pid})
                      for pid, p in rebuilt.items()],
    }  # fmt: skip
    rec.hold_event(REASSIGNED, {"account_id": aid, **result, "before": before},
                   strategy_id=target_strategy_id or None)  # fmt: skip
    return result


async def _rebuild(
    rec: Recorder, affected: tuple[int, ...], stored_positions: dict[int, Position],
    target_strategy_id: int,
) -> dict[int, Position]:
    """Replay each affected position's deals (entry and PnL re-derived), fold, write."""
    all_deals = await store.deals_of_positions(rec.conn, affected)
    by_position: dict[int, list[Deal]] = {pid: [] for pid in affected}
    for deal in all_deals:
        by_position.setdefault(deal.position_id, []).append(deal)
    rebuilt: dict[int, Position] = {}
    for pid, group in by_position.items():
        stored = stored_positions.get(pid)
        if stored is None:
            continue
        fixed = replay(group)
        ordered = sorted(group, key=lambda d: (d.executed_at, d.deal_id, d.leg))
        for old, new in zip(ordered, fixed, strict=True):
            if (old.entry, old.pnl) != (new.entry, new.pnl):
                await store.write_deal(rec.conn, new)
        owners = {d.strategy_id for d in fixed}
        strategy = target_strategy_id if owners == {target_strategy_id} else None
        position = rebuilt_position(stored, fixed, strategy, rec.now)
        await books.update_position(rec.conn, position)
        rebuilt[pid] = position
    return rebuilt


async def _write_orders(
    rec: Recorder, rows: list[ColumnValues], deals: tuple[Deal, ...], target_strategy_id: int
) -> None:
    """Orders follow their deals: strategy, reconciled, `reassign` for external ones, and the
    position their last deal now lives on."""
    homes = {int(d.order_id): d.position_id for d in deals if d.order_id is not None}
    for row in rows:
        values: ColumnValues = {"strategy_id": target_strategy_id, "reconciled": True,
                                  "updated_at": rec.now}  # fmt: skip
        if row["reason"] == Reason.EXTERNAL:
            values["reason"] = REASSIGN
        if int(row["id"]) in homes:
            values["position_id"] = homes[int(row["id"])]
        await store.write_order(rec.conn, int(row["id"]), values)


def _brief(p: Position) -> PositionBrief:
    return {"position_id": p.position_id, "strategy_id": p.strategy_id, "symbol": p.symbol,
            "side": p.side.value, "qty": str(p.qty), "avg_price": str(p.avg_price),
            "realized_pnl": str(p.realized_pnl), "state": p.state.value}  # fmt: skip
