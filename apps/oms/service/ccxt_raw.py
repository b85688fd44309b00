"""`GET /ccxt/orders/raw` and `/ccxt/trades/raw`: stored raw venue payloads (needs `can_read`
on every listed account; strategy-restricted keys are refused: raw payloads carry no strategy)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from apps.oms.errors import PermissionDenied
from apps.oms.security.principal import Principal
from apps.oms.service.reads import Page, build_scope, date_range
from apps.oms.service.views import wire_value
from apps.oms.store import ccxt_records
from apps.oms.store.store import Store


@dataclass(frozen=True)
class RawQuery:
    account_ids: list[int]
    kind: str
    start_date: date | None
    end_date: date | None
    page: int
    page_size: int


async def raw_payloads(store: Store, principal: Principal, q: RawQuery) -> Page:
    scope = build_scope(principal, q.account_ids)
    if any(s is not None for s in scope.strategies_by_account.values()):
        raise PermissionDenied("strategy-restricted keys cannot read raw venue payloads",
                               code="strategy_permission_denied")
    start, end = date_range(q.start_date, q.end_date)
    async with store.read() as conn:
        rows, total = await ccxt_records.raw_payloads(
            conn, account_ids=q.account_ids, kind=q.kind, start=start, end=end,
            page=q.page, page_size=q.page_size,
        )
    items = [
        {k: wire_value(row[k]) for k in ("id", "account_id", "kind", "exchange_id",
                                         "exchange_object_id", "payload", "created_at")}
        for row in rows
    ]
    return {"items": items, "total": total, "page": q.page, "page_size": q.page_size}
