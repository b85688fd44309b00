"""The shared paper market: `POST /paper/prices` and `GET /paper/prices` (prices and what moves
them), `PUT /paper/price-source` (switch the source, admin), `PUT /paper/accounts/{id}/book`
(an account's spread and depth, admin)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from apps.api.body import parse_body
from apps.api.deps import IdPath, PrincipalDep, SettingsDep, StoreDep, client_address
from apps.api.schemas import WireDecimal
from apps.oms.config import Settings
from apps.oms.domain.access import Action
from apps.oms.domain.money import to_plain
from apps.oms.security.principal import Principal
from apps.oms.service.command_models import ExactDecimal, PositiveDecimal
from apps.oms.service.request_model import RequestModel
from apps.oms.store.audit import Actor
from apps.paper.domain.book import Quote
from apps.paper.domain.matching import Venue
from apps.paper.service import market as paper_market
from apps.paper.store.venue_store import PaperStore

router = APIRouter(tags=["paper"])
_VENUES: dict[tuple[str, tuple[tuple[str, str], ...]], Venue] = {}


class PriceIn(RequestModel):
    """Decimals exact: a JSON number or a plain decimal string (the one parser)."""

    symbol: Annotated[str, Field(min_length=1, max_length=64)]
    price: PositiveDecimal
    bid: PositiveDecimal | None = None
    ask: PositiveDecimal | None = None


class PriceOut(BaseModel):
    symbol: str
    price: WireDecimal
    bid: WireDecimal
    ask: WireDecimal
    seq: int
    updated_at: datetime


class PriceSet(PriceOut):
    ok: bool = True


def _body(model: type[RequestModel]) -> dict[str, Any]:
    schema = {"application/json": {"schema": model.model_json_schema()}}
    return {"requestBody": {"required": True, "content": schema}}


class SourceOut(BaseModel):
    source: str
    chosen_by: Literal["api", "config"]
    active_source: str | None
    state: str
    message: str | None
    speed: str
    at_end: str
    ticks: int
    position: int
    last_update_at: str | None
    scheduler: str | None


class PriceList(BaseModel):
    items: list[PriceOut]
    source: SourceOut | None = None


class SourceIn(RequestModel):
    """`source`: manual | random_walk | replay:<csv path> | live:<ccxt id>; null returns to the
    configured source. `speed` (replay): recorded time runs this many times faster.
    `at_end` (replay): loop or stop."""

    source: Annotated[str, Field(min_length=1, max_length=500)] | None
    speed: PositiveDecimal | None = None
    at_end: Literal["loop", "stop"] | None = None


class BookIn(RequestModel):
    """A paper account's synthetic book; a key left out takes the market's default."""

    spread_bps: Annotated[ExactDecimal, Field(ge=0, le=1000)] | None = None
    levels: Annotated[int, Field(ge=1, le=1000)] | None = None
    level_step_bps: Annotated[PositiveDecimal, Field(le=1000)] | None = None
    level_volume: PositiveDecimal | None = None
    level_notional: PositiveDecimal | None = None
    resting_volume: PositiveDecimal | None = None


class BookOut(BaseModel):
    account_id: int
    book: dict[str, str | int]


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
async def post_price(principal: PrincipalDep, store: StoreDep, settings: SettingsDep,
                     request: Request) -> PriceSet:  # fmt: skip
    from apps.paper.exchange import price_service  # lazy: it imports CCXT (P6)

    body = await parse_body(request, PriceIn)
    quote = await price_service.set_price(
        principal, PaperStore(store.engine), _venue(settings), body.symbol, body.price, body.bid,
        body.ask,
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
    settings: SettingsDep,
    symbols: Annotated[str | None, Query(max_length=2000)] = None,
) -> PriceList:
    from apps.paper.exchange import price_service  # lazy: it imports CCXT (P6)

    wanted = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else None
    quotes = await price_service.read_prices(PaperStore(store.engine), _venue(settings), wanted)
    source = await paper_market.feed_status(store, settings)
    return PriceList(items=[PriceOut.model_validate(_out(q)) for q in quotes.values()],
                     source=SourceOut.model_validate(source))  # fmt: skip


BIG = 10**12  # larger quantities and prices are refused (422), never a store overflow


class ExternalIn(RequestModel):
    """One act on the paper venue, bypassing the OMS (see `apps.paper.service.external`)."""

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
    from apps.paper.service import external as paper_external  # lazy: it imports CCXT (P6)

    body = await parse_body(request, ExternalIn)
    return await paper_external.act(
        store, settings, principal, account_id, action, body.model_dump(exclude_none=True),
        Actor(principal.user_id, principal.api_key_id, client_address(request)),
    )  # fmt: skip


@router.put("/paper/price-source", response_model=SourceOut, openapi_extra=_body(SourceIn))
async def put_price_source(principal: PrincipalDep, store: StoreDep, settings: SettingsDep,
                           request: Request) -> SourceOut:  # fmt: skip
    principal.require(Action.ADMINISTER)
    body = await parse_body(request, SourceIn)
    status = await paper_market.choose_source(
        store, settings, _actor(principal, request), body.source, body.speed, body.at_end
    )
    return SourceOut.model_validate(status)


@router.put("/paper/accounts/{account_id}/book", response_model=BookOut,
            openapi_extra=_body(BookIn))  # fmt: skip
async def put_account_book(account_id: Annotated[int, Path(ge=1, le=2**62)],
                           principal: PrincipalDep, store: StoreDep,
                           request: Request) -> BookOut:  # fmt: skip
    principal.require(Action.ADMINISTER)
    body = await parse_body(request, BookIn)
    book = {k: v if isinstance(v, int) else to_plain(v)
            for k, v in body.model_dump(exclude_none=True).items()}  # fmt: skip
    result = await paper_market.set_account_book(
        store, _actor(principal, request), account_id, book
    )
    return BookOut.model_validate(result)


def _actor(principal: Principal, request: Request) -> Actor:
    return Actor(principal.user_id, principal.api_key_id, client_address(request))


def _venue(settings: Settings) -> Venue:
    """The shared market with the configured default spreads (one per spread setting)."""
    paper = settings.paper
    key = (paper.default_spread_bps, tuple(sorted(paper.market_spread_bps.items())))
    venue = _VENUES.get(key)
    if venue is None:
        from apps.paper.exchange.factory import shared_venue  # lazy: imports CCXT (P6)

        venue = _VENUES[key] = shared_venue(paper)
    return venue
