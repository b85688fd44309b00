"""Loss breakers (issue 53), pure: the day's loss (realised + unrealised) and the drawdown from
the day's peak equity of an account or a strategy, and what happens when one is crossed.

A scope (the account, `strategy_id` 0, or one strategy on it) with `loss_breaker` or
`drawdown_breaker` set is watched by the worker that holds the account. Its **equity** is the
day's PnL: realised PnL of the deals of the UTC day (gross of fees, as `daily_loss_limit`)
plus the unrealised PnL of its open positions at the marks. Each UTC day starts at a
`baseline` and a `peak` of 0; then

    loss      = baseline − equity         trips `loss_breaker` when ≥ the limit
    drawdown  = peak − equity             trips `drawdown_breaker` when ≥ the limit
    peak      = the highest equity seen since the day started (or since the last lift)

A tripped breaker moves the scope to its `breaker_action` (`reduce_only`: orders that open or
increase exposure are refused; `halted`: every new command but cancels is refused, closes pass
for the risk role) and stays there, across days and restarts, until the risk role lifts it.
In both states the scope's working orders that could open or increase exposure (those not
reduce-only) are cancelled on the venue (`to_cancel`); its exits (reduce-only orders and
position closes) stay working, since they can only shrink what the breaker guards. A
lift re-arms the breaker from the equity at the next check (`baseline` and `peak` become that
equity), so the scope may lose up to the limit again before it trips again that day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Literal

from apps.oms.domain.errors import RiskBlocked
from apps.oms.domain.money import ZERO
from apps.oms.domain.positions import Position
from apps.oms.domain.risk import plain

Action = Literal["reduce_only", "halted"]
ACTIONS: tuple[Action, ...] = ("reduce_only", "halted")
State = Literal["armed", "reduce_only", "halted"]
RULES = ("loss_breaker", "drawdown_breaker")


@dataclass(frozen=True, slots=True)
class BreakerLimits:
    """A scope's breaker limits (None: not watched) and what a trip does."""

    loss: Decimal | None = None
    drawdown: Decimal | None = None
    action: Action = "reduce_only"

    @property
    def watched(self) -> bool:
        return self.loss is not None or self.drawdown is not None


@dataclass(frozen=True, slots=True)
class Breaker:
    """A scope's stored breaker. `baseline` None: lifted, re-armed from the next equity.
    `rule`, `limit` and `value` say what tripped it (None while armed)."""

    strategy_id: int  # 0 = the account
    day: date
    baseline: Decimal | None = ZERO
    peak: Decimal | None = ZERO
    state: State = "armed"
    rule: str | None = None
    limit: Decimal | None = None
    value: Decimal | None = None
    version: int = 0

    @property
    def tripped(self) -> bool:
        return self.state != "armed"


def equity(
    realized: Decimal, positions: Iterable[Position], marks: Mapping[str, Decimal]
) -> Decimal | None:
    """The day's PnL: `realized` plus the unrealised PnL of `positions` at `marks`; None when
    an open position has no mark (nothing is decided without one)."""
    total = realized
    for position in positions:
        mark = marks.get(position.symbol)
        if mark is None:
            return None
        total += position.unrealized_pnl(mark)
    return total


def assess(
    limits: BreakerLimits, stored: Breaker | None, *, strategy_id: int, day: date,
    equity_now: Decimal,
) -> Breaker:  # fmt: skip
    """The scope's breaker after seeing `equity_now` on `day`: unchanged when tripped (a trip
    holds until the risk role lifts it), else rolled over to a new day, re-armed after a
    lift, its peak raised, and tripped when a limit is crossed (the loss rule first)."""
    if stored is not None and stored.tripped:
        return stored
    version = 0 if stored is None else stored.version
    if stored is None or stored.day != day:  # a new day starts at 0
        current, baseline, peak = Breaker(strategy_id, day, version=version), ZERO, ZERO
    elif stored.baseline is None or stored.peak is None:  # lifted: re-armed from here
        current, baseline, peak = stored, equity_now, equity_now
    else:
        current, baseline, peak = stored, stored.baseline, stored.peak
    peak = max(peak, equity_now)
    current = replace(current, baseline=baseline, peak=peak)
    loss = baseline - equity_now
    if limits.loss is not None and loss >= limits.loss:
        return replace(current, state=limits.action, rule="loss_breaker", limit=limits.loss,
                       value=loss)  # fmt: skip
    drawdown = peak - equity_now
    if limits.drawdown is not None and drawdown >= limits.drawdown:
        return replace(current, state=limits.action, rule="drawdown_breaker",
                       limit=limits.drawdown, value=drawdown)  # fmt: skip
    return current


def lifted(stored: Breaker) -> Breaker:
    """The breaker as a lift leaves it: armed, re-armed from the next equity seen."""
    return replace(stored, state="armed", rule=None, limit=None, value=None, baseline=None,
                   peak=None)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Working:
    """A working order on the venue, as a tripped breaker sees it."""

    order_id: int
    strategy_id: int
    reduce_only: bool


def to_cancel(breakers: Sequence[Breaker], working: Iterable[Working]) -> list[int]:
    """The working orders that tripped breakers take off the venue: those in a tripped scope
    (the account's covers every strategy) that are not reduce-only, in the given order.
    Level-triggered: asked again after a restart, it names whatever is still working."""
    return [o.order_id for o in working
            if not o.reduce_only and covering(breakers, o.strategy_id) is not None]  # fmt: skip


# --- at acceptance ----------------------------------------------------------------------------


def covering(breakers: Sequence[Breaker], strategy_id: int | None) -> Breaker | None:
    """The tripped breaker that holds a command: the account's, else its strategy's (a halt
    before a reduce-only state)."""
    held = [b for b in breakers
            if b.tripped and (b.strategy_id == 0 or b.strategy_id == strategy_id)]  # fmt: skip
    if not held:
        return None
    return min(held, key=lambda b: (b.state != "halted", b.strategy_id))


def refusal(breaker: Breaker) -> RiskBlocked:
    """The 409 `risk_blocked` of a command a tripped breaker refuses."""
    scope = "strategy" if breaker.strategy_id else "account"
    details = {"state": breaker.state, "strategy_id": str(breaker.strategy_id)}
    if breaker.limit is not None and breaker.value is not None:
        details |= {"limit": plain(breaker.limit), "value": plain(breaker.value)}
    what = "halted" if breaker.state == "halted" else "reduce-only"
    return RiskBlocked(
        breaker.rule or "loss_breaker",
        f"order refused by risk rule {breaker.rule} ({scope}): the {scope} is {what} until "
        "the risk role lifts its breaker",
        scope, **details,
    )  # fmt: skip


def check_halted(
    breakers: Sequence[Breaker], strategy_id: int | None, command: str, reduce_only: bool,
    risk_role: bool,
) -> None:  # fmt: skip
    """A halted scope accepts cancels from anyone and closes from the risk role only."""
    breaker = covering(breakers, strategy_id)
    if breaker is None or breaker.state != "halted":
        return
    if command in ("cancel_order", "cancel_all_orders"):
        return
    closes = command in ("close_position", "close_by") or (command == "send_order"
                                                          and reduce_only)  # fmt: skip
    if closes and risk_role:
        return
    raise refusal(breaker)


def check_reduce_only(breakers: Sequence[Breaker], strategy_id: int, closing: bool) -> None:
    """A reduce-only (or halted) scope refuses an order that opens or increases exposure."""
    breaker = covering(breakers, strategy_id)
    if breaker is not None and not closing:
        raise refusal(breaker)
