"""The acceptance checks re-run under the lease before a placement reaches the venue: account
block, reduce-only / hedge reduce quantities (the order's own reservation added back) and the
pre-trade risk rules over the current counters (the order itself not counted as open).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.domain.book import OrderRef
from apps.oms.domain.closing import check_reduce_only, validate_reduce
from apps.oms.domain.enums import PositionMode, Side
from apps.oms.domain.fills import consults_open_positions, preview_target
from apps.oms.domain.positions import Position
from apps.oms.domain.risk import OrderIntent, check_order
from apps.oms.service.risk_snapshot import needs_reference_price, reference_price, risk_scopes
from apps.oms.service.worker.order_state import reserves_close
from apps.oms.service.worker.runtime import Recorder
from apps.oms.store import risk as risk_store
from apps.oms.store.tables import account_risk_state, accounts, strategy_accounts

ZERO = Decimal(0)


async def recheck(rec: Recorder, row: dict[str, Any]) -> None:
    """Raise the domain error (`risk_blocked`, `invalid_qty`, ...) if the order may not go."""
    acct = rec.rt.account
    side, qty, symbol = Side(row["side"]), Decimal(row["qty"]), row["symbol"]
    book = await rec.load_book(symbol, [int(row["position_id"])],
                               all_open=consults_open_positions(acct.position_mode))
    target = book.positions.get(int(row["position_id"]))
    if target is not None and reserves_close(row, target, acct.position_mode):
        target = replace(target, pending_close_qty=max(ZERO, target.pending_close_qty - qty))
        book = book.with_positions((target,))
    ref = OrderRef(int(row["id"]), int(row["strategy_id"]), int(row["position_id"]))
    preview = preview_target(book, ref, symbol, side, qty)
    _check_reduce(row, acct.position_mode, target, preview.target, side, qty)
    intent = OrderIntent(
        symbol=symbol,
        side=side,
        qty=qty,
        contract_size=(await rec.rt.instrument(symbol)).contract_size,
        price=row["price"],
        reduce_only=bool(row["reduce_only"]),
        opens_position=preview.opens_position,
        privileged_close=bool(row["reduce_only"]),
    )
    blocked, account_allow_new, out_of_sync = await _account_state(rec)
    limits = await _limits(rec)
    if limits:
        # the risk counters read order, position and deal rows (open orders and positions,
        # realized PnL): what the batch changed before this send must be seen as it is now
        await rec.write_held()
    scopes = await risk_scopes(
        rec.conn,
        account_id=acct.account_id,
        symbol=symbol,
        strategy_id=int(row["strategy_id"]),
        strategy_allow_new=await _strategy_allows(rec, int(row["strategy_id"])),
        position_qty=preview.position_qty,
        now=rec.now,
        account_allow_new=account_allow_new,
        limits=limits,
        out_of_sync=out_of_sync,
    )
    scopes = [replace(s, open_orders_in_symbol=max(0, s.open_orders_in_symbol - 1)) for s in scopes]
    price = None
    if needs_reference_price(scopes):
        price = await reference_price(rec.conn, acct.exchange_id, symbol, rec.now)
    check_order(intent, scopes, blocked, price)


def _check_reduce(
    row: dict[str, Any],
    mode: PositionMode,
    explicit: Position | None,
    target: Position | None,
    side: Side,
    qty: Decimal,
) -> None:
    if bool(row["reduce_only"]):
        check_reduce_only(explicit or target, side, qty)
    elif mode is PositionMode.HEDGE and explicit is not None and side is not explicit.side:
        validate_reduce(explicit, side, qty)


async def _limits(rec: Recorder) -> dict[int, dict[str, Any]]:
    """The account's risk limits, read once per record transaction (`Recorder.memo`)."""
    key = ("risk_limits", rec.rt.account_id)
    if key not in rec.memo:
        rec.memo[key] = await risk_store.get_limits(rec.conn, rec.rt.account_id)
    limits: dict[int, dict[str, Any]] = rec.memo[key]
    return limits


async def _account_state(rec: Recorder) -> tuple[bool, bool, bool]:
    """(blocked, allow_new_positions, out_of_sync_blocks) of the account, in one query, once per record
    transaction (a batch decides at one instant)."""
    key = ("account_state", rec.rt.account_id)
    if key not in rec.memo:
        rec.memo[key] = await _read_account_state(rec)
    state: tuple[bool, bool, bool] = rec.memo[key]
    return state


async def _read_account_state(rec: Recorder) -> tuple[bool, bool, bool]:
    return (await _account_states(rec.conn, [rec.rt.account_id]))[rec.rt.account_id]


ACCOUNT_STATES = (
    select(accounts.c.id, accounts.c.status, account_risk_state.c.allow_new_positions,
           account_risk_state.c.out_of_sync_blocks)
    .join(account_risk_state, account_risk_state.c.account_id == accounts.c.id)
    .where(accounts.c.id.in_(bindparam("b_accounts", expanding=True)))
)  # fmt: skip


async def _account_states(
    conn: AsyncConnection, account_ids: list[int]
) -> dict[int, tuple[bool, bool, bool]]:
    """(blocked, allow_new_positions, out_of_sync_blocks) of each account, in one query; an
    account without a risk-state row is neither blocked nor restricted."""
    rows = await conn.execute(ACCOUNT_STATES, {"b_accounts": sorted(account_ids)})
    found = {int(r[0]): (r[1] == "blocked", bool(r[2]), bool(r[3])) for r in rows}
    return {a: found.get(a, (False, True, False)) for a in account_ids}


async def preload(conn: AsyncConnection, account_ids: list[int], memo: dict[Any, Any]) -> None:
    """Fill a shared `Recorder.memo` with what the re-checks of these accounts read once per
    transaction (account state, risk limits), two statements for all of them (a group commit)."""
    if not account_ids:
        return
    for account_id, state in (await _account_states(conn, account_ids)).items():
        memo[("account_state", account_id)] = state
    for account_id, limits in (await risk_store.limits_of(conn, account_ids)).items():
        memo[("risk_limits", account_id)] = limits


async def _strategy_allows(rec: Recorder, strategy_id: int) -> bool:
    if strategy_id <= 0:
        return True
    c = strategy_accounts.c
    allow = (
        await rec.conn.execute(
            select(c.allow_new_positions).where(
                c.strategy_id == strategy_id, c.account_id == rec.rt.account_id
            )
        )
    ).scalar()
    return bool(allow) if allow is not None else True
