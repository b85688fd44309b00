"""Strategy allocations (api.md → Strategy allocations): `GET /oms/risk/{account_id}/allocations`,
`PUT …/allocations` (set) and `POST …/allocations/clear`. Logic in `service.allocations`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import Field

from apps.api.body import parse_body
from apps.api.deps import PrincipalDep, StoreDep
from apps.api.routes.risk import AccountId, Comment, _body, actor
from apps.oms.service import allocations
from apps.oms.service.command_models import NonNegativeDecimal
from apps.oms.service.request_model import RequestModel

router = APIRouter(tags=["risk"])
StrategyId = Annotated[int, Field(ge=1, le=2**62, strict=True)]


class AllocationIn(RequestModel):
    strategy_id: StrategyId
    currency: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,16}$")]
    amount: NonNegativeDecimal
    comment: Comment


class AllocationClearIn(RequestModel):
    strategy_id: StrategyId
    comment: Comment


@router.get("/oms/risk/{account_id}/allocations")
async def list_allocations(
    account_id: AccountId, principal: PrincipalDep, store: StoreDep
) -> dict[str, Any]:
    return dict(await allocations.list_allocations(store, principal, account_id))


@router.put("/oms/risk/{account_id}/allocations", openapi_extra=_body(AllocationIn))
async def set_allocation(
    account_id: AccountId, principal: PrincipalDep, store: StoreDep, request: Request
) -> dict[str, Any]:
    body = await parse_body(request, AllocationIn)
    return dict(await allocations.set_allocation(
        store, principal, actor(principal, request), account_id, body.strategy_id, body.currency,
        body.amount, body.comment,
    ))  # fmt: skip


@router.post("/oms/risk/{account_id}/allocations/clear", openapi_extra=_body(AllocationClearIn))
async def clear_allocation(
    account_id: AccountId, principal: PrincipalDep, store: StoreDep, request: Request
) -> dict[str, Any]:
    body = await parse_body(request, AllocationClearIn)
    return dict(await allocations.clear_allocation(
        store, principal, actor(principal, request), account_id, body.strategy_id, body.comment
    ))
