"""Book invariants checked after every step of the random sequences."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from apps.oms.domain.enums import PositionMode
from apps.oms.domain.positions import Deal, rebuild, rebuild_all
from books.support import Sim

TOLERANCE = Decimal("1e-12")


def deals_by_position(deals: list[Deal]) -> dict[int, list[Deal]]:
    grouped: dict[int, list[Deal]] = defaultdict(list)
    for deal in deals:
        grouped[deal.position_id].append(deal)
    return grouped


def check_fold(sim: Sim) -> None:
    """Every cached position equals the rebuild from its own deals."""
    grouped = deals_by_position(sim.deals)
    assert set(grouped) == set(sim.book.positions)
    for pid, position in sim.book.positions.items():
        assert rebuild(position, grouped[pid]) == position
    assert rebuild_all(sim.deals, sim.book.positions) == sim.book.positions


def check_quantities(sim: Sim) -> None:
    """netting: the managed position of a key = signed sum of that key's managed deals;
    hedge: the sum over open positions = the signed sum of all deals."""
    positions = sim.book.positions
    if sim.mode is PositionMode.HEDGE:
        total = sum((d.signed_qty for d in sim.deals), Decimal(0))
        assert total == sum((p.signed_qty for p in sim.book.open_positions()), Decimal(0))
        return
    per_strategy = sim.mode is PositionMode.STRATEGY_NETTING
    sums: dict[int, Decimal] = defaultdict(Decimal)
    for deal in sim.deals:
        if not positions[deal.position_id].is_external:
            sums[deal.strategy_id if per_strategy else 0] += deal.signed_qty
    managed = [p for p in sim.book.open_positions() if not p.is_external]
    keys = [p.strategy_id if per_strategy else 0 for p in managed]
    assert len(keys) == len(set(keys)), "one open managed position per key"
    held = dict(zip(keys, (p.signed_qty for p in managed), strict=True))
    for key, total in sums.items():
        assert held.get(key, Decimal(0)) == total


def check_pnl_identity(sim: Sim, last: Decimal) -> None:
    """realised + unrealised = −Σ(signed qty × price × cs) + open signed qty × last × cs."""
    cs = sim.instrument.contract_size
    realised = sum((p.realized_pnl for p in sim.book.positions.values()), Decimal(0))
    unrealised = sum((p.unrealized_pnl(last) for p in sim.book.open_positions()), Decimal(0))
    cash = -sum((d.signed_qty * d.price * cs for d in sim.deals), Decimal(0))
    held = sum((p.signed_qty for p in sim.book.open_positions()), Decimal(0))
    assert abs(realised + unrealised - (cash + held * last * cs)) <= TOLERANCE


def check_all(sim: Sim, last: Decimal) -> None:
    check_fold(sim)
    check_quantities(sim)
    check_pnl_identity(sim, last)
