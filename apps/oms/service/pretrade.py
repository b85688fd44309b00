"""Load what the acceptance-only pre-trade controls decide on (`domain/controls.py`): the scopes
of an order (account, strategy, the accepting key's own), their open-order counts and the key's
recent orders, each read only when a scope sets the control that needs it (one statement each).

The duplicate window holds across API processes: before reading the key's recent orders, the
acceptance locks the key's row (once per transaction), so two identical orders of one key
accepted at the same instant by two processes queue there, and the second reads the first's
order once it committed (READ COMMITTED) and is refused as its duplicate.

The open-order caps hold across API processes the same way: before counting the account's open
orders (every scope's count is within one account), the acceptance locks the account's row
(once per transaction), so two orders that only one of fits under a cap, accepted at the same
instant by two processes, queue there and the second counts the first. These caps are checked
at acceptance only (the worker's re-check does not count open orders for them), so the lock is
what makes them hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from apps.oms.domain.controls import ControlScope, RecentOrder, duplicate_window
from apps.oms.domain.enums import Side
from apps.oms.domain.risk import RiskLimits, RiskScope
from apps.oms.store import risk as risk_store
from apps.oms.store.boundary import Connection

NO_LIMITS = RiskLimits()


@dataclass(frozen=True)
class Controls:
    """The control scopes of one order, the key's scope for the rules of `domain/risk.py`
    (None without key limits) and the key's recent orders within the widest duplicate window."""

    scopes: list[ControlScope]
    key_scope: RiskScope | None
    recent: list[RecentOrder]


def control_limits(
    limits: dict[int, RiskLimits], key_limits: RiskLimits | None, strategy_id: int
) -> list[tuple[str, RiskLimits]]:
    """(scope name, limits) of the scopes that have a limits row."""
    named = [("account", limits.get(0)), ("strategy", limits.get(strategy_id) if strategy_id
                                          else None), ("key", key_limits)]  # fmt: skip
    return [(name, lim) for name, lim in named if lim is not None]


def needs_rows(limits: dict[int, RiskLimits], key_limits: RiskLimits | None,
               strategy_id: int) -> bool:  # fmt: skip
    """Whether loading the controls reads order rows (the caller writes its held orders first)."""
    return any(
        lim.max_open_orders is not None or lim.duplicate_window_ms
        or (name == "key" and lim.max_open_orders_per_symbol is not None)
        for name, lim in control_limits(limits, key_limits, strategy_id)
    )  # fmt: skip


async def load_controls(
    conn: Connection,
    *,
    account_id: int,
    api_key_id: int | None,
    symbol: str,
    side: Side,
    strategy_id: int,
    limits: dict[int, RiskLimits],
    key_limits: RiskLimits | None,
    position_qty: Decimal,
    now: datetime,
    locked_keys: set[int],
    locked_accounts: set[int],
) -> Controls:
    named = control_limits(limits, key_limits if api_key_id else None, strategy_id)
    counted = any(lim.max_open_orders is not None for _, lim in named) or (
        key_limits is not None and key_limits.max_open_orders_per_symbol is not None)
    counts: dict[str, tuple[int, int]] = {}
    if counted:
        if account_id not in locked_accounts:
            await risk_store.lock_account(conn, account_id)
            locked_accounts.add(account_id)
        counts = await risk_store.open_orders_by_scope(conn, account_id, symbol, strategy_id,
                                                       api_key_id)  # fmt: skip
    scopes = [ControlScope(name, lim, counts.get(name, (0, 0))[0]) for name, lim in named]
    key_scope = None
    if api_key_id and key_limits is not None:
        key_scope = RiskScope("key", key_limits, open_orders_in_symbol=counts.get(
            "key", (0, 0))[1], position_qty=position_qty)  # fmt: skip
    recent: list[RecentOrder] = []
    window = duplicate_window(scopes)
    if window and api_key_id:
        if api_key_id not in locked_keys:
            await risk_store.lock_key(conn, api_key_id)
            locked_keys.add(api_key_id)
        since = now - timedelta(milliseconds=window)
        rows = await risk_store.recent_orders_of_key(conn, account_id, api_key_id, symbol,
                                                     side.value, since)  # fmt: skip
        recent = [RecentOrder(r["symbol"], Side(r["side"]), Decimal(r["qty"]),
                              None if r["price"] is None else Decimal(r["price"]),
                              r["created_at"]) for r in rows]  # fmt: skip
    return Controls(scopes, key_scope, recent)
