"""OMS read use cases: scope checks (404 for accounts the key may not see, strategy filtering for
restricted keys), indexed queries and wire views."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TypedDict

from apps.oms.domain.access import AccessDenied, Action, authorize_strategy
from apps.oms.errors import PermissionDenied, ValidationFailed
from apps.oms.security.principal import Principal
from apps.oms.service.read_model import ReadModel
from apps.oms.service.views import command_view, deal_view, order_view, position_view
from apps.oms.store import reads
from apps.oms.store.reads import Filters, Scope
from apps.oms.store.store import Store


@dataclass(frozen=True)
class Query:
    account_ids: list[int]
    strategy_id: int | None = None
    symbol: str | None = None
    status: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    order_id: int | None = None
    position_id: int | None = None


def build_scope(
    principal: Principal, account_ids: list[int], strategy_id: int | None = None
) -> Scope:
    """Every listed account must be readable (404 otherwise); restricted keys see their strategies."""
    strategies: dict[int, frozenset[int] | None] = {}
    for account_id in account_ids:
        principal.require(Action.READ, account_id)
        flags = principal.flags_for(account_id)
        restricted = flags is not None and flags.restrict_to_strategies
        if strategy_id is not None and restricted:
            try:
                authorize_strategy(flags, strategy_id)
            except AccessDenied as exc:
                raise PermissionDenied(exc.message, code=exc.code) from exc
        strategies[account_id] = flags.strategy_ids if restricted and flags is not None else None
    return Scope(strategies)


def date_range(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """`start_date`/`end_date` (end inclusive), both or neither, as a half-open UTC range."""
    if (start is None) != (end is None):
        raise ValidationFailed("give both start_date and end_date, or neither")
    if start is None or end is None:
        return None, None
    if end < start:
        raise ValidationFailed("end_date is before start_date")
    begin = datetime(start.year, start.month, start.day, tzinfo=UTC)
    return begin, datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)


def filters_of(q: Query) -> Filters:
    start, end = date_range(q.start_date, q.end_date)
    return Filters(q.strategy_id, q.symbol, q.status, start, end, q.order_id, q.position_id)


class Items(TypedDict):
    """A read's answer: wire views (`views.py`) of orders, deals, positions or commands."""

    items: Sequence[Mapping[str, object]]


class Page(Items):
    total: int
    page: int
    page_size: int


def _page(
    items: Sequence[Mapping[str, object]], total: int, page: int, page_size: int
) -> Page:
    return {"items": items, "total": total, "page": page, "page_size": page_size}


async def open_from_model(
    model: ReadModel, principal: Principal, kind: str, q: Query, limit: int
) -> bytes | None:
    """An open-orders/positions read served from the read model: the rendered body, or None when
    the model may not answer it (not loaded, or a fresh write of this process not shown yet):
    the caller reads the store. Same checks, filters and order as the store path."""
    scope = build_scope(principal, q.account_ids, q.strategy_id)
    filters_of(q)  # the same validation as the store path (dates are not used by open reads)
    if not await model.current_for(q.account_ids):
        return None
    return model.open_rows(kind, scope, q.strategy_id, q.symbol, limit)


async def open_orders(store: Store, principal: Principal, q: Query, limit: int) -> Items:
    scope = build_scope(principal, q.account_ids, q.strategy_id)
    async with store.read() as conn:
        rows = await reads.open_rows(conn, "orders", scope, filters_of(q), limit)
    return {"items": [order_view(r) for r in rows]}


async def open_positions(
    store: Store, principal: Principal, q: Query, limit: int
) -> Items:
    scope = build_scope(principal, q.account_ids, q.strategy_id)
    async with store.read() as conn:
        rows = await reads.open_rows(conn, "positions", scope, filters_of(q), limit)
    return {"items": [position_view(r) for r in rows]}


# paged lists and their wire views
HISTORIES = {"orders": order_view, "deals": deal_view, "positions": position_view}


async def history(
    store: Store, principal: Principal, kind: str, q: Query, page: int, page_size: int
) -> Page:
    """One page of orders, deals or positions (`kind`), with the total."""
    view = HISTORIES[kind]
    scope = build_scope(principal, q.account_ids, q.strategy_id)
    async with store.read() as conn:
        rows, total = await reads.page_rows(conn, kind, scope, filters_of(q), page, page_size)
    return _page([view(r) for r in rows], total, page, page_size)


VIEWS = {
    "orders": order_view,
    "deals": deal_view,
    "positions": position_view,
    "commands": command_view,
}


async def by_ids(
    store: Store, principal: Principal, kind: str, ids: list[int], account_ids: list[int] | None
) -> Items:
    """Objects by id within the key's readable accounts (others are simply not returned)."""
    visible = principal.visible_account_ids()
    scope: Scope | None = None  # admins without account_ids read every account
    if account_ids is not None:
        scope = build_scope(principal, account_ids)
    elif visible is not None:
        scope = build_scope(principal, sorted(visible))
    async with store.read() as conn:
        rows = await reads.rows_by_ids(conn, kind, scope, ids)
    return {"items": [VIEWS[kind](r) for r in rows]}
