"""OMS reads: orders, deals, positions, commands, statistics and portfolio (need `can_read`)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from apps.api.deps import (
    SYMBOL_MAX_LENGTH,
    AccountIdsCsv,
    AccountIdsQuery,
    IdFilter,
    OpenReadParams,
    OpenReadQuery,
    PageSize,
    PrincipalDep,
    RequiredAccountIds,
    StoreDep,
    StrategyFilter,
    parse_id_list,
    required_account_ids,
)
from apps.api.read_schemas import (
    CommandList,
    DealList,
    DealPage,
    OrderList,
    OrderPage,
    Portfolio,
    PositionList,
    PositionPage,
    StatsList,
    ok,
)
from apps.api.responses import WireJSONResponse
from apps.oms.security.principal import Principal
from apps.oms.service import portfolio as portfolio_service
from apps.oms.service import reads
from apps.oms.service.read_model import ReadModel
from apps.oms.service.reads import Query as ReadQuery
from apps.oms.store.store import Store

router = APIRouter(prefix="/oms", tags=["oms reads"], default_response_class=WireJSONResponse)
Page = Annotated[int, Query(ge=1, le=1_000_000)]


async def read_query(
    request: Request,
    principal: PrincipalDep,
    account_ids: AccountIdsCsv = None,
    strategy_id: StrategyFilter = None,
    symbol: Annotated[str | None, Query(max_length=SYMBOL_MAX_LENGTH)] = None,
    start_date: date | None = None,
    end_date: date | None = None,
) -> ReadQuery:
    # the accounts resolved here rather than by a nested dependency (one less to solve per read)
    ids = await required_account_ids(principal, request.app.state.store, account_ids)
    return ReadQuery(ids, strategy_id, symbol, start_date=start_date, end_date=end_date)


QueryDep = Annotated[ReadQuery, Depends(read_query)]
Result = dict[str, Any]


async def _open(
    request: Request, principal: Principal, kind: str, params: OpenReadParams
) -> Response:
    """From the process's read model when it may answer, else from the store (same body). A
    clamped `limit` (rare: above the maximum) goes to the store path, which adds the notice.
    The open reads are the hot ones: the store comes from the app, not as one more dependency
    to solve per request."""
    store: Store = request.app.state.store
    ids = await required_account_ids(principal, store, params.account_ids)
    q = ReadQuery(ids, params.strategy_id, params.symbol, start_date=params.start_date,
                  end_date=params.end_date)  # fmt: skip
    limit = params.clamped_limit()
    model: ReadModel | None = getattr(request.app.state, "read_model", None)
    if model is not None and limit.requested == limit.value:
        blob = await reads.open_from_model(model, principal, kind, q, limit.value)
        if blob is not None:
            return Response(blob, media_type="application/json")
    read = reads.open_orders if kind == "orders" else reads.open_positions
    return WireJSONResponse(limit.note(await read(store, principal, q, limit.value)))


@router.get("/orders/open", response_model=None, responses=ok(OrderList))
async def orders_open(
    request: Request, principal: PrincipalDep, params: OpenReadQuery
) -> Response:
    return await _open(request, principal, "orders", params)


@router.get("/orders/history", response_model=None, responses=ok(OrderPage))
async def orders_history(
    principal: PrincipalDep,
    store: StoreDep,
    q: QueryDep,
    page_size: PageSize,
    status: Annotated[str | None, Query(max_length=24)] = None,
    page: Page = 1,
) -> WireJSONResponse:
    return WireJSONResponse(
        page_size.note(await reads.history(
            store, principal, "orders", _with(q, status=status), page, page_size.value))
    )


@router.get("/orders/{ids}", response_model=None, responses=ok(OrderList))
async def orders_by_ids(
    principal: PrincipalDep, store: StoreDep, ids: str, account_ids: AccountIdsQuery = None
) -> WireJSONResponse:
    return WireJSONResponse(
        await reads.by_ids(store, principal, "orders", parse_id_list(ids), account_ids)
    )


@router.get("/deals", response_model=None, responses=ok(DealPage))
async def deal_list(
    principal: PrincipalDep,
    store: StoreDep,
    q: QueryDep,
    page_size: PageSize,
    order_id: IdFilter = None,
    position_id: IdFilter = None,
    page: Page = 1,
) -> WireJSONResponse:
    q = _with(q, order_id=order_id, position_id=position_id)
    return WireJSONResponse(
        page_size.note(await reads.history(store, principal, "deals", q, page, page_size.value)))


@router.get("/deals/{ids}", response_model=None, responses=ok(DealList))
async def deals_by_ids(
    principal: PrincipalDep, store: StoreDep, ids: str, account_ids: AccountIdsQuery = None
) -> WireJSONResponse:
    return WireJSONResponse(
        await reads.by_ids(store, principal, "deals", parse_id_list(ids), account_ids)
    )


@router.get("/positions/open", response_model=None, responses=ok(PositionList))
async def positions_open(
    request: Request, principal: PrincipalDep, params: OpenReadQuery
) -> Response:
    return await _open(request, principal, "positions", params)


@router.get("/positions/history", response_model=None, responses=ok(PositionPage))
async def positions_history(
    principal: PrincipalDep,
    store: StoreDep,
    q: QueryDep,
    page_size: PageSize,
    state: Annotated[str | None, Query(max_length=16)] = None,
    page: Page = 1,
) -> WireJSONResponse:
    return WireJSONResponse(
        page_size.note(await reads.history(
            store, principal, "positions", _with(q, status=state), page, page_size.value))
    )


@router.get("/positions/{ids}", response_model=None, responses=ok(PositionList))
async def positions_by_ids(
    principal: PrincipalDep, store: StoreDep, ids: str, account_ids: AccountIdsQuery = None
) -> WireJSONResponse:
    return WireJSONResponse(
        await reads.by_ids(store, principal, "positions", parse_id_list(ids), account_ids)
    )


@router.get("/commands/{ids}", response_model=None, responses=ok(CommandList))
async def commands_by_ids(
    principal: PrincipalDep, store: StoreDep, ids: str, account_ids: AccountIdsQuery = None
) -> WireJSONResponse:
    return WireJSONResponse(
        await reads.by_ids(store, principal, "commands", parse_id_list(ids), account_ids)
    )


@router.get("/stats", response_model=None, responses=ok(StatsList))
async def stats(principal: PrincipalDep, store: StoreDep, q: QueryDep) -> WireJSONResponse:
    return WireJSONResponse(await portfolio_service.stats(store, principal, q))


@router.get("/portfolio", response_model=None, responses=ok(Portfolio))
async def portfolio(
    principal: PrincipalDep, store: StoreDep, account_ids: RequiredAccountIds
) -> WireJSONResponse:
    return WireJSONResponse(await portfolio_service.portfolio(store, principal, account_ids))


def _with(q: ReadQuery, **changes: Any) -> ReadQuery:
    from dataclasses import replace

    return replace(q, **changes)
