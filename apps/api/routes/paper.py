"""`POST /paper/prices` and `GET /paper/prices`: the shared price of the paper market."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import Field

from apps.api.body import parse_body
from apps.api.deps import IdPath, PrincipalDep, SettingsDep, StoreDep, client_address
from apps.api.schemas import StrictModel, WireDecimal
from apps.oms.domain.paper.book import Quote
from apps.oms.domain.paper.matching import Venue
from apps.oms.service.command_models import ExactDecimal, PositiveDecimal
from apps.oms.store.audit import Actor
from apps.oms.store.paper import PaperStore

router = APIRouter(tags=["paper"])
VENUE = Venue()


class PriceIn(StrictModel):
    """Decimals exact: a JSON number or a plain decimal string (the one parser)."""

    symbol: Annotated[str, Field(min_length=1, max_length=64)]
    price: PositiveDecimal
    bid: PositiveDecimal | None = None
    ask: PositiveDecimal | None = None


class PriceOut(StrictModel):
    symbol: str
    price: WireDecimal
    bid: WireDecimal
    ask: WireDecimal
    seq: int
    updated_at: datetime


class PriceSet(PriceOut):
    ok: bool = True


class PriceList(StrictModel):
    items: list[PriceOut]


def _out(q: Quote) -> dict[str, object]:
    when = datetime.fromtimestamp(q.timestamp_ms // 1000, tz=UTC)
    return {
        "symbol": q.symbol,
        "price": q.last,
        "bid": q.bid,
        "ask": q.ask,
        "seq": q.seq,
        "updated_at": when.replace(microsecond=q.timestamp_ms % 1000 * 1000),
    }


@router.post(
    "/paper/prices",
    response_model=PriceSet,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PriceIn.model_json_schema()}},
        }
    },
)
async def post_price(principal: PrincipalDep, store: StoreDep, request: Request) -> PriceSet:
    from apps.oms.exchange.paper import price_service  # lazy: it imports CCXT (P6)

    body = await parse_body(request, PriceIn)
    quote = await price_service.set_price(
        principal, PaperStore(store.engine), VENUE, body.symbol, body.price, body.bid, body.ask
    )
    store.note_accepted(None)  # resting paper orders of any account may fill: read-your-writes
    market = getattr(request.app.state, "market_hub", None)  # absent without the lifespan
    if market is not None:
        market.wake.set()  # push to this process's paper market subscribers now
    return PriceSet.model_validate(_out(quote))


@router.get("/paper/prices", response_model=PriceList)
async def get_prices(
    principal: PrincipalDep,
    store: StoreDep,
    symbols: Annotated[str | None, Query(max_length=2000)] = None,
) -> PriceList:
    from apps.oms.exchange.paper import price_service  # lazy: it imports CCXT (P6)

    wanted = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else None
    quotes = await price_service.read_prices(PaperStore(store.engine), VENUE, wanted)
    return PriceList(items=[PriceOut.model_validate(_out(q)) for q in quotes.values()])


BIG = 10**12  # larger quantities and prices are refused (422), never a store overflow


class ExternalIn(StrictModel):
    """One act on the paper venue, bypassing the OMS (see `service.paper_external`)."""

    symbol: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    side: Literal["buy", "sell"] | None = None
    type: Literal["market", "limit"] | None = None
    amount: Annotated[PositiveDecimal, Field(le=BIG)] | None = None
    price: Annotated[PositiveDecimal, Field(le=BIG)] | None = None
    id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    # adjust_position: signed contracts (0 = flat)
    qty: Annotated[ExactDecimal, Field(ge=-BIG, le=BIG)] | None = None
    params: dict[str, Any] = Field(default_factory=dict)


@router.post(
    "/paper/{account_id}/external/{action}",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ExternalIn.model_json_schema()}},
        }
    },
)
async def external_act(
    account_id: IdPath,
    action: Literal["create_order", "cancel_order", "adjust_position"],
    principal: PrincipalDep,
    store: StoreDep,
    settings: SettingsDep,
    request: Request,
) -> dict[str, Any]:
    """Admin only: act on a paper account's venue directly, as a person on the exchange's web
    page would (external activity for reconciliation drills and tests)."""
    from apps.oms.service import paper_external  # lazy: it imports CCXT (P6)

    body = await parse_body(request, ExternalIn)
    return await paper_external.act(
        store, settings, principal, account_id, action, body.model_dump(exclude_none=True),
        Actor(principal.user_id, principal.api_key_id, client_address(request)),
    )  # fmt: skip
