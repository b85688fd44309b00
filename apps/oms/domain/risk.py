"""Pre-trade risk: pure checks of an order intent over a snapshot of limits and counters, each
failure a stable rule name (raised as `risk_blocked` with `rule` and `scope`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date
from decimal import Decimal

from apps.oms.domain.enums import Side
from apps.oms.domain.errors import RiskBlocked
from apps.oms.domain.money import ZERO, money_context, quantize, to_plain
from apps.oms.domain.positions import Deal


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Configured limits of one scope (account or strategy); None = no limit. Fields in the
    order they are stored and shown; `symbol_allowlist` in its configured order (membership is
    all a rule asks of it). The fields from `max_commands_per_minute` on are checked at
    acceptance only (`domain/controls.py`, the command rate by `service/command_rate.py`); the
    worker's re-check runs the rules of `CHECKS`. `price_collar_symbols`: (symbol, bps) pairs
    that override `price_collar_bps` for their symbol."""

    max_open_positions: int | None = None
    max_open_positions_per_symbol: int | None = None
    max_order_qty: Decimal | None = None
    max_order_notional: Decimal | None = None
    min_order_notional: Decimal | None = None
    max_position_notional: Decimal | None = None
    max_open_orders_per_symbol: int | None = None
    daily_loss_limit: Decimal | None = None
    symbol_allowlist: tuple[str, ...] | None = None
    max_commands_per_minute: int | None = None
    price_collar_bps: int | None = None
    price_collar_symbols: tuple[tuple[str, int], ...] | None = None
    duplicate_window_ms: int | None = None
    max_open_orders: int | None = None
    # loss breakers (`domain/breakers.py`): watched by the worker, their state read at acceptance
    loss_breaker: Decimal | None = None
    drawdown_breaker: Decimal | None = None
    breaker_action: str | None = None  # reduce_only (default) | halted

    @property
    def checks_nothing(self) -> bool:
        """No rule of `CHECKS` is configured: an order meets no limit, its counters are not
        needed (the acceptance-only controls ask `controls.needs_counters`)."""
        return all(v is None for v in (
            self.max_open_positions, self.max_open_positions_per_symbol, self.max_order_qty,
            self.max_order_notional, self.min_order_notional, self.max_position_notional,
            self.max_open_orders_per_symbol, self.daily_loss_limit, self.symbol_allowlist,
        ))  # fmt: skip


@dataclass(frozen=True, slots=True)
class RiskScope:
    """One scope's limits and its counters at the time of the check (committed + queued)."""

    name: str
    limits: RiskLimits
    allow_new_positions: bool = True
    # reconciliation found the account out of sync and it is configured to refuse new
    # positions meanwhile (fail-closed; account scope only)
    out_of_sync: bool = False
    open_positions: int = 0
    open_positions_in_symbol: int = 0
    open_orders_in_symbol: int = 0
    daily_realized_pnl: Decimal = ZERO
    position_qty: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """The order being checked. `opens_position` = it would create a new position (hedge
    `position_id = 0`, or no/opposite netting position); `privileged_close` = a close by a
    risk manager, allowed on a blocked account."""

    symbol: str
    side: Side
    qty: Decimal
    contract_size: Decimal = Decimal(1)
    price: Decimal | None = None
    reduce_only: bool = False
    opens_position: bool = True
    privileged_close: bool = False


Check = Callable[[OrderIntent, RiskScope, Decimal | None], str | None]


def _symbol(o: OrderIntent, s: RiskScope, _: Decimal | None) -> str | None:
    allow = s.limits.symbol_allowlist
    return "symbol_not_allowed" if allow is not None and o.symbol not in allow else None


def _new_positions(o: OrderIntent, s: RiskScope, _: Decimal | None) -> str | None:
    if s.out_of_sync and o.opens_position:
        return "account_out_of_sync"
    if s.allow_new_positions:
        return None
    if s.name == "account":
        return "new_positions_not_allowed"
    return "strategy_new_positions_not_allowed"


def _daily_loss(o: OrderIntent, s: RiskScope, _: Decimal | None) -> str | None:
    limit = s.limits.daily_loss_limit
    breached = limit is not None and -s.daily_realized_pnl >= limit
    return "daily_loss_limit" if breached else None


def _order_qty(o: OrderIntent, s: RiskScope, _: Decimal | None) -> str | None:
    limit = s.limits.max_order_qty
    return "max_order_qty" if limit is not None and o.qty > limit else None


def _open_orders(o: OrderIntent, s: RiskScope, _: Decimal | None) -> str | None:
    limit = s.limits.max_open_orders_per_symbol
    full = limit is not None and s.open_orders_in_symbol >= limit
    return "max_open_orders_per_symbol" if full else None


def _open_positions(o: OrderIntent, s: RiskScope, _: Decimal | None) -> str | None:
    if not o.opens_position:
        return None
    total, per_symbol = s.limits.max_open_positions, s.limits.max_open_positions_per_symbol
    if total is not None and s.open_positions >= total:
        return "max_open_positions"
    if per_symbol is not None and s.open_positions_in_symbol >= per_symbol:
        return "max_open_positions_per_symbol"
    return None


def _notional(o: OrderIntent, s: RiskScope, price: Decimal | None) -> str | None:
    lim = s.limits
    if (lim.min_order_notional, lim.max_order_notional, lim.max_position_notional) == (
        None,
        None,
        None,
    ):
        return None
    if price is None:
        return "no_reference_price"
    with money_context():
        notional = quantize(o.qty * price * o.contract_size)
        after = abs(s.position_qty + o.side.sign * o.qty)
        position_notional = quantize(after * price * o.contract_size)
    if lim.min_order_notional is not None and notional < lim.min_order_notional:
        return "min_order_notional"
    if lim.max_order_notional is not None and notional > lim.max_order_notional:
        return "max_order_notional"
    if lim.max_position_notional is not None and position_notional > lim.max_position_notional:
        return "max_position_notional"
    return None


CHECKS: tuple[Check, ...] = (
    _symbol,
    _new_positions,
    _daily_loss,
    _order_qty,
    _open_orders,
    _open_positions,
    _notional,
)


def violations(
    intent: OrderIntent,
    scopes: Sequence[RiskScope],
    account_blocked: bool = False,
    quote_price: Decimal | None = None,
) -> Iterator[tuple[str, str]]:
    """Every failing (rule, scope) in a fixed order. Reduce-only orders only meet the blocked
    account rule: closing must stay possible whatever the limits. Reference price for notional
    rules: the order's limit price, else the quote no older than 10 s, else `no_reference_price`."""
    if account_blocked and not intent.privileged_close:
        yield "account_blocked", "account"
    if intent.reduce_only:
        return
    price = intent.price if intent.price is not None else quote_price
    for scope in scopes:
        for check in CHECKS:
            rule = check(intent, scope, price)
            if rule is not None:
                yield rule, scope.name


def check_order(
    intent: OrderIntent,
    scopes: Sequence[RiskScope],
    account_blocked: bool = False,
    quote_price: Decimal | None = None,
) -> None:
    """Raise `RiskBlocked(rule, scope)` for the first failing rule, with the rule's `limit` and
    the order's `value` where the rule has them; return if all pass."""
    for rule, name in violations(intent, scopes, account_blocked, quote_price):
        scope = next((s for s in scopes if s.name == name), None)
        price = intent.price if intent.price is not None else quote_price
        measured = {} if scope is None else measure(rule, intent, scope, price)
        raise RiskBlocked(rule, refusal_message(rule, name, measured), name, **measured)


def refusal_message(rule: str, scope: str, measured: dict[str, str]) -> str:
    """`order refused by risk rule max_order_qty (account): 2 > limit 1`."""
    text = f"order refused by risk rule {rule} ({scope})"
    if "limit" in measured and "value" in measured:
        text += f": {measured['value']} against the limit {measured['limit']}"
    return text


def measure(
    rule: str, intent: OrderIntent, scope: RiskScope, price: Decimal | None
) -> dict[str, str]:
    """The `limit` of a quantitative rule and the order's `value` it was compared with (decimal
    strings); empty for rules without a number."""
    lim = scope.limits
    value: Decimal | int | None = None
    limit: Decimal | int | None = None
    if rule == "max_order_qty":
        limit, value = lim.max_order_qty, intent.qty
    elif rule in ("max_order_notional", "min_order_notional") and price is not None:
        limit = lim.max_order_notional if rule == "max_order_notional" else lim.min_order_notional
        with money_context():
            value = quantize(intent.qty * price * intent.contract_size)
    elif rule == "max_open_orders_per_symbol":
        limit, value = lim.max_open_orders_per_symbol, scope.open_orders_in_symbol
    elif rule == "max_open_positions":
        limit, value = lim.max_open_positions, scope.open_positions
    elif rule == "max_open_positions_per_symbol":
        limit, value = lim.max_open_positions_per_symbol, scope.open_positions_in_symbol
    elif rule == "daily_loss_limit":
        limit, value = lim.daily_loss_limit, -scope.daily_realized_pnl
    if limit is None or value is None:
        return {}
    return {"limit": plain(limit), "value": plain(value)}


def plain(value: Decimal | int) -> str:
    """A number as the wire shows decimals (plain notation, no trailing zeros)."""
    return str(value) if isinstance(value, int) else to_plain(value)


def daily_realized_pnl(deals: Iterable[Deal], day: date) -> Decimal:
    """Realised PnL (gross of fees) of the deals executed on a UTC calendar day, for the
    `daily_loss_limit` counter of a scope (pass that scope's deals)."""
    return sum((d.pnl for d in deals if d.executed_at.astimezone(UTC).date() == day), ZERO)
