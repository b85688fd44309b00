"""The CCXT gateway: `POST /ccxt/{account_id}/{func}`, typed `/ccxt/core/...`, the batch
`/ccxt/commands`, and the stored raw venue payloads. Logic lives in `service.ccxt_gateway`."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AliasChoices, ConfigDict, Field, ValidationError

from apps.api.body import openapi_body, read_exact_json
from apps.api.deps import (
    IdPath,
    PageSize,
    PrincipalDep,
    RequiredAccountIds,
    SettingsDep,
    StoreDep,
)
from apps.api.read_schemas import Capabilities, CcxtBatch, CcxtResult, RawPage, ok
from apps.oms.errors import ValidationFailed
from apps.oms.exchange.ccxt.instances import ExchangeRegistry
from apps.oms.service import ccxt_gateway, ccxt_raw
from apps.oms.service.command_models import PositiveDecimal
from apps.oms.service.request_model import RequestModel

router = APIRouter(tags=["ccxt"])


async def get_registry(request: Request) -> ExchangeRegistry:
    registry: ExchangeRegistry = request.app.state.ccxt_registry
    return registry


RegistryDep = Annotated[ExchangeRegistry, Depends(get_registry)]


class CallBody(RequestModel):
    args: list[Any] = Field(default_factory=list, max_length=20)
    kwargs: dict[str, Any] = Field(default_factory=dict)


class CoreBody(RequestModel):
    """Typed arguments of the core functions; decimals exact (strings or JSON numbers)."""

    model_config = ConfigDict(populate_by_name=True)
    symbol: str | None = Field(default=None, max_length=64)
    side: Literal["buy", "sell"] | None = None
    order_type: str | None = Field(
        default=None, max_length=32, validation_alias=AliasChoices("order_type", "type")
    )
    amount: PositiveDecimal | None = None
    price: PositiveDecimal | None = None
    id: str | None = Field(default=None, max_length=128)
    since: int | None = Field(default=None, ge=0)
    limit: int | None = Field(default=None, ge=1, le=5000)
    params: dict[str, Any] = Field(default_factory=dict)


CoreFunc = Literal[
    "create_order", "edit_order", "cancel_order", "cancel_all_orders", "fetch_order",
    "fetch_orders", "fetch_open_orders", "fetch_closed_orders", "fetch_my_trades",
    "fetch_balance", "fetch_ticker", "fetch_order_book", "fetch_positions",
]  # fmt: skip
# positional parameters of each core function (CCXT order), and which are required
CORE_ARGS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "create_order": (("symbol", "order_type", "side", "amount", "price", "params"),
                     ("symbol", "order_type", "side", "amount")),
    "edit_order": (("id", "symbol", "order_type", "side", "amount", "price", "params"),
                   ("id", "symbol", "order_type", "side")),
    "cancel_order": (("id", "symbol", "params"), ("id",)),
    "cancel_all_orders": (("symbol", "params"), ()),
    "fetch_order": (("id", "symbol", "params"), ("id",)),
    "fetch_balance": (("params",), ()),
    "fetch_ticker": (("symbol", "params"), ("symbol",)),
    "fetch_order_book": (("symbol", "limit", "params"), ("symbol",)),
    "fetch_positions": (("symbols", "params"), ()),
}  # fmt: skip
LISTING = (("symbol", "since", "limit", "params"), ())


def core_arguments(func: str, body: CoreBody) -> list[Any]:
    names, required = CORE_ARGS.get(func, LISTING)
    values = {**body.model_dump(), "symbols": [body.symbol] if body.symbol else None}
    missing = [name for name in required if values.get(name) is None]
    if missing:
        raise ValidationFailed(f"{func} needs {', '.join(missing)}", details={"missing": missing})
    return [values[name] for name in names]


@router.post("/ccxt/core/{account_id}/{func}", response_model=None, responses=ok(CcxtResult),
             openapi_extra=openapi_body(CoreBody))
async def post_core(account_id: IdPath, func: CoreFunc, request: Request, principal: PrincipalDep,
                    store: StoreDep, settings: SettingsDep, registry: RegistryDep) -> Any:
    try:
        body = CoreBody.model_validate(await read_exact_json(request) or {})
    except ValidationError as exc:
        raise ValidationFailed(str(exc.errors()[0]["msg"]), details={"errors": exc.errors(
            include_url=False, include_context=False, include_input=False)}) from exc
    args = core_arguments(func, body)
    result = await ccxt_gateway.call(store, settings, registry, principal, account_id, func, args)
    return {"ok": True, "result": result}


@router.post("/ccxt/commands", response_model=None, responses={
    200: {"model": CcxtBatch, "description": "every call succeeded"},
    207: {"model": CcxtBatch, "description": "some items failed"}})
async def post_ccxt_commands(request: Request, principal: PrincipalDep, store: StoreDep,
                             settings: SettingsDep, registry: RegistryDep) -> JSONResponse:
    body = await read_exact_json(request)
    status, content = await ccxt_gateway.call_batch(store, settings, registry, principal, body)
    return JSONResponse(status_code=status, content=content)


@router.get("/ccxt/orders/raw", response_model=None, responses=ok(RawPage))
async def get_orders_raw(principal: PrincipalDep, store: StoreDep, account_ids: RequiredAccountIds,
                         page_size: PageSize, start_date: date | None = None,
                         end_date: date | None = None,
                         page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> Any:
    query = ccxt_raw.RawQuery(account_ids, "order", start_date, end_date, page, page_size.value)
    return page_size.note(await ccxt_raw.raw_payloads(store, principal, query))


@router.get("/ccxt/trades/raw", response_model=None, responses=ok(RawPage))
async def get_trades_raw(principal: PrincipalDep, store: StoreDep, account_ids: RequiredAccountIds,
                         page_size: PageSize, start_date: date | None = None,
                         end_date: date | None = None,
                         page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> Any:
    query = ccxt_raw.RawQuery(account_ids, "trade", start_date, end_date, page, page_size.value)
    return page_size.note(await ccxt_raw.raw_payloads(store, principal, query))


@router.get("/ccxt/{account_id}/has", response_model=None, responses=ok(Capabilities))
async def get_capabilities(account_id: IdPath, principal: PrincipalDep,
                           registry: RegistryDep) -> Any:
    return await ccxt_gateway.capabilities(registry, principal, account_id)


@router.post("/ccxt/{account_id}/{func}", response_model=None, responses=ok(CcxtResult),
             openapi_extra=openapi_body(CallBody))
async def post_call(account_id: IdPath, func: str, request: Request, principal: PrincipalDep,
                    store: StoreDep, settings: SettingsDep, registry: RegistryDep) -> Any:
    raw = await read_exact_json(request) if await request.body() else {}
    try:
        body = CallBody.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(str(exc.errors()[0]["msg"])) from exc
    result = await ccxt_gateway.call(
        store, settings, registry, principal, account_id, func, body.args, body.kwargs
    )
    return {"ok": True, "result": result}
