"""Strategies (`GET/POST /strategies`) and risk limits (`GET/PUT /oms/risk/{account_id}/limits`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import Field, ValidationError

from apps.api.body import read_exact_json
from apps.api.deps import IdPath, PrincipalDep, StoreDep
from apps.api.read_schemas import RiskLimits, StrategyCreated, StrategyList, ok
from apps.oms.domain import risk
from apps.oms.errors import ValidationFailed
from apps.oms.service import strategies as service
from apps.oms.service.command_models import PositiveDecimal
from apps.oms.service.request_model import MandatoryComment, RequestModel
from apps.oms.store.audit import Actor

router = APIRouter(tags=["strategies and risk"])
AccountId = IdPath


class StrategyCreate(RequestModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    account_ids: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1, max_length=100)]
    # an optional numeric label (integer >= 1, not unique), as the reference's clients send
    client_strategy_id: Annotated[int, Field(ge=1, le=2**62)] | None = None


Bps = Annotated[int, Field(ge=0, le=100_000)]


class LimitsIn(RequestModel):
    strategy_id: Annotated[int, Field(ge=0)] = 0
    # a key's own limits on the account (with strategy_id 0); the key-scoped fields only
    api_key_id: Annotated[int, Field(ge=1, le=2**62)] | None = None
    comment: MandatoryComment
    max_open_positions: Annotated[int, Field(ge=0)] | None = None
    max_open_positions_per_symbol: Annotated[int, Field(ge=0)] | None = None
    max_order_qty: PositiveDecimal | None = None
    max_order_notional: PositiveDecimal | None = None
    min_order_notional: PositiveDecimal | None = None
    max_position_notional: PositiveDecimal | None = None
    max_open_orders_per_symbol: Annotated[int, Field(ge=0)] | None = None
    daily_loss_limit: PositiveDecimal | None = None
    symbol_allowlist: (
        Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=1000)] | None
    ) = None
    max_commands_per_minute: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    price_collar_bps: Bps | None = None
    price_collar_symbols: (
        Annotated[dict[Annotated[str, Field(min_length=1, max_length=64)], Bps],
                  Field(max_length=1000)] | None
    ) = None
    duplicate_window_ms: Annotated[int, Field(ge=1, le=86_400_000)] | None = None
    max_open_orders: Annotated[int, Field(ge=0)] | None = None
    loss_breaker: PositiveDecimal | None = None
    drawdown_breaker: PositiveDecimal | None = None
    breaker_action: Literal["reduce_only", "halted"] | None = None

    def limits(self) -> risk.RiskLimits:
        """The scope's limits as sent (the allowlist in the order sent)."""
        allow = self.symbol_allowlist
        collars = self.price_collar_symbols
        return risk.RiskLimits(
            max_open_positions=self.max_open_positions,
            max_open_positions_per_symbol=self.max_open_positions_per_symbol,
            max_order_qty=self.max_order_qty,
            max_order_notional=self.max_order_notional,
            min_order_notional=self.min_order_notional,
            max_position_notional=self.max_position_notional,
            max_open_orders_per_symbol=self.max_open_orders_per_symbol,
            daily_loss_limit=self.daily_loss_limit,
            symbol_allowlist=None if allow is None else tuple(allow),
            max_commands_per_minute=self.max_commands_per_minute,
            price_collar_bps=self.price_collar_bps,
            price_collar_symbols=None if collars is None else tuple(sorted(collars.items())),
            duplicate_window_ms=self.duplicate_window_ms,
            max_open_orders=self.max_open_orders,
            loss_breaker=self.loss_breaker,
            drawdown_breaker=self.drawdown_breaker,
            breaker_action=self.breaker_action,
        )


def actor_of(principal: Any, request: Request) -> Actor:
    return Actor(
        principal.user_id, principal.api_key_id, request.client.host if request.client else None
    )


@router.get("/strategies", response_model=None, responses=ok(StrategyList))
async def list_strategies(principal: PrincipalDep, store: StoreDep) -> dict[str, Any]:
    return dict(await service.list_strategies(store, principal))


@router.post("/strategies", response_model=None, responses=ok(StrategyCreated))
async def create_strategy(
    body: StrategyCreate, principal: PrincipalDep, store: StoreDep, request: Request
) -> dict[str, Any]:
    return dict(await service.create_strategy(
        store,
        principal,
        actor_of(principal, request),
        name=body.name,
        account_ids=body.account_ids,
        client_strategy_id=body.client_strategy_id,
    ))


@router.get(
    "/oms/risk/{account_id}/limits", response_model=None, responses=ok(RiskLimits)
)
async def get_limits(
    account_id: AccountId, principal: PrincipalDep, store: StoreDep
) -> dict[str, Any]:
    return dict(await service.get_limits(store, principal, account_id))


@router.put(
    "/oms/risk/{account_id}/limits",
    response_model=None,
    responses=ok(RiskLimits),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": LimitsIn.model_json_schema()}},
        }
    },
)
async def put_limits(
    account_id: AccountId, principal: PrincipalDep, store: StoreDep, request: Request
) -> dict[str, Any]:
    try:
        body = LimitsIn.model_validate(await read_exact_json(request))
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise ValidationFailed(
            f"{'.'.join(map(str, errors[0]['loc']))}: {errors[0]['msg']}",
            details={"errors": errors},
        ) from exc
    return dict(await service.put_limits(
        store,
        principal,
        actor_of(principal, request),
        account_id,
        body.strategy_id,
        body.limits(),
        body.comment,
        api_key_id=body.api_key_id,
    ))
