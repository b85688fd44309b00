"""Reassign (post-trade correction), pure: move orders and their deals to a target strategy and
optionally a target position, then rebuild every affected position by replaying its deals.

Rules (docs/reconciliation.md → Reassign):
- An order attributed to another strategy (`strategy_id > 0` and not the target) is refused
  unless `override`.
- Where each moved deal goes: the target position when given (same account and symbol); else,
  in netting modes, a deal on an external position goes to the target key's managed open
  position of the symbol when there is one; otherwise the deal stays on its position, which
  changes hands with it (strategy, and reason `reassign` instead of `external`).
- Replaying a position's deals in execution order recomputes entry and realised PnL (the
  average changed); a replay that would cross zero or add to a closed position is refused
  (`ReassignConflict`): the books never hold a position that is not a fold of its deals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from apps.oms.domain.enums import DealEntry, PositionMode, PositionState, Reason
from apps.oms.domain.errors import DomainError
from apps.oms.domain.money import ZERO
from apps.oms.domain.positions import Deal, Position, apply_deal, realized_pnl, rebuild

REASSIGN = "reassign"


class ReassignConflict(DomainError):
    code = "reassign_conflict"


@dataclass(frozen=True, slots=True)
class OrderInfo:
    order_id: int
    strategy_id: int
    symbol: str
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    """Per order: new strategy; per deal: new strategy and position; and the positions to
    rebuild (old and new homes)."""

    order_ids: tuple[int, ...]
    deals: tuple[Deal, ...]
    affected: tuple[int, ...]
    refused: tuple[int, ...] = ()


def refused_orders(
    orders: Iterable[OrderInfo], target_strategy_id: int, override: bool
) -> tuple[int, ...]:
    """Orders already attributed to another strategy (refused unless `override`)."""
    if override:
        return ()
    return tuple(
        o.order_id for o in orders if o.strategy_id > 0 and o.strategy_id != target_strategy_id
    )


def plan(
    orders: Iterable[OrderInfo],
    deals: Iterable[Deal],
    positions: Mapping[int, Position],
    mode: PositionMode,
    target_strategy_id: int,
    target_position: Position | None,
    managed: Mapping[str, Position],
) -> Plan:
    """Where every deal of the moved orders goes. `managed`: the target key's managed open
    position per symbol (netting modes)."""
    moved = {o.order_id for o in orders}
    new_deals: list[Deal] = []
    affected: set[int] = set()
    for deal in deals:
        if deal.order_id not in moved:
            continue
        home = deal.position_id
        current = positions.get(home)
        if target_position is not None:
            if target_position.symbol != deal.symbol:
                raise ReassignConflict(
                    f"position {target_position.position_id} is not on {deal.symbol}"
                )
            home = target_position.position_id
        elif mode is not PositionMode.HEDGE and current is not None and current.is_external:
            net = managed.get(deal.symbol)
            if net is not None:
                home = net.position_id
        affected.update({deal.position_id, home})
        reason = REASSIGN if deal.reason == Reason.EXTERNAL else deal.reason
        new_deals.append(replace(deal, position_id=home, strategy_id=target_strategy_id,
                                 reason=reason, reconciled=True))  # fmt: skip
    return Plan(tuple(sorted(moved)), tuple(new_deals), tuple(sorted(affected)))


def replay(deals: Iterable[Deal]) -> list[Deal]:
    """The deals of one position in execution order with entry and PnL recomputed against
    the running average; refuses a deal that crosses zero or follows a close."""
    ordered = sorted(deals, key=lambda d: (d.executed_at, d.deal_id, d.leg))
    out: list[Deal] = []
    position: Position | None = None
    for deal in ordered:
        if position is not None and not position.is_open:
            raise ReassignConflict(
                f"deal {deal.deal_id} would follow the close of position {deal.position_id}"
            )
        if position is None or deal.side is position.side:
            fixed = replace(deal, entry=DealEntry.IN, pnl=ZERO)
        else:
            if deal.qty > position.qty:
                raise ReassignConflict(
                    f"deal {deal.deal_id} would cross zero on position {deal.position_id}"
                )
            pnl = realized_pnl(position.side, position.avg_price, deal.price, deal.qty,
                               position.contract_size)  # fmt: skip
            entry = DealEntry.OUT_BY if deal.entry is DealEntry.OUT_BY else DealEntry.OUT
            fixed = replace(deal, entry=entry, pnl=pnl)
        position = apply_deal(position, fixed)
        out.append(fixed)
    return out


def rebuilt_position(
    stored: Position, deals: list[Deal], strategy_id: int | None, now: datetime
) -> Position:
    """The position after the move: the fold of its (replayed) deals, non-deal fields kept;
    a position left without deals is closed at zero."""
    if not deals:
        return replace(stored, qty=ZERO, pending_close_qty=ZERO, state=PositionState.CLOSED,
                       closed_at=stored.closed_at or now, updated_at=now)  # fmt: skip
    position = rebuild(stored, deals)
    if strategy_id is not None:
        reason = REASSIGN if stored.reason == Reason.EXTERNAL else stored.reason
        position = replace(position, strategy_id=strategy_id, reason=reason)
    else:
        position = replace(position, strategy_id=stored.strategy_id, reason=stored.reason)
    return position
