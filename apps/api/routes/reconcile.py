"""Reconciliation and post-trade (api.md): `POST /oms/reconcile`, `GET /oms/reconcile/status`,
`GET /oms/reconcile/{account_id}/status`, `POST /oms/reassign`. Logic in `service.reconcile`
and `service.reassign`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import Field, model_validator

from apps.api.body import parse_body
from apps.api.deps import IdPath, PrincipalDep, SettingsDep, StoreDep, client_address
from apps.oms.service import reassign, reconcile
from apps.oms.service.request_model import RequestModel
from apps.oms.store.audit import Actor

router = APIRouter(tags=["reconciliation"])
AccountId = Annotated[int, Field(ge=1, le=2**62, strict=True)]
Symbol = Annotated[str, Field(min_length=1, max_length=64)]


def _when(value: date | datetime | None, *, end: bool = False) -> datetime | None:
    """A date is its whole UTC day (start, or end for `end_date`); a datetime is taken as is."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time.max if end else time.min, tzinfo=UTC)


class ReconcileIn(RequestModel):
    account_id: AccountId | None = None
    account_ids: list[AccountId] | None = Field(default=None, max_length=500)
    symbols_hint: list[Symbol] | None = Field(default=None, max_length=100)
    scope: Literal["short", "hourly", "long", "period"] = "short"
    start_date: datetime | date | None = None
    end_date: datetime | date | None = None

    @model_validator(mode="after")
    def _period(self) -> ReconcileIn:
        if self.scope == "period" and self.start_date is None:
            raise ValueError("scope period needs start_date")
        return self


class ReassignIn(RequestModel):
    account_id: AccountId | None = None
    account_ids: list[AccountId] | None = Field(default=None, max_length=100)
    order_ids: list[AccountId] = Field(min_length=1, max_length=1000)
    start_date: datetime | date | None = None
    end_date: datetime | date | None = None
    reconciled: bool | None = None
    order_statuses: list[Annotated[str, Field(max_length=32)]] | None = Field(
        default=None, max_length=10
    )
    preview: bool = True
    page: int = Field(default=1, ge=1, le=100_000)
    page_size: int = Field(default=100, ge=1, le=500)
    target_strategy_id: Annotated[int, Field(ge=0, le=2**62, strict=True)] | None = None
    target_position_id: Annotated[int, Field(ge=1, le=2**62, strict=True)] | None = None
    override: bool = False

    @model_validator(mode="after")
    def _target(self) -> ReassignIn:
        if self.target_strategy_id is None and self.target_position_id is None:
            raise ValueError("give target_strategy_id or target_position_id")
        return self


def _body(model: type[RequestModel]) -> dict[str, Any]:
    schema = {"application/json": {"schema": model.model_json_schema()}}
    return {"requestBody": {"required": True, "content": schema}}


def _actor(principal: Any, request: Request) -> Actor:
    return Actor(principal.user_id, principal.api_key_id, client_address(request))


@router.post("/oms/reconcile", openapi_extra=_body(ReconcileIn))
async def reconcile_now(
    principal: PrincipalDep, store: StoreDep, settings: SettingsDep, request: Request
) -> dict[str, Any]:
    body = await parse_body(request, ReconcileIn)
    values = body.model_dump()
    values["start_date"] = _when(body.start_date)
    values["end_date"] = _when(body.end_date, end=True)
    return dict(await reconcile.trigger(store, settings, principal, values,
                                        _actor(principal, request)))


@router.get("/oms/reconcile/status")
async def reconcile_status_all(
    principal: PrincipalDep,
    store: StoreDep,
    status: Literal["fresh", "stale", "never"] | None = None,
    stale_after_seconds: Annotated[float, Query(gt=0, le=10**7)] = 120,
) -> dict[str, Any]:
    return await reconcile.status(store, principal, None, stale_after_seconds, status)


@router.get("/oms/reconcile/{account_id}/status")
async def reconcile_status_one(
    account_id: IdPath,
    principal: PrincipalDep,
    store: StoreDep,
    stale_after_seconds: Annotated[float, Query(gt=0, le=10**7)] = 120,
) -> dict[str, Any]:
    return await reconcile.status(store, principal, account_id, stale_after_seconds)


@router.post("/oms/reassign", openapi_extra=_body(ReassignIn))
async def reassign_orders(
    principal: PrincipalDep, store: StoreDep, settings: SettingsDep, request: Request
) -> dict[str, Any]:
    body = await parse_body(request, ReassignIn)
    values = body.model_dump()
    values["start_date"] = _when(body.start_date)
    values["end_date"] = _when(body.end_date, end=True)
    return dict(await reassign.reassign(store, principal, values, _actor(principal, request),
                                        settings))
