"""Pre-trade controls checked at acceptance only (issue 53): the price collar, the duplicate-order
window and the maximum of open orders, per scope (account, strategy, API key), each failure a
`RiskBlocked` with a stable rule, the scope, the limit and the value. The command rate
(`max_commands_per_minute`) is decided here too (`rate_window`, `rate_refusal`); its counter
lives in the store, so that it holds across API processes.

Rules and what they compare (`docs/identity-and-risk.md` → Pre-trade controls):

    price_collar      a limit price through the reference price by more than the scope's
                      bps (a buy above ref × (1 + bps/10,000), a sell below ref × (1 − bps/10,000))
    no_reference_price  a collar is set and there is no reference price to hold the order to
    duplicate_order   the same key sent the same symbol, side, quantity and price within the
                      scope's window (ms)
    max_open_orders   the scope already has that many open orders
    max_commands_per_minute  (service/command_rate.py) the scope's commands this UTC minute

Reduce-only orders meet the collar and the duplicate window (they guard against erroneous
orders, closing ones too), not `max_open_orders` (closing must stay possible).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from apps.oms.domain.enums import Side
from apps.oms.domain.errors import RiskBlocked
from apps.oms.domain.risk import RiskLimits, plain

BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class RecentOrder:
    """An order the same key sent to the account lately (for the duplicate window)."""

    symbol: str
    side: Side
    qty: Decimal
    price: Decimal | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ControlScope:
    """One scope's limits and what the controls count in it (committed + accepted so far)."""

    name: str  # account | strategy | key
    limits: RiskLimits
    open_orders: int = 0


@dataclass(frozen=True, slots=True)
class ControlIntent:
    """The order the controls look at."""

    symbol: str
    side: Side
    qty: Decimal
    price: Decimal | None  # the limit price; market orders are not collared
    reduce_only: bool = False


@dataclass(frozen=True, slots=True)
class Refusal:
    rule: str
    scope: str
    details: dict[str, str]

    def error(self) -> RiskBlocked:
        measured = ""
        if "limit" in self.details and "value" in self.details:
            measured = f": {self.details['value']} against the limit {self.details['limit']}"
        message = f"order refused by risk rule {self.rule} ({self.scope}){measured}"
        return RiskBlocked(self.rule, message, self.scope, **self.details)


def collar_bps(limits: RiskLimits, symbol: str) -> int | None:
    """The scope's collar for `symbol`: its own entry, else the default, else None."""
    for name, bps in limits.price_collar_symbols or ():
        if name == symbol:
            return bps
    return limits.price_collar_bps


def needs_reference_price(scopes: Sequence[ControlScope], intent: ControlIntent) -> bool:
    return intent.price is not None and any(
        collar_bps(s.limits, intent.symbol) is not None for s in scopes
    )


def duplicate_window(scopes: Sequence[ControlScope]) -> int | None:
    """The widest duplicate window of the scopes (ms), None when no scope sets one: how far
    back the recent orders of the key are read."""
    windows = [s.limits.duplicate_window_ms for s in scopes if s.limits.duplicate_window_ms]
    return max(windows) if windows else None


def counts_open_orders(limits: RiskLimits) -> bool:
    return limits.max_open_orders is not None


def _collar(intent: ControlIntent, scope: ControlScope, ref: Decimal | None) -> Refusal | None:
    bps = collar_bps(scope.limits, intent.symbol)
    if bps is None or intent.price is None:
        return None
    if ref is None or ref <= 0:
        return Refusal("no_reference_price", scope.name, {"limit": str(bps)})
    through = intent.price - ref if intent.side is Side.BUY else ref - intent.price
    if through * BPS <= ref * bps:
        return None
    deviation = (through * BPS / ref).quantize(Decimal("0.01"))
    return Refusal("price_collar", scope.name, {
        "limit": str(bps), "value": plain(deviation), "reference_price": plain(ref),
        "price": plain(intent.price),
    })  # fmt: skip


def _duplicate(
    intent: ControlIntent, scope: ControlScope, recent: Sequence[RecentOrder], now: datetime
) -> Refusal | None:
    window = scope.limits.duplicate_window_ms
    if not window:
        return None
    since = now - timedelta(milliseconds=window)
    for order in recent:
        if (
            order.created_at > since
            and (order.symbol, order.side, order.qty, order.price)
            == (intent.symbol, intent.side, intent.qty, intent.price)
        ):
            age = (now - order.created_at) // timedelta(milliseconds=1)
            return Refusal("duplicate_order", scope.name, {
                "limit": str(window), "value": str(max(0, age))})  # fmt: skip
    return None


def _open_orders(intent: ControlIntent, scope: ControlScope) -> Refusal | None:
    limit = scope.limits.max_open_orders
    if intent.reduce_only or limit is None or scope.open_orders < limit:
        return None
    return Refusal("max_open_orders", scope.name, {
        "limit": str(limit), "value": str(scope.open_orders)})  # fmt: skip


def refusals(
    intent: ControlIntent,
    scopes: Sequence[ControlScope],
    *,
    reference_price: Decimal | None,
    recent: Sequence[RecentOrder],
    now: datetime,
) -> Iterator[Refusal]:
    """Every failing control, scope by scope in the order given, each scope's controls in a
    fixed order (collar, duplicate, open orders). `recent`: the key's orders on the account
    within `duplicate_window(scopes)`."""
    for scope in scopes:
        for refusal in (
            _collar(intent, scope, reference_price),
            _duplicate(intent, scope, recent, now),
            _open_orders(intent, scope),
        ):
            if refusal is not None:
                yield refusal


def check_controls(
    intent: ControlIntent,
    scopes: Sequence[ControlScope],
    *,
    reference_price: Decimal | None,
    recent: Sequence[RecentOrder],
    now: datetime,
) -> None:
    """Raise the first refusal's `RiskBlocked`; return if every control passes."""
    for refusal in refusals(
        intent, scopes, reference_price=reference_price, recent=recent, now=now
    ):
        raise refusal.error()


def check_collar(
    intent: ControlIntent, scopes: Sequence[ControlScope], reference_price: Decimal | None
) -> None:
    """The price collar alone (a `change_order`'s new price): raise its refusal or return."""
    for scope in scopes:
        refusal = _collar(intent, scope, reference_price)
        if refusal is not None:
            raise refusal.error()


# --- command rate ---------------------------------------------------------------------------


def rate_window(now: datetime) -> tuple[datetime, int]:
    """The UTC minute `now` is in (its start) and the whole seconds until the next one (≥ 1):
    the counter's key and the refusal's `Retry-After`."""
    start = now.replace(second=0, microsecond=0)
    left = start + timedelta(minutes=1) - now
    return start, max(1, -(-left // timedelta(seconds=1)))
