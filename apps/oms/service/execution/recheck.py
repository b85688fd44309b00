"""The acceptance checks re-run under the lease before a placement reaches the venue: account
block, reduce-only / hedge reduce quantities (the order's own reservation added back), the
tripped loss breakers and the pre-trade risk rules over the current counters (the order itself
not counted as open).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from apps.oms.domain.book import OrderRef
from apps.oms.domain.breakers import check_reduce_only as check_breakers
from apps.oms.domain.closing import check_reduce_only, validate_reduce
from apps.oms.domain.enums import PositionMode, Side
from apps.oms.domain.fills import preview_target
from apps.oms.domain.positions import Position
from apps.oms.domain.risk import OrderIntent, check_order
from apps.oms.service.execution.order_state import reserves_close
from apps.oms.service.execution.runtime import Recorder
from apps.oms.service.risk_snapshot import needs_reference_price, reference_price, risk_scopes
from apps.oms.store import risk as risk_store
from apps.oms.store.boundary import Connection
from apps.oms.store.order_rows import OrderRow

ZERO = Decimal(0)


async def recheck(rec: Recorder, row: OrderRow) -> Position | None:
    """Raise the domain error (`risk_blocked`, `invalid_qty`, ...) if the order may not go;
    else answer the position it names (None: a new one), whose side a hedge account's venue
    order carries (`closing.venue_position_side`)."""
    acct = rec.rt.account
    side, qty, symbol = Side(row["side"]), Decimal(row["qty"]), row["symbol"]
    book = await rec.rows.load_fill_book(symbol, int(row["position_id"]), external=False)
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
    state = await recheck_state(rec)
    # a loss breaker tripped since acceptance: its scope sends closing orders only (a halted
    # scope too: a close accepted before the halt still reduces the exposure it guards)
    closing = bool(row["reduce_only"]) or (
        preview.target is not None and side is not preview.target.side
        and qty <= preview.target.qty)  # fmt: skip
    check_breakers(state.tripped, int(row["strategy_id"]), closing)
    limits = state.limits
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
        account_allow_new=state.allow_new_positions,
        limits=limits,
        out_of_sync=state.out_of_sync_blocks,
    )
    scopes = [replace(s, open_orders_in_symbol=max(0, s.open_orders_in_symbol - 1)) for s in scopes]
    price = None
    if needs_reference_price(scopes):
        price = await reference_price(rec.conn, acct.exchange_id, symbol, rec.now)
    check_order(intent, scopes, state.blocked, price)
    return target


def _check_reduce(
    row: OrderRow,
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


async def recheck_state(rec: Recorder) -> risk_store.RecheckState:
    """The account's block, risk state and limits, read once per record transaction
    (`Recorder.memo`: a batch decides at one instant), or preloaded by the group commit."""
    key = ("recheck_state", rec.rt.account_id)
    if key not in rec.memo:
        await preload(rec.conn, [rec.rt.account_id], rec.memo)
    state: risk_store.RecheckState = rec.memo[key]
    return state


async def preload(conn: Connection, account_ids: list[int], memo: dict[Any, Any]) -> None:
    """Fill a shared `Recorder.memo` with what the re-checks of these accounts read once per
    transaction (status, risk state, limits), one statement for all of them (a group commit)."""
    if not account_ids:
        return
    remember(memo, await risk_store.recheck_states(conn, account_ids))


def remember(memo: dict[Any, Any], states: dict[int, risk_store.RecheckState]) -> None:
    """Keep what `preload` read (also read by a group commit together with other reads)."""
    for account_id, state in states.items():
        memo[("recheck_state", account_id)] = state


async def _strategy_allows(rec: Recorder, strategy_id: int) -> bool:
    if strategy_id <= 0:
        return True
    return await risk_store.strategy_allows_new(rec.conn, rec.rt.account_id, strategy_id)
