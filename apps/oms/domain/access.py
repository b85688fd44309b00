"""Who may do what: role ceilings intersected with a key's per-account flags (security.md).

Pure rules, no I/O. `authorize` raises `AccessDenied` with the wire error code; objects a key may
not see are reported by callers as 404, never 403.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    TRADER = "trader"
    PORTFOLIO_MANAGER = "portfolio_manager"
    ROBOT = "robot"
    RISK = "risk"
    READONLY = "readonly"


class Action(StrEnum):
    READ = "read"
    TRADE = "trade"  # send_order (opening), change/cancel, position_change, merge, /ccxt trade
    CLOSE = "close"  # reduce-only send_order, close_position, close_by
    RISK_CANCEL = "risk_cancel"  # cancel_order / cancel_all_orders by a risk officer
    REASSIGN = "reassign"
    RECONCILE = "reconcile"
    ALLOW_NEW_POSITIONS = "allow_new_positions"
    BLOCK_ACCOUNT = "block_account"
    RISK_LIMITS = "risk_limits"
    ADMINISTER = "administer"


TRADING_ROLES = frozenset({Role.TRADER, Role.PORTFOLIO_MANAGER, Role.ROBOT})

ROLE_CEILING: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset({Action.READ, Action.ADMINISTER}),
    Role.TRADER: frozenset({Action.READ, Action.TRADE, Action.CLOSE, Action.RECONCILE}),
    Role.PORTFOLIO_MANAGER: frozenset(
        {Action.READ, Action.TRADE, Action.CLOSE, Action.REASSIGN, Action.RECONCILE}
    ),
    Role.ROBOT: frozenset({Action.READ, Action.TRADE, Action.CLOSE}),
    Role.RISK: frozenset(
        {
            Action.READ,
            Action.CLOSE,
            Action.RISK_CANCEL,
            Action.RECONCILE,
            Action.ALLOW_NEW_POSITIONS,
            Action.BLOCK_ACCOUNT,
            Action.RISK_LIMITS,
        }
    ),
    Role.READONLY: frozenset({Action.READ}),
}


@dataclass(frozen=True)
class AccountFlags:
    """One key's flags on one account (the single permission layer)."""

    can_read: bool = True
    can_trade: bool = False
    can_close_position: bool = False
    can_risk_manage: bool = False
    can_block_new_positions: bool = False
    can_block_account: bool = False
    restrict_to_strategies: bool = False
    strategy_ids: frozenset[int] = field(default_factory=frozenset)
    allowed_functions: frozenset[str] = field(default_factory=frozenset)

    def sees_strategy(self, strategy_id: int) -> bool:
        return not self.restrict_to_strategies or strategy_id in self.strategy_ids


FULL_TRADING_FLAGS = AccountFlags(can_read=True, can_trade=True, can_close_position=True)

# Which flags satisfy an action (any one tuple fully satisfied is enough).
ACTION_FLAGS: dict[Action, tuple[tuple[str, ...], ...]] = {
    Action.READ: (("can_read",),),
    Action.TRADE: (("can_trade",),),
    Action.CLOSE: (("can_close_position",),),
    Action.RISK_CANCEL: (("can_risk_manage",),),
    Action.REASSIGN: (("can_trade",),),
    Action.RECONCILE: (("can_trade",), ("can_risk_manage",)),
    Action.ALLOW_NEW_POSITIONS: (("can_risk_manage", "can_block_new_positions"),),
    Action.BLOCK_ACCOUNT: (("can_risk_manage", "can_block_account"),),
    Action.RISK_LIMITS: (("can_risk_manage",),),
    Action.ADMINISTER: ((),),
}


class AccessDenied(Exception):
    """Refusal with the wire error code (`admin_required`, `admin_read_only`, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def role_allows(role: Role, action: Action) -> bool:
    return action in ROLE_CEILING[role]


def flags_allow(flags: AccountFlags, action: Action) -> bool:
    return any(all(getattr(flags, name) for name in group) for group in ACTION_FLAGS[action])


def authorize(role: Role, flags: AccountFlags | None, action: Action) -> None:
    """Raise `AccessDenied` unless `role` and the key's `flags` on the account allow `action`.

    Admins read every account without flags and never trade or close; `flags=None` means the key
    has no grant on the account at all (callers turn that into 404 for reads).
    """
    if action is Action.ADMINISTER:
        if role is not Role.ADMIN:
            raise AccessDenied("admin_required", "this action needs the admin role")
        return
    if role is Role.ADMIN:
        if action is Action.READ:
            return
        raise AccessDenied("admin_read_only", "admins read every account but never trade or close")
    if not role_allows(role, action):
        raise AccessDenied("permission_denied", f"role {role.value} may not {action.value}")
    if flags is None or not flags_allow(flags, action):
        raise AccessDenied("permission_denied", f"this key may not {action.value} on the account")


def authorize_strategy(flags: AccountFlags | None, strategy_id: int) -> None:
    """Strategy-restricted keys act only on their listed strategies."""
    if flags is not None and not flags.sees_strategy(strategy_id):
        raise AccessDenied(
            "strategy_permission_denied", f"this key is not granted strategy {strategy_id}"
        )
