"""Loss breakers' rows (`loss_breakers`) and what the worker's watch reads to decide them
(`service/breakers.py`, decisions in `domain/breakers.py`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.domain.breakers import ACTIONS, Action, Breaker, BreakerLimits, State
from apps.oms.domain.positions import Position
from apps.oms.store.positions import position_from_row
from apps.oms.store.records import Row
from apps.oms.store.tables import deals, loss_breakers, positions, risk_limits

B = loss_breakers.c
#: the columns of a tripped breaker acceptance reads with the account (`risk.ACCEPTANCE_STATE`)
TRIPPED_COLUMNS = (
    B.strategy_id.label("lb_strategy_id"), B.day.label("lb_day"), B.state.label("lb_state"),
    B.rule.label("lb_rule"), B.limit_value.label("lb_limit"), B.value.label("lb_value"),
    B.version.label("lb_version"),
)  # fmt: skip


def tripped_of(row: Row) -> Breaker | None:
    """The tripped breaker of an acceptance row (None: the row joined none)."""
    if row.get("lb_state") is None:
        return None
    return Breaker(int(row["lb_strategy_id"]), date.fromisoformat(row["lb_day"]), None, None,
                   cast(State, row["lb_state"]), row["lb_rule"], row["lb_limit"],
                   row["lb_value"], int(row["lb_version"]))  # fmt: skip


def _breaker(row: Row) -> Breaker:
    return Breaker(int(row["strategy_id"]), date.fromisoformat(row["day"]), row["baseline"],
                   row["peak"], cast(State, row["state"]), row["rule"], row["limit_value"],
                   row["value"], int(row["version"]))  # fmt: skip


def breaker_limits(row: Row) -> BreakerLimits:
    action = row["breaker_action"] if row["breaker_action"] in ACTIONS else "reduce_only"
    return BreakerLimits(row["loss_breaker"], row["drawdown_breaker"], cast(Action, action))


_L = risk_limits.c
WATCHED = (
    select(_L.strategy_id, _L.loss_breaker, _L.drawdown_breaker, _L.breaker_action,
           B.day, B.baseline, B.peak, B.state, B.rule, B.limit_value, B.value, B.version)
    .outerjoin(loss_breakers, (B.account_id == _L.account_id) & (B.strategy_id == _L.strategy_id))
    .where(_L.api_key_id == 0, _L.loss_breaker.is_not(None) | _L.drawdown_breaker.is_not(None))
)  # fmt: skip


async def watched_accounts(conn: AsyncConnection) -> frozenset[int]:
    """The accounts with a breaker limit on the account or a strategy."""
    query = select(_L.account_id).where(
        _L.api_key_id == 0, _L.loss_breaker.is_not(None) | _L.drawdown_breaker.is_not(None)
    ).distinct()
    return frozenset(int(r[0]) for r in await conn.execute(query))


async def watched(
    conn: AsyncConnection, account_id: int
) -> list[tuple[int, BreakerLimits, Breaker | None]]:
    """The account's scopes with a breaker limit: (strategy id, limits, stored breaker)."""
    rows = (await conn.execute(WATCHED.where(_L.account_id == account_id))).mappings()
    return [(int(r["strategy_id"]), breaker_limits(r),
             None if r["state"] is None else _breaker(r)) for r in rows]  # fmt: skip


async def day_books(
    conn: AsyncConnection, account_id: int, day: date
) -> tuple[dict[int, Decimal], list[Position]]:
    """The day's realised PnL by strategy and the account's open positions (two statements)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    query = select(deals.c.strategy_id, deals.c.pnl).where(
        deals.c.account_id == account_id, deals.c.executed_at >= start,
        deals.c.executed_at < start + timedelta(days=1))  # fmt: skip
    realized: dict[int, Decimal] = {}
    for r in (await conn.execute(query)).mappings():
        strategy_id = int(r["strategy_id"])
        realized[strategy_id] = realized.get(strategy_id, Decimal(0)) + r["pnl"]
    rows = await conn.execute(select(positions).where(
        positions.c.account_id == account_id, positions.c.is_open.is_(True)))  # fmt: skip
    return realized, [position_from_row(dict(r)) for r in rows.mappings()]


async def has_open_positions(conn: AsyncConnection, account_id: int) -> bool:
    query = select(positions.c.id).where(positions.c.account_id == account_id,
                                         positions.c.is_open.is_(True)).limit(1)  # fmt: skip
    return (await conn.execute(query)).first() is not None


def _values(breaker: Breaker) -> dict[str, Any]:
    return {"day": breaker.day.isoformat(), "baseline": breaker.baseline, "peak": breaker.peak,
            "state": breaker.state, "rule": breaker.rule, "limit_value": breaker.limit,
            "value": breaker.value}  # fmt: skip


async def save(
    conn: AsyncConnection, account_id: int, new: Breaker, old: Breaker | None, now: datetime
) -> bool:
    """Write the breaker over the row it was decided from (`old`, None: no row yet); False
    when that row changed meanwhile (a lift): the next check decides again."""
    values = _values(new) | {"updated_at": now}
    if new.tripped and (old is None or not old.tripped):
        values["tripped_at"] = now
    if old is None:
        await conn.execute(insert(loss_breakers).values(
            account_id=account_id, strategy_id=new.strategy_id, version=1, **values))
        return True
    done = await conn.execute(update(loss_breakers).where(
        B.account_id == account_id, B.strategy_id == new.strategy_id, B.version == old.version,
    ).values(version=old.version + 1, **values))  # fmt: skip
    return bool(done.rowcount)


async def locked(conn: AsyncConnection, account_id: int, strategy_id: int) -> Breaker | None:
    """The scope's breaker, locked for a lift."""
    row = (await conn.execute(select(loss_breakers).where(
        B.account_id == account_id, B.strategy_id == strategy_id).with_for_update())
    ).mappings().first()  # fmt: skip
    return None if row is None else _breaker(row)


async def of_account(conn: AsyncConnection, account_id: int) -> list[Breaker]:
    rows = (await conn.execute(select(loss_breakers).where(B.account_id == account_id)
                               .order_by(B.strategy_id))).mappings()  # fmt: skip
    return [_breaker(r) for r in rows]
