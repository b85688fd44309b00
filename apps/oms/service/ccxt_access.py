"""Who may call which CCXT function on which account (security.md → CCXT function allow-list),
and whether the account's exchange supports it (`exchange.has`)."""

from __future__ import annotations

from typing import Any

from apps.oms.domain.access import Action, Role
from apps.oms.errors import OmsError, PermissionDenied
from apps.oms.exchange.ccxt.functions import ORDER_CREATORS, FunctionClass, FunctionSpec, classify
from apps.oms.ports import Structure
from apps.oms.security.principal import Principal

RESTRICTED_ROLES = frozenset({Role.TRADER, Role.PORTFOLIO_MANAGER})
# reads that show nothing account-private: the only reads a strategy-restricted key may make
MARKET_DATA = frozenset({
    "load_markets", "fetch_markets", "fetch_currencies", "fetch_status", "fetch_time",
    "fetch_ticker", "fetch_tickers", "fetch_bids_asks", "fetch_order_book",
    "fetch_l2_order_book", "fetch_trades", "fetch_ohlcv", "fetch_mark_ohlcv",
    "fetch_index_ohlcv", "fetch_funding_rate", "fetch_funding_rates",
    "fetch_funding_rate_history", "fetch_open_interest",
})  # fmt: skip
# account reads that show nothing of another strategy (fees, leverage tiers, the account's
# leverage and margin settings): a futures bot needs them at start-up
STRATEGY_READS = frozenset({
    "fetch_trading_fee", "fetch_trading_fees", "fetch_leverage_tiers",
    "fetch_market_leverage_tiers", "fetch_leverage", "fetch_leverages", "fetch_margin_mode",
    "fetch_margin_modes", "fetch_position_mode",
})  # fmt: skip
# answered for a strategy-restricted key from its strategies' own books, never by the venue
# (`service/strategy_funds.py`)
STRATEGY_BOOK_READS = frozenset({"fetch_balance", "fetch_funding_history"})
# restricted functions a strategy-restricted key may call, with an explicit grant
STRATEGY_GRANTABLE = frozenset({"set_leverage", "set_margin_mode"})


def restricted_key(principal: Principal, account_id: int) -> bool:
    flags = principal.flags_for(account_id)
    return flags is not None and flags.restrict_to_strategies


def authorize_call(principal: Principal, account_id: int, func: str) -> FunctionSpec:
    """The function's spec if `principal` may call it on the account; else 404 (invisible
    account) or 403 (`function_not_allowed`, `permission_denied`, `admin_read_only`,
    `strategy_permission_denied`)."""
    principal.require(Action.READ, account_id)
    spec = classify(func)
    if spec.klass is FunctionClass.REFUSED:
        raise PermissionDenied(
            f"{func} is not callable through /ccxt", code="function_not_allowed",
            details={"function": spec.name, "class": spec.klass.value},
        )
    flags = principal.flags_for(account_id)
    restricted = restricted_key(principal, account_id)
    if spec.klass is FunctionClass.READ:
        if restricted and spec.name not in MARKET_DATA | STRATEGY_READS | STRATEGY_BOOK_READS:
            raise PermissionDenied(
                "strategy-restricted keys may not read account-private data through /ccxt",
                code="strategy_permission_denied",
            )
        return spec
    principal.require(Action.TRADE, account_id)
    if restricted and spec.name not in STRATEGY_GRANTABLE:
        raise PermissionDenied(
            "strategy-restricted keys trade through /oms/commands", code="strategy_permission_denied"
        )
    if spec.klass is FunctionClass.RESTRICTED and (
        principal.role not in RESTRICTED_ROLES
        or flags is None
        or spec.name not in flags.allowed_functions
    ):
        raise PermissionDenied(
            f"{spec.name} needs an explicit allowed_functions grant on this account",
            code="function_not_allowed",
            details={"function": spec.name, "class": spec.klass.value},
        )
    return spec


def check_capability(exchange: Any, spec: FunctionSpec) -> None:
    """422 `not_supported` when the exchange lacks the function."""
    has: Structure = getattr(exchange, "has", None) or {}  # CCXT's capabilities
    supported = bool(has.get(spec.has_key)) if spec.has_key else True
    if spec.name not in ORDER_CREATORS and not callable(getattr(exchange, spec.name, None)):
        supported = False
    if not supported:
        raise OmsError(
            f"{getattr(exchange, 'id', 'exchange')} does not support {spec.name}",
            code="not_supported", status=422, details={"function": spec.name},
        )
