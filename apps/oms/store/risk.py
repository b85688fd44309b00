"""Risk limits per account and strategy, and the counters pre-trade checks need."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Executable, bindparam, case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.domain.breakers import Breaker
from apps.oms.domain.exposure import ExposureLimits
from apps.oms.domain.kill import Halt
from apps.oms.domain.risk import RiskLimits
from apps.oms.store import breakers, direct, exposure
from apps.oms.store.records import AccountState, Row, account_state
from apps.oms.store.tables import (
    account_risk_state,
    accounts,
    api_key_permissions,
    api_keys,
    commands,
    deals,
    loss_breakers,
    orders,
    positions,
    risk_halts,
    risk_limits,
    strategies,
    strategy_accounts,
    user_risk_limits,
)

# the limit columns of `risk_limits`: the fields of `RiskLimits`, in the table's column order
LIMIT_COLUMNS = tuple(f.name for f in fields(RiskLimits))
# the acceptance-only controls (`domain/controls.py`) and the loss breakers (watched by the
# worker's housekeeping, `service/breakers.py`): the worker's re-check does not read them
CONTROL_COLUMNS = ("price_collar_bps", "price_collar_symbols", "duplicate_window_ms",
                   "max_open_orders", "loss_breaker", "drawdown_breaker", "breaker_action")
RECHECK_COLUMNS = tuple(c for c in LIMIT_COLUMNS if c not in CONTROL_COLUMNS)


def stored_limits(row: Row) -> RiskLimits:
    """One scope's limits of a row carrying `LIMIT_COLUMNS` (the allowlist in its stored order;
    a row of the worker's re-check has no control columns: none set)."""
    allow = row["symbol_allowlist"]
    collars = row.get("price_collar_symbols")
    return RiskLimits(
        row["max_open_positions"], row["max_open_positions_per_symbol"], row["max_order_qty"],
        row["max_order_notional"], row["min_order_notional"], row["max_position_notional"],
        row["max_open_orders_per_symbol"], row["daily_loss_limit"],
        None if allow is None else tuple(str(s) for s in allow), row["max_commands_per_minute"],
        row.get("price_collar_bps"),
        None if collars is None else tuple(sorted((str(k), int(v)) for k, v in collars.items())),
        row.get("duplicate_window_ms"), row.get("max_open_orders"), row.get("loss_breaker"),
        row.get("drawdown_breaker"), row.get("breaker_action"),
    )  # fmt: skip


LIMITS = select(risk_limits).where(risk_limits.c.account_id == bindparam("b_account"))
# the account row: what writers of one account's limits, and acceptances that count its open
# orders for a cap, queue on (SQLite: no FOR UPDATE)
LOCK_ACCOUNT = select(accounts.c.id).where(accounts.c.id == bindparam("b_account")).with_for_update()


# what acceptance reads of an account, in one statement: the fields its checks use (not the
# whole account view) and the account's risk limits, one row per strategy's limits and one for
# the accepting key's own (or one row of NULLs without limits). Fewer columns and one round trip
# less per accepted command: with aiomysql, parsing the result's column descriptions was ~25 %
# of an accept's CPU. The active kill-switch halts that may cover the key's commands there join
# too (none, almost always: no extra row), and so do its tripped loss breakers (the same) and
# the accepting user's exposure limits (one row at most: no extra row)
_HALTS = risk_halts.c
_TRIPPED = loss_breakers.c
ACCEPTANCE_STATE = (
    select(accounts.c.id, accounts.c.exchange_id, accounts.c.position_mode, accounts.c.status,
           account_risk_state.c.allow_new_positions, account_risk_state.c.out_of_sync_blocks,
           account_risk_state.c.shadow, risk_limits.c.strategy_id, risk_limits.c.api_key_id,
           *(risk_limits.c[c] for c in LIMIT_COLUMNS), _HALTS.id.label("halt_id"),
           _HALTS.scope.label("halt_scope"), _HALTS.scope_id.label("halt_scope_id"),
           _HALTS.reason.label("halt_reason"), *breakers.TRIPPED_COLUMNS,
           *exposure.LIMIT_COLUMNS)
    .join(account_risk_state, account_risk_state.c.account_id == accounts.c.id)
    .outerjoin(risk_limits, (risk_limits.c.account_id == accounts.c.id)
               & risk_limits.c.api_key_id.in_((0, bindparam("b_key"))))
    .outerjoin(risk_halts, _HALTS.lifted_at.is_(None) & (
        _HALTS.scope.in_(("all", "strategy"))
        | ((_HALTS.scope == "account") & (_HALTS.scope_id == accounts.c.id))
        | ((_HALTS.scope == "key") & (_HALTS.scope_id == bindparam("b_key")))
        | ((_HALTS.scope == "user") & (_HALTS.scope_id == bindparam("b_user")))))
    .outerjoin(loss_breakers, (_TRIPPED.account_id == accounts.c.id)
               & (_TRIPPED.state != "armed"))
    .outerjoin(user_risk_limits, user_risk_limits.c.user_id == bindparam("b_user"))
    .where(accounts.c.id.in_(bindparam("b_accounts", expanding=True)))
)  # fmt: skip


# what the worker's re-check reads of several accounts, in one statement: status and risk state
# (an account without a risk-state row: neither restricted nor out of sync) and each scope's
# limits, one row per scope (or one row of NULL limits)
RECHECK_STATE = (
    select(accounts.c.id, accounts.c.status, account_risk_state.c.allow_new_positions,
           account_risk_state.c.out_of_sync_blocks, risk_limits.c.strategy_id,
           *(risk_limits.c[c] for c in RECHECK_COLUMNS), *breakers.TRIPPED_COLUMNS)
    .outerjoin(account_risk_state, account_risk_state.c.account_id == accounts.c.id)
    .outerjoin(risk_limits, (risk_limits.c.account_id == accounts.c.id)
               & (risk_limits.c.api_key_id == 0))
    # the tripped loss breakers (a row per limit and breaker: both are few)
    .outerjoin(loss_breakers, (_TRIPPED.account_id == accounts.c.id)
               & (_TRIPPED.state != "armed"))
    .where(accounts.c.id.in_(bindparam("b_accounts", expanding=True)))
)  # fmt: skip


@dataclass(frozen=True)
class RecheckState:
    """An account as the re-check sees it; `limits` as `get_limits` returns them."""

    blocked: bool
    allow_new_positions: bool
    out_of_sync_blocks: bool
    limits: dict[int, RiskLimits]
    #: the account's and its strategies' tripped loss breakers: a send queued before a trip
    #: is re-checked against them as acceptance would check it now
    tripped: tuple[Breaker, ...] = ()


UNKNOWN_ACCOUNT = RecheckState(False, True, False, {})


async def recheck_states(conn: AsyncConnection, account_ids: list[int]) -> dict[int, RecheckState]:
    """`RecheckState` of each account (every id a key; an account that is not there, deleted
    meanwhile, is neither blocked nor limited: its order fails on the venue side as before)."""
    return recheck_states_of(account_ids, await direct.fetch(conn, *recheck_read(account_ids)))


def recheck_read(account_ids: list[int]) -> tuple[Executable, dict[str, Any]]:
    """The statement of `recheck_states` and its parameters (sent with other reads: a group
    commit); `recheck_states_of` makes its answer of the rows."""
    return RECHECK_STATE, {"b_accounts": sorted(account_ids)}


def recheck_states_of(
    account_ids: list[int], rows: list[dict[str, Any]]
) -> dict[int, RecheckState]:
    limits: dict[int, dict[int, RiskLimits]] = {int(r["id"]): {} for r in rows}
    tripped: dict[int, dict[int, Breaker]] = {int(r["id"]): {} for r in rows}
    for r in rows:
        if r["strategy_id"] is not None:
            limits[int(r["id"])][int(r["strategy_id"])] = stored_limits(r)
        if (breaker := breakers.tripped_of(r)) is not None:
            tripped[int(r["id"])][breaker.strategy_id] = breaker
    found = {
        int(r["id"]): RecheckState(
            blocked=r["status"] == "blocked",
            allow_new_positions=True if r["allow_new_positions"] is None
            else bool(r["allow_new_positions"]),
            out_of_sync_blocks=bool(r["out_of_sync_blocks"]),
            limits=limits[int(r["id"])],
            tripped=tuple(tripped[int(r["id"])].values()),
        )
        for r in rows
    }  # fmt: skip
    return {a: found.get(a, UNKNOWN_ACCOUNT) for a in account_ids}


@dataclass(frozen=True)
class AcceptanceState:
    """The account as acceptance checks it (None: no such account), its risk limits
    (strategy_id, 0 = account → limit values, as `get_limits`) and the accepting key's own
    limits on it (None: no row)."""

    account: AccountState | None
    limits: dict[int, RiskLimits]
    key_limits: RiskLimits | None = None
    halts: tuple[Halt, ...] = ()  # active halts that may cover the key's commands here
    tripped: tuple[Breaker, ...] = ()  # tripped loss breakers of the account and its strategies
    exposure_limits: ExposureLimits | None = None  # the accepting user's (None: none set)


async def acceptance_state(
    conn: AsyncConnection, account_id: int, api_key_id: int | None = None,
    user_id: int | None = None,
) -> AcceptanceState:  # fmt: skip
    return (await acceptance_states(conn, [account_id], api_key_id, user_id))[account_id]


async def acceptance_states(
    conn: AsyncConnection, account_ids: list[int], api_key_id: int | None = None,
    user_id: int | None = None,
) -> dict[int, AcceptanceState]:  # fmt: skip
    """`acceptance_state` of several accounts in one statement (a batch accept's accounts)."""
    wanted = sorted(set(account_ids))
    rows = await direct.fetch(conn, ACCEPTANCE_STATE, {
        "b_accounts": wanted, "b_key": api_key_id or 0, "b_user": user_id or 0})  # fmt: skip
    accounts_found: dict[int, AccountState] = {}
    limits: dict[int, dict[int, RiskLimits]] = {a: {} for a in wanted}
    key_limits: dict[int, RiskLimits] = {}
    halts: dict[int, dict[int, Halt]] = {a: {} for a in wanted}
    tripped: dict[int, dict[int, Breaker]] = {a: {} for a in wanted}
    user_limits = exposure.limits_of(rows[0]) if rows else None
    for r in rows:
        account_id = int(r["id"])
        accounts_found.setdefault(account_id, account_state(r))
        if (breaker := breakers.tripped_of(r)) is not None:
            tripped[account_id][breaker.strategy_id] = breaker
        if r["halt_id"] is not None:
            halts[account_id][int(r["halt_id"])] = Halt(
                int(r["halt_id"]), r["halt_scope"], int(r["halt_scope_id"]), r["halt_reason"])
        if r["strategy_id"] is None:
            continue
        if int(r["api_key_id"]):
            key_limits[account_id] = stored_limits(r)
        else:
            limits[account_id][int(r["strategy_id"])] = stored_limits(r)
    return {a: AcceptanceState(accounts_found.get(a), limits[a], key_limits.get(a),
                               tuple(halts[a].values()), tuple(tripped[a].values()),
                               user_limits) for a in wanted}  # fmt: skip


async def get_limits(conn: AsyncConnection, account_id: int) -> dict[int, RiskLimits]:
    """strategy_id (0 = account) → limit values."""
    rows = await conn.execute(LIMITS.where(risk_limits.c.api_key_id == 0),
                              {"b_account": account_id})
    return {int(r["strategy_id"]): stored_limits(r) for r in rows.mappings()}


async def get_key_limits(conn: AsyncConnection, account_id: int) -> dict[int, RiskLimits]:
    """api_key_id → the key's own limits on the account."""
    rows = await conn.execute(LIMITS.where(risk_limits.c.api_key_id != 0),
                              {"b_account": account_id})
    return {int(r["api_key_id"]): stored_limits(r) for r in rows.mappings()}


async def put_limits(
    conn: AsyncConnection, account_id: int, strategy_id: int, limits: RiskLimits, now: datetime,
    api_key_id: int = 0,
) -> None:  # fmt: skip
    """Create or replace the limits of one scope (a strategy's, 0 = the account's, or with
    `api_key_id` a key's own on the account); `LookupError` if the account does not exist.
    Writers of one account's limits queue on its account row (`FOR UPDATE`; SQLite serialises
    writers anyway): two first writes of a scope at once would otherwise both find no row to
    update and both insert, and the second would meet the unique key. Last writer wins."""
    if (await conn.execute(LOCK_ACCOUNT, {"b_account": account_id})).first() is None:
        raise LookupError(f"account {account_id} not found")
    values = {name: getattr(limits, name) for name in LIMIT_COLUMNS}
    allow = limits.symbol_allowlist
    values["symbol_allowlist"] = None if allow is None else list(allow)  # a JSON array
    collars = limits.price_collar_symbols
    values["price_collar_symbols"] = None if collars is None else dict(collars)  # a JSON object
    where = ((risk_limits.c.account_id == account_id)
             & (risk_limits.c.strategy_id == strategy_id)
             & (risk_limits.c.api_key_id == api_key_id))  # fmt: skip
    updated = await conn.execute(update(risk_limits).where(where).values(**values, updated_at=now))
    if updated.rowcount == 0:
        await conn.execute(insert(risk_limits).values(
            account_id=account_id, strategy_id=strategy_id, api_key_id=api_key_id,
            updated_at=now, **values))


async def open_position_counts(
    conn: AsyncConnection, account_id: int, symbol: str, strategy_id: int | None
) -> tuple[int, int]:
    """(open positions, open positions in `symbol`) of the account or one strategy."""
    query = select(positions.c.symbol, func.count()).where(
        positions.c.account_id == account_id, positions.c.is_open.is_(True)
    )
    if strategy_id is not None:
        query = query.where(positions.c.strategy_id == strategy_id)
    counts = {row[0]: int(row[1]) for row in await conn.execute(query.group_by(positions.c.symbol))}
    return sum(counts.values()), counts.get(symbol, 0)


async def open_order_count(
    conn: AsyncConnection, account_id: int, symbol: str, strategy_id: int | None
) -> int:
    query = (
        select(func.count())
        .select_from(orders)
        .where(
            orders.c.account_id == account_id, orders.c.is_open.is_(True), orders.c.symbol == symbol
        )
    )
    if strategy_id is not None:
        query = query.where(orders.c.strategy_id == strategy_id)
    return int((await conn.execute(query)).scalar_one())


async def key_has_grant(conn: AsyncConnection, account_id: int, api_key_id: int) -> bool:
    """Whether the key holds a grant on the account (its limits there mean something)."""
    c = api_key_permissions.c
    query = select(c.id).where(c.account_id == account_id, c.api_key_id == api_key_id)
    return (await conn.execute(query)).first() is not None


async def open_orders_by_scope(
    conn: AsyncConnection, account_id: int, symbol: str, strategy_id: int, api_key_id: int | None
) -> dict[str, tuple[int, int]]:
    """For the acceptance controls, in one statement: (open orders, open orders in `symbol`) of
    the account, of the strategy (`strategy_id` > 0) and of the key's commands (`api_key_id`),
    keyed `account`, `strategy`, `key`."""
    o = orders.c
    in_symbol = func.sum(case((o.symbol == symbol, 1), else_=0))
    cols = [func.count(), in_symbol,
            func.sum(case((o.strategy_id == strategy_id, 1), else_=0)),
            func.sum(case(((o.strategy_id == strategy_id) & (o.symbol == symbol), 1), else_=0)),
            func.sum(case((commands.c.api_key_id == (api_key_id or 0), 1), else_=0)),
            func.sum(case(((commands.c.api_key_id == (api_key_id or 0)) & (o.symbol == symbol),
                           1), else_=0))]  # fmt: skip
    query = (select(*cols).select_from(orders.outerjoin(commands, commands.c.id == o.command_id))
             .where(o.account_id == account_id, o.is_open.is_(True)))  # fmt: skip
    row = (await conn.execute(query)).one()
    n = [int(v or 0) for v in row]
    found = {"account": (n[0], n[1]), "strategy": (n[2], n[3])}
    if api_key_id:
        found["key"] = (n[4], n[5])
    return found


async def lock_account(conn: AsyncConnection, account_id: int) -> None:
    """Lock the account's row until the transaction ends: the acceptances that count its open
    orders for a cap queue on it (`service/pretrade.py`)."""
    await conn.execute(LOCK_ACCOUNT, {"b_account": account_id})


async def lock_key(conn: AsyncConnection, api_key_id: int) -> None:
    """Lock the key's row until the transaction ends: the acceptances that read its recent
    orders for the duplicate window queue on it (`service/pretrade.py`)."""
    await conn.execute(select(api_keys.c.id).where(api_keys.c.id == api_key_id)
                       .with_for_update())  # fmt: skip


async def recent_orders_of_key(
    conn: AsyncConnection, account_id: int, api_key_id: int, symbol: str, side: str,
    since: datetime,
) -> list[dict[str, Any]]:  # fmt: skip
    """The orders of `symbol` and `side` the key's commands created on the account since
    `since` (the duplicate window): symbol, side, qty, price, created_at."""
    o = orders.c
    query = (
        select(o.symbol, o.side, o.qty, o.price, o.created_at)
        .select_from(orders.join(commands, commands.c.id == o.command_id))
        .where(o.account_id == account_id, o.created_at >= since, o.symbol == symbol,
               o.side == side, commands.c.api_key_id == api_key_id)
    )  # fmt: skip
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def realized_pnl_between(
    conn: AsyncConnection, account_id: int, start: datetime, end: datetime, strategy_id: int | None
) -> Decimal:
    """Sum of deal PnL in [start, end) — summed in Python: SQLite stores money as TEXT."""
    query = select(deals.c.pnl).where(
        deals.c.account_id == account_id, deals.c.executed_at >= start, deals.c.executed_at < end
    )
    if strategy_id is not None:
        query = query.where(deals.c.strategy_id == strategy_id)
    return sum((row[0] for row in await conn.execute(query)), Decimal(0))


# --- risk actions (allow_new_positions, account status) ----------------------------------------


async def account_risk_row(conn: AsyncConnection, account_id: int) -> dict[str, Any] | None:
    """The account's status and risk state, locked for the action's transaction."""
    query = (
        select(
            accounts.c.id,
            accounts.c.status,
            account_risk_state.c.allow_new_positions,
            account_risk_state.c.shadow,
            account_risk_state.c.comment,
            account_risk_state.c.updated_at,
        )
        .join(account_risk_state, account_risk_state.c.account_id == accounts.c.id)
        .where(accounts.c.id == account_id)
        .with_for_update()
    )
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def set_account_allow_new(
    conn: AsyncConnection, account_id: int, allow: bool, comment: str, now: datetime
) -> None:
    await conn.execute(
        update(account_risk_state)
        .where(account_risk_state.c.account_id == account_id)
        .values(allow_new_positions=allow, comment=comment, updated_at=now)
    )


async def set_account_status(
    conn: AsyncConnection, account_id: int, status: str, comment: str, now: datetime
) -> None:
    await conn.execute(
        update(accounts).where(accounts.c.id == account_id).values(status=status, updated_at=now)
    )
    await conn.execute(
        update(account_risk_state)
        .where(account_risk_state.c.account_id == account_id)
        .values(comment=comment, updated_at=now)
    )


async def strategy_links(conn: AsyncConnection, account_id: int) -> list[dict[str, Any]]:
    """Strategies linked to the account with their allow flag and last risk comment."""
    query = (
        select(
            strategies.c.id.label("strategy_id"),
            strategies.c.name,
            strategies.c.client_strategy_id,
            strategies.c.status,
            strategy_accounts.c.allow_new_positions,
            strategy_accounts.c.shadow,
            strategy_accounts.c.comment,
            strategy_accounts.c.updated_at,
        )
        .join(strategy_accounts, strategy_accounts.c.strategy_id == strategies.c.id)
        .where(strategy_accounts.c.account_id == account_id)
        .order_by(strategies.c.id)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def set_strategy_allow_new(
    conn: AsyncConnection,
    account_id: int,
    strategy_id: int,
    allow: bool,
    comment: str,
    now: datetime,
) -> bool:
    """False when the strategy is not linked to the account."""
    result = await conn.execute(
        update(strategy_accounts)
        .where(
            strategy_accounts.c.account_id == account_id,
            strategy_accounts.c.strategy_id == strategy_id,
        )
        .values(allow_new_positions=allow, comment=comment, updated_at=now)
    )
    return bool(result.rowcount)


async def set_account_shadow(
    conn: AsyncConnection, account_id: int, shadow: bool, comment: str, now: datetime
) -> None:
    await conn.execute(
        update(account_risk_state)
        .where(account_risk_state.c.account_id == account_id)
        .values(shadow=shadow, comment=comment, updated_at=now)
    )


async def set_strategy_shadow(
    conn: AsyncConnection, account_id: int, strategy_id: int, shadow: bool, comment: str,
    now: datetime,
) -> None:  # fmt: skip
    await conn.execute(
        update(strategy_accounts)
        .where(
            strategy_accounts.c.account_id == account_id,
            strategy_accounts.c.strategy_id == strategy_id,
        )
        .values(shadow=shadow, comment=comment, updated_at=now)
    )


async def strategy_allows_new(conn: AsyncConnection, account_id: int, strategy_id: int) -> bool:
    """The strategy's `allow_new_positions` on the account (true when it is not linked)."""
    c = strategy_accounts.c
    allow = (await conn.execute(select(c.allow_new_positions).where(
        c.strategy_id == strategy_id, c.account_id == account_id))).scalar()
    return bool(allow) if allow is not None else True


async def account_allows_new(conn: AsyncConnection, account_id: int) -> bool:
    """The account's `allow_new_positions` (true when it has no risk state row)."""
    state = (await conn.execute(select(account_risk_state.c.allow_new_positions).where(
        account_risk_state.c.account_id == account_id))).first()  # fmt: skip
    return bool(state[0]) if state else True

