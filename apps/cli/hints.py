"""What the user can do about a refusal: one hint per error code, and for a 403 one by its cause
(the key's role, its flags on the account, its strategies, a /ccxt function grant), read from
the error body the API sends (code, message, details; apps/oms/domain/access.py words them)."""

from __future__ import annotations

import re
from typing import Any

from apps.oms.domain.access import ACTION_FLAGS, ROLE_CEILING, Action, Role

HINTS: dict[str, str] = {
    "missing_api_key": "pass --api-key, set OMS_API_KEY or add api_key to your profile",
    "invalid_api_key": "check the key (ccxt-oms create-api-key prints a new one)",
    "admin_required": "use an admin key",
    "admin_read_only": "admins read every account but never trade: use a key of a trading user"
    " (trader, portfolio_manager or robot) with the flags on this account",
    "account_not_found": "list the accounts this key sees with `ccxt-oms list-accounts`",
    "rate_limited": "slow down and retry",
}
ROLE_REFUSAL = re.compile(r"role (?P<role>\w+) may not (?P<action>\w+)")
FLAG_REFUSAL = re.compile(r"this key may not (?P<action>\w+) (?:on the account|any account)")
FLAG_NAME = re.compile(r"\bcan_\w+")
FLAGS_SHOWN = "`ccxt-oms list-accounts` shows this key's flags on each account"
SET_PERMISSION = (
    "ask an admin to add {flags} to this key's flags on the account (ccxt-oms set-permission;"
    " it sets every flag at once, so repeat those the key keeps)"
)


def hint(status: int, code: str, message: str, details: dict[str, Any]) -> str:
    """The hint for an error body; empty when there is nothing better than its message."""
    if code == "permission_denied":
        return permission_hint(message)
    if code == "strategy_permission_denied":
        return strategy_hint(message, details)
    if code == "function_not_allowed":
        return function_hint(details)
    if code in HINTS:
        return HINTS[code]
    if status == 422:
        return "fix the input; see `--help` for the flags"
    return ""


def permission_hint(message: str) -> str:
    """A 403 `permission_denied`: the role cannot do it at all, or the key lacks a flag."""
    if role := ROLE_REFUSAL.search(message):
        return role_hint(role["action"])
    if flag := FLAG_REFUSAL.search(message):
        return flags_hint(flag["action"])
    if "portfolio manager" in message:
        return "use the key of a portfolio_manager user that is not restricted to strategies"
    if "at most your own rights" in message:
        return f"ask for no more than this key holds; {FLAGS_SHOWN}"
    if names := FLAG_NAME.findall(message):
        return SET_PERMISSION.format(flags=" ".join(cli_flag(n) for n in dict.fromkeys(names)))
    return FLAGS_SHOWN


def role_hint(action_name: str) -> str:
    """No flag helps: the action is outside the role's ceiling, so name the roles that have it."""
    try:
        action = Action(action_name)
    except ValueError:
        return "no flag allows it for this role: use the key of a user whose role does"
    roles = [r.value for r in Role if r is not Role.ADMIN and action in ROLE_CEILING[r]]
    return (
        f"no flag allows it for this role: use the key of a {' or '.join(roles)} user"
        f" (an admin sets roles: ccxt-oms update-user --user-id ID --role {roles[0]})"
        if roles
        else "no role may do it through this API"
    )


def flags_hint(action_name: str) -> str:
    """The role may do it, but the key's flags on the account do not allow it."""
    try:
        groups = ACTION_FLAGS[Action(action_name)]
    except (ValueError, KeyError):
        return FLAGS_SHOWN
    wanted = " or ".join(" ".join(cli_flag(name) for name in group) for group in groups)
    return SET_PERMISSION.format(flags=wanted)


def strategy_hint(message: str, details: dict[str, Any]) -> str:
    """A 403 for a key restricted to strategies."""
    if details.get("reason") == "no_allocation":
        return "a portfolio manager or an admin gives the strategy an allocation first"
    if "not granted strategy" in message:
        return (
            "use a strategy this key is granted (ccxt-oms list-strategies), or ask an admin to"
            " add it (ccxt-oms set-permission --strategy-ids)"
        )
    return "this key is restricted to strategies: use a key that is not"


def function_hint(details: dict[str, Any]) -> str:
    """A 403 for a /ccxt function: refused to everyone, or granted one key at a time."""
    if details.get("class") == "refused":
        return "no key may call it: use the /oms endpoints (or the ccxt-oms commands) instead"
    function = details.get("function") or "NAME"
    return (
        "ask an admin for the function on this account (ccxt-oms grant-function --api-key-id ID"
        f" --account-id ID --function {function})"
    )


def cli_flag(name: str) -> str:
    return "--" + name.replace("_", "-")
