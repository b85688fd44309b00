"""`POST /paper/prices` and `GET /paper/prices`: the shared price of the paper market."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import Field

from apps.api.body import parse_body
from apps.api.deps import PrincipalDep, StoreDep
from apps.api.schemas import StrictModel, WireDecimal
from apps.oms.domain.paper.book import Quote
from apps.oms.domain.paper.matching import Venue
from apps.oms.service.command_models import PositiveDecimal
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
