"""What every HTTP endpoint and websocket action needs: the one table the S1 test walks.

Pure data, no I/O. The rules themselves (role ceilings and flags per action) are
`domain/access.py`'s `ROLE_CEILING` and `ACTION_FLAGS`, which `authorize` enforces; this module
says which action each endpoint, command and websocket action is (acceptance reads `COMMANDS`).
`test/api/test_permission_matrix.py` reads both, checks that every route of
the app is listed here, and walks every endpoint × role × flag combination through the real app.
A new route without an entry fails that test.
"""

from __future__ import annotations

from typing import Literal

from apps.oms.domain.access import Action, Role

# public: no key; authenticated: any valid key (about the caller itself); admin: role admin;
# paper_prices: admin, or any role allowed to trade (ceiling ∩ flags) on a paper account;
# an Action: account-scoped, `Principal.require(action, account_id)`;
# cancel: Action.RISK_CANCEL for the risk role, Action.TRADE for the others (security.md);
# allocate: admin, or a portfolio manager whose key may trade on the account and is not
# restricted to strategies (strategy allocations, docs/identity-and-risk.md).
Rule = Action | Literal["public", "authenticated", "admin", "paper_prices", "cancel", "allocate"]

ENDPOINTS: dict[str, Rule] = {
    "GET /healthz": "public",
    "GET /readyz": "public",
    "GET /metrics": "public",  # unless api.public_metrics is false (then admin)
    "POST /auth/login-password": "public",
    "POST /auth/logout": "authenticated",
    "GET /user/profile": "authenticated",
    "PATCH /user/profile": "authenticated",
    "POST /user/password": "authenticated",
    "GET /user/api-keys": "authenticated",
    "POST /user/api-keys": "authenticated",
    "PATCH /user/api-keys/{api_key_id}": "authenticated",
    "GET /user/api-keys/permissions": "authenticated",
    "GET /user/api-keys/{api_key_id}/permissions": "authenticated",
    "GET /admin/accounts": "admin",
    "POST /admin/accounts": "admin",
    "PATCH /admin/accounts/{account_id}": "admin",
    "GET /admin/users": "admin",
    "POST /admin/users": "admin",
    "PATCH /admin/users/{user_id}": "admin",
    "POST /admin/users-with-api-key": "admin",
    "GET /admin/users-api-keys": "admin",
    "POST /admin/api-keys": "admin",
    "PATCH /admin/api-keys/{api_key_id}": "admin",
    "GET /admin/api-keys/{api_key_id}/permissions": "admin",
    "PUT /admin/api-keys/{api_key_id}/permissions": "admin",
    "GET /admin/strategies": "admin",
    "POST /admin/strategies": "admin",
    "PATCH /admin/strategies/{strategy_id}": "admin",
    "GET /admin/oms/{view}": "admin",
    "GET /admin/audit": "admin",
    "GET /dispatcher/status": "admin",
    "GET /paper/prices": "authenticated",
    "POST /paper/prices": "paper_prices",
    "PUT /paper/price-source": "admin",
    "PUT /paper/accounts/{account_id}/book": "admin",
    "GET /oms/accounts": Action.READ,
    "GET /oms/orders/open": Action.READ,
    "GET /oms/orders/history": Action.READ,
    "GET /oms/orders/{ids}": Action.READ,
    "GET /oms/deals": Action.READ,
    "GET /oms/deals/{ids}": Action.READ,
    "GET /oms/positions/open": Action.READ,
    "GET /oms/positions/history": Action.READ,
    "GET /oms/positions/{ids}": Action.READ,
    "GET /oms/commands/{ids}": Action.READ,
    "GET /oms/stats": Action.READ,
    "GET /oms/portfolio": Action.READ,
    "GET /strategies": "authenticated",  # lists only what the key may see
    "POST /strategies": Action.TRADE,
    "GET /oms/risk/{account_id}/limits": Action.READ,
    "PUT /oms/risk/{account_id}/limits": Action.RISK_LIMITS,
    "GET /oms/risk/{account_id}/strategies": Action.READ,
    "GET /oms/risk/{account_id}/allocations": Action.READ,
    "PUT /oms/risk/{account_id}/allocations": "allocate",
    "POST /oms/risk/{account_id}/allocations/clear": "allocate",
    "POST /oms/risk/{account_id}/allow_new_positions": Action.ALLOW_NEW_POSITIONS,
    "POST /oms/risk/{account_id}/strategies/allow_new_positions": Action.ALLOW_NEW_POSITIONS,
    "POST /oms/risk/{account_id}/status": Action.BLOCK_ACCOUNT,
    # loss breakers: read by whoever reads the account, lifted by whoever sets its limits
    "GET /oms/risk/{account_id}/breakers": Action.READ,
    "POST /oms/risk/{account_id}/breakers/lift": Action.RISK_LIMITS,
    # a user's exposure limits: risk_limits on every account the user's keys trade (and the
    # user reads their own) (docs/identity-and-risk.md)
    "GET /oms/risk/users/{user_id}/exposure": Action.RISK_LIMITS,
    "PUT /oms/risk/users/{user_id}/exposure": Action.RISK_LIMITS,
    # the kill switch: the action on every account of the halted scope (docs/identity-and-risk.md)
    "POST /oms/risk/kill": Action.BLOCK_ACCOUNT,
    "POST /oms/risk/kill/lift": Action.BLOCK_ACCOUNT,
    "GET /oms/risk/kill": "authenticated",  # the halts that cover the key (risk: all of them)
    # the kill switch's signed webhook: any key sets its own secret; a signed call acts as that
    # key, and the kill switch's rules decide what it may halt
    "PUT /oms/risk/kill/webhook-secret": "authenticated",
    "POST /oms/risk/kill/webhook/{api_key_id}": "public",
    "POST /oms/reconcile": Action.RECONCILE,
    "GET /oms/reconcile/status": "authenticated",  # lists only the accounts the key may read
    "GET /oms/reconcile/{account_id}/status": Action.READ,
    "POST /oms/reassign": Action.REASSIGN,
    "POST /paper/{account_id}/external/{action}": "admin",
    "POST /oms/risk/{account_id}/shadow": Action.ALLOW_NEW_POSITIONS,
    "POST /oms/risk/{account_id}/strategies/shadow": Action.ALLOW_NEW_POSITIONS,
    # with an API key; a valid HMAC signature of the body acts as a robot with can_trade
    "POST /signals/{account_id}": Action.TRADE,
    "GET /signals/{account_id}": Action.READ,
    "PUT /admin/accounts/{account_id}/signal-secret": "admin",
    "GET /ccxt/orders/raw": Action.READ,
    "GET /ccxt/trades/raw": Action.READ,
    "GET /ccxt/{account_id}/has": Action.READ,
    # /ccxt functions and /oms/commands: the action depends on the function / command
    "POST /ccxt/{account_id}/{func}": "authenticated",
    "POST /ccxt/core/{account_id}/{func}": "authenticated",
    "POST /ccxt/commands": "authenticated",
    "POST /oms/commands": "authenticated",
}

# `POST /oms/commands` (and the websocket `command` action) per command type
COMMANDS: dict[str, Rule] = {
    "send_order": Action.TRADE,
    "send_order reduce_only": Action.CLOSE,
    "change_order": Action.TRADE,
    "cancel_order": "cancel",
    "cancel_all_orders": "cancel",
    "close_position": Action.CLOSE,
    "close_by": Action.CLOSE,
    "merge_positions": Action.TRADE,
    "position_change": Action.TRADE,
}

# websocket actions (namespace, action) → rule
WEBSOCKET: dict[str, Rule] = {
    "ping": "public",
    "auth": "public",
    "subscribe": Action.READ,
    "unsubscribe": "authenticated",
    "position/command": "authenticated",  # then COMMANDS
    "ccxt/call": "authenticated",  # then the /ccxt function class
    "ccxt/subscribe_market": Action.READ,
    "ccxt/unsubscribe_market": "authenticated",
}


def action_for(rule: Rule, role: Role) -> Action | None:
    """The account-scoped action a rule needs from `role` (None: not account-scoped)."""
    if rule == "cancel":
        return Action.RISK_CANCEL if role is Role.RISK else Action.TRADE
    if rule == "allocate":
        return Action.TRADE if role is Role.PORTFOLIO_MANAGER else None
    return rule if isinstance(rule, Action) else None
