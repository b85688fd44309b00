"""The kill switch (issue 53), pure: which halts a command meets at acceptance, what may still
pass during a halt, and what to queue when a halt is engaged (cancels of the scope's working
orders, and closes of its positions when asked to flatten).

A halt covers one scope: a key (`scope_id` = api key id), a strategy (strategy id, on every
account it trades), an account, a user (every key of the user) or everything (`scope_id` 0).
While it is active, commands in its scope are refused at acceptance (`risk_blocked`, rule
`kill_switch`) except cancels, and closes (`close_position`, `close_by`, reduce-only orders) by
the risk role, so the halt itself and a risk officer can still bring the books down.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from apps.oms.domain.errors import RiskBlocked

Scope = Literal["key", "strategy", "account", "user", "all"]
SCOPES: tuple[Scope, ...] = ("key", "strategy", "account", "user", "all")
#: scopes whose positions are theirs to flatten (a key's or a user's orders share positions)
FLATTENABLE: frozenset[str] = frozenset({"strategy", "account", "all"})
CANCELS = frozenset({"cancel_order", "cancel_all_orders"})
CLOSES = frozenset({"close_position", "close_by"})
MAX_ORDER_IDS = 500  # per cancel_order command (its payload's limit)


@dataclass(frozen=True, slots=True)
class Halt:
    halt_id: int
    scope: Scope
    scope_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sends a command, where, and for which strategy (None: the command names none)."""

    account_id: int
    api_key_id: int | None
    user_id: int | None
    strategy_id: int | None = None


def covers(halt: Halt, caller: Caller) -> bool:
    """Whether the halt's scope holds this command."""
    if halt.scope == "all":
        return True
    target = {"key": caller.api_key_id, "user": caller.user_id, "account": caller.account_id,
              "strategy": caller.strategy_id}[halt.scope]  # fmt: skip
    return target is not None and target == halt.scope_id


def passes_halt(command: str, reduce_only: bool, risk_role: bool) -> bool:
    """What a halted scope still accepts: cancels from anyone, closes from the risk role."""
    if command in CANCELS:
        return True
    return risk_role and (command in CLOSES or (command == "send_order" and reduce_only))


def check_halts(
    halts: Iterable[Halt], caller: Caller, command: str, reduce_only: bool, risk_role: bool
) -> None:
    """Raise `RiskBlocked(kill_switch)` for the first active halt covering the command, unless
    the command passes halts."""
    if passes_halt(command, reduce_only, risk_role):
        return
    for halt in sorted(halts, key=lambda h: h.halt_id):
        if covers(halt, caller):
            raise RiskBlocked(
                "kill_switch", f"halted by the kill switch ({halt.scope}): {halt.reason}",
                halt.scope, halt_id=str(halt.halt_id), scope_id=str(halt.scope_id),
                reason=halt.reason,
            )  # fmt: skip


@dataclass(frozen=True, slots=True)
class WorkingOrder:
    order_id: int
    account_id: int
    strategy_id: int


@dataclass(frozen=True, slots=True)
class Queued:
    """One command the kill switch queues through the normal command path (request id
    `kill:{halt_id}:{tag}`: queued once, executed once)."""

    account_id: int
    command: str
    payload: dict[str, object]
    tag: str


def plan(
    halt: Halt,
    working: Sequence[WorkingOrder],
    open_positions: Sequence[tuple[int, int]],
    flatten: bool,
) -> list[Queued]:
    """The cancels of the scope's working orders (then, with `flatten`, the closes of its open
    positions `(account_id, position_id)`), per account in account order. Without `flatten`,
    one `cancel_all_orders` per account for an account or everything (a strategy's: of that
    strategy), which also takes an order accepted just before the halt committed; for a key's
    or a user's own orders, and when flattening (a `cancel_all_orders` would cancel the closes
    queued after it too), `cancel_order` lists of the working orders. `working` and
    `open_positions` are those of the scope already."""
    queued: list[Queued] = []
    flattens = flatten and halt.scope in FLATTENABLE
    accounts = sorted({o.account_id for o in working} | {a for a, _ in open_positions})
    for account_id in accounts:
        mine = sorted(o.order_id for o in working if o.account_id == account_id)
        if mine and halt.scope in ("account", "all") and not flattens:
            queued.append(Queued(account_id, "cancel_all_orders", {}, "cancel"))
        elif mine and halt.scope == "strategy" and not flattens:
            queued.append(Queued(account_id, "cancel_all_orders",
                                 {"strategy_ids": [halt.scope_id]}, "cancel"))  # fmt: skip
        elif mine:
            for n, start in enumerate(range(0, len(mine), MAX_ORDER_IDS)):
                queued.append(Queued(account_id, "cancel_order",
                                     {"order_ids": mine[start:start + MAX_ORDER_IDS]},
                                     f"cancel:{n}"))  # fmt: skip
        if flattens:
            for _, position_id in sorted(p for p in open_positions if p[0] == account_id):
                queued.append(Queued(account_id, "close_position",
                                     {"position_id": position_id, "reason": "kill_switch"},
                                     f"close:{position_id}"))  # fmt: skip
    return queued
