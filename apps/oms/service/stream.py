"""Websocket stream use cases: who may see which events (subscription scopes, strategy filters
for restricted keys) and snapshots that are consistent with a stream position (`seq`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from apps.oms.domain.access import AccessDenied, Action, authorize_strategy
from apps.oms.domain.events import OrderView, PositionView
from apps.oms.errors import NotFound, OmsError, PermissionDenied, ValidationFailed
from apps.oms.security.principal import Principal
from apps.oms.service.views import order_view, position_view
from apps.oms.store import reads, stream
from apps.oms.store.reads import Filters, Scope
from apps.oms.store.store import Store

NAMESPACES = frozenset({"position", "ccxt", "risk"})  # what a subscription gets by default
# opt-in: fleet events such as `account_owner_changed` (a worker took a dead worker's account)
SUBSCRIBABLE = NAMESPACES | {"system"}
SNAPSHOT_LIMIT = 5000
SNAPSHOT_WAIT_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class AccountScope:
    """What one subscription on one account lets through.

    `strategies` None: every strategy. Events without a strategy (account-level: command
    results, batch cancels, account risk events) pass only when `account_level` is true, which
    it is not for strategy-restricted keys (they could belong to any strategy).
    """

    account_id: int
    namespaces: frozenset[str]
    strategies: frozenset[int] | None
    account_level: bool

    def admits(self, namespace: str, strategy_id: int | None) -> bool:
        if namespace not in self.namespaces:
            return False
        if strategy_id is None:
            return self.account_level
        return self.strategies is None or strategy_id in self.strategies


def account_scopes(
    principal: Principal,
    account_ids: Iterable[int],
    namespaces: Iterable[str] | None,
    strategy_ids: Iterable[int] | None,
) -> dict[int, AccountScope]:
    """Scopes for a `subscribe` (404 for invisible accounts, 403 for strategies not granted)."""
    wanted = frozenset(namespaces) if namespaces is not None else NAMESPACES
    if not wanted or not wanted <= SUBSCRIBABLE:
        raise ValidationFailed(
            f"namespaces must be a non-empty subset of {sorted(SUBSCRIBABLE)}"
        )
    asked = None if strategy_ids is None else frozenset(strategy_ids)
    scopes: dict[int, AccountScope] = {}
    for account_id in account_ids:
        principal.require(Action.READ, account_id)
        flags = principal.flags_for(account_id)
        restricted = flags is not None and flags.restrict_to_strategies
        allowed = asked
        if restricted and flags is not None:
            for strategy_id in sorted(asked or ()):
                try:
                    authorize_strategy(flags, strategy_id)
                except AccessDenied as exc:
                    raise PermissionDenied(exc.message, code=exc.code) from exc
            allowed = asked if asked is not None else flags.strategy_ids
        scopes[account_id] = AccountScope(account_id, wanted, allowed, not restricted)
    return scopes


def rescope(
    principal: Principal, scope: AccountScope, strategy_ids: frozenset[int] | None
) -> AccountScope | None:
    """The scope an existing subscription has under the key's current grants (`strategy_ids`:
    what the subscriber asked for); None when the key may no longer read the account or one of
    the strategies it asked for (the subscription must end)."""
    try:
        scopes = account_scopes(principal, [scope.account_id], scope.namespaces, strategy_ids)
    except (NotFound, PermissionDenied):
        return None
    return scopes[scope.account_id]


#: a stored row as the store reads it (column name → value)
Row = Mapping[str, Any]
#: an account's open orders and open positions (wire views)
OpenBooks = tuple[list[OrderView], list[PositionView]]

@dataclass(frozen=True, slots=True)
class Snapshot:
    """Open orders and positions per account, consistent with stream position `seq`.

    `exact` is false when the sequencer did not catch up in time (no worker running): events
    already reflected in the snapshot may then follow it once they get their `seq`.
    """

    seq: int
    items: dict[int, OpenBooks]
    exact: bool


async def snapshot(store: Store, scopes: dict[int, AccountScope]) -> Snapshot:
    """Read the books and the stream position in one snapshot in which no committed event of
    these accounts is still unsequenced: live events after `seq` are exactly the later changes."""
    account_ids = sorted(scopes)
    scope = Scope({a: s.strategies for a, s in scopes.items()})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SNAPSHOT_WAIT_SECONDS
    delay = 0.002
    while True:
        async with stream.consistent_read(store) as conn:
            pending = await stream.has_unsequenced(conn, account_ids)
            if not pending or loop.time() >= deadline:
                seq = await stream.last_seq(conn)
                order_rows = await reads.open_rows(conn, "orders", scope, Filters(), SNAPSHOT_LIMIT)
                position_rows = await reads.open_rows(
                    conn, "positions", scope, Filters(), SNAPSHOT_LIMIT)
                return Snapshot(seq, _by_account(account_ids, order_rows, position_rows), not pending)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)


def _by_account(
    account_ids: list[int], order_rows: Sequence[Row], position_rows: Sequence[Row]
) -> dict[int, OpenBooks]:
    out: dict[int, OpenBooks] = {a: ([], []) for a in account_ids}
    for row in reversed(order_rows):  # oldest first
        out[int(row["account_id"])][0].append(order_view(row))
    for row in reversed(position_rows):
        out[int(row["account_id"])][1].append(position_view(row))
    return out


async def resume_start(store: Store, since_seq: int) -> None:
    """Refuse a resume point older than retention (`resync_required`)."""
    async with store.read() as conn:
        oldest, last = await stream.retained(conn)
    purged = since_seq < last if oldest is None else since_seq < oldest - 1
    if since_seq < 0 or purged:
        raise OmsError(
            f"events after seq {since_seq} are no longer retained; resubscribe with a snapshot",
            code="resync_required",
            status=410,
            details={"oldest_seq": oldest, "last_seq": last},
        )
