"""Statistics over positions and their deals (domain.md → Statistics): counts, win rate,
realised PnL totals and averages, fees, stop-loss and take-profit counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from apps.oms.domain.enums import DealEntry, PositionState, Reason
from apps.oms.domain.money import ZERO, money_context, quantize
from apps.oms.domain.positions import Deal, Position


@dataclass(frozen=True, slots=True)
class Statistics:
    """A trade is a closed position (merged ones are not trades); PnL is realised, gross of
    fees (fees are reported apart); averages and the win rate (0..1) are None without trades."""

    total_positions: int
    open_positions: int
    closed_positions: int
    winning_trades: int
    losing_trades: int
    win_rate: Decimal | None
    total_pnl: Decimal
    average_pnl: Decimal | None
    average_win: Decimal | None
    average_loss: Decimal | None
    fees: Decimal
    stop_loss_count: int
    take_profit_count: int


def _mean(values: list[Decimal]) -> Decimal | None:
    if not values:
        return None
    with money_context():
        return quantize(sum(values, ZERO) / len(values))


def compute_stats(positions: Iterable[Position], deals: Iterable[Deal]) -> Statistics:
    """Statistics of the given (already filtered) positions; `deals` are theirs, used for the
    stop-loss / take-profit counts (positions reduced by a trigger close)."""
    rows = list(positions)
    closed = [p for p in rows if p.state is PositionState.CLOSED]
    pnls = [p.realized_pnl for p in closed]
    wins = [v for v in pnls if v > 0]
    losses = [v for v in pnls if v < 0]
    triggered: dict[str, set[int]] = {Reason.STOP_LOSS: set(), Reason.TAKE_PROFIT: set()}
    for deal in deals:
        if deal.entry is not DealEntry.IN and deal.reason in triggered:
            triggered[deal.reason].add(deal.position_id)
    with money_context():
        win_rate = quantize(Decimal(len(wins)) / len(closed)) if closed else None
        total = sum((p.realized_pnl for p in rows), ZERO)
        fees = sum((p.fee for p in rows), ZERO)
    return Statistics(
        total_positions=len(rows),
        open_positions=sum(1 for p in rows if p.is_open),
        closed_positions=len(closed),
        winning_trades=len(wins),
        losing_trades=len(losses),
        win_rate=win_rate,
        total_pnl=total,
        average_pnl=_mean(pnls),
        average_win=_mean(wins),
        average_loss=_mean(losses),
        fees=fees,
        stop_loss_count=len(triggered[Reason.STOP_LOSS]),
        take_profit_count=len(triggered[Reason.TAKE_PROFIT]),
    )
