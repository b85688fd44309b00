"""Request dependencies as `Annotated` aliases; the objects themselves are built in `lifespan`.

Every dependency is `async def`: FastAPI runs plain `def` dependencies in a thread pool, which
costs a thread hop per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from apps.oms.config import Settings
from apps.oms.errors import NotFound, ValidationFailed
from apps.oms.security.principal import Principal
from apps.oms.service.auth import AuthGuard, authenticate_client
from apps.oms.service.auth_cache import PrincipalCache
from apps.oms.store import accounts as account_store
from apps.oms.store.store import Store


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


#: the largest id a signed 64-bit (BIGINT) column holds: larger ids in paths, filters and lists
#: are validation errors (422), never a database error
MAX_ID = 2**63 - 1
#: limits of the read parameters, declared once (the routes and the open reads' fast path)
ACCOUNT_IDS_MAX_LENGTH = 2000
SYMBOL_MAX_LENGTH = 64
DEFAULT_LIMIT = 500
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]
StrategyFilter = Annotated[int | None, Query(ge=0, le=MAX_ID)]

SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "-"


async def get_principal(
    request: Request,
    x_api_key: Annotated[str | None, Header(description="API key or login token")] = None,
) -> Principal:
    # the store and settings straight from the app, not as sub-dependencies: every dependency
    # FastAPI solves costs per request, and this one runs on every authenticated request
    state = request.app.state
    store: Store = state.store
    settings: Settings = state.settings
    guard: AuthGuard = state.auth_guard
    pepper = settings.security.api_key_pepper.get_secret_value()
    # same answer as `auth.authenticate`, every request (apps/oms/service/auth_cache.py)
    cache: PrincipalCache | None = getattr(request.app.state, "principal_cache", None)
    via = cache.authenticate if cache is not None else None
    return await authenticate_client(store, pepper, x_api_key, client_address(request), guard,
                                     via=via)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def parse_account_ids(
    account_ids: Annotated[
        str | None, Query(description="CSV of account ids", max_length=ACCOUNT_IDS_MAX_LENGTH)
    ] = None,
) -> list[int] | None:
    if account_ids is None:
        return None
    try:
        ids = [int(part) for part in account_ids.split(",") if part.strip()]
    except ValueError as exc:
        raise ValidationFailed("account_ids must be comma-separated integers") from exc
    if not ids or any(i <= 0 or i > MAX_ID for i in ids):
        raise ValidationFailed("account_ids must list positive integers (at most 2^63-1)")
    return ids


AccountIdsQuery = Annotated[list[int] | None, Depends(parse_account_ids)]


AccountIdsCsv = Annotated[
    str | None,
    Query(description="CSV of account ids; default: every account the key may read",
          max_length=ACCOUNT_IDS_MAX_LENGTH),
]


async def required_account_ids(
    principal: Principal, store: Store, account_ids: str | None
) -> list[int]:
    """The listed accounts, or by default every account the key may read (admins: all)."""
    ids = await parse_account_ids(account_ids)
    if ids is not None:
        return ids
    visible = principal.visible_account_ids()
    if visible is None:
        async with store.read() as conn:
            return await account_store.all_ids(conn)
    if not visible:
        raise NotFound("this API key may read no account", code="account_not_found")
    return sorted(visible)


async def require_account_ids(
    principal: PrincipalDep, store: StoreDep, account_ids: AccountIdsCsv = None
) -> list[int]:
    return await required_account_ids(principal, store, account_ids)


RequiredAccountIds = Annotated[list[int], Depends(require_account_ids)]


def parse_id_list(text: str, *, limit: int = 500) -> list[int]:
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise ValidationFailed("ids must be comma-separated integers") from exc
    if not ids or len(ids) > limit or any(i <= 0 or i > MAX_ID for i in ids):
        raise ValidationFailed(f"give 1..{limit} positive ids (at most 2^63-1)")
    return ids


MAX_PAGE_SIZE = 500
MAX_LIMIT = 5000


@dataclass(frozen=True, slots=True)
class Clamped:
    """A size query value clamped to its maximum (clients of the reference design ask for
    more than the maximum and expect the maximum); `note` says so in the response."""

    name: str
    value: int
    requested: int

    def note(self, body: Mapping[str, object]) -> dict[str, object]:
        """`body` (copied) with the clamping noted."""
        out = dict(body)
        if self.requested != self.value:
            out[f"{self.name}_requested"] = self.requested
            out["notice"] = f"{self.name} {self.requested} clamped to the maximum {self.value}"
        return out


async def page_size_param(
    page_size: Annotated[int, Query(ge=1, le=MAX_ID, description=(
        f"rows per page (default 100); above {MAX_PAGE_SIZE} it is clamped to {MAX_PAGE_SIZE}"
    ))] = 100,
) -> Clamped:
    return Clamped("page_size", min(page_size, MAX_PAGE_SIZE), page_size)


async def limit_param(
    limit: Annotated[int, Query(ge=1, le=MAX_ID, description=(
        f"most rows (default {DEFAULT_LIMIT}); above {MAX_LIMIT} it is clamped to {MAX_LIMIT}"
    ))] = DEFAULT_LIMIT,
) -> Clamped:
    return Clamped("limit", min(limit, MAX_LIMIT), limit)


PageSize = Annotated[Clamped, Depends(page_size_param)]
Limit = Annotated[Clamped, Depends(limit_param)]


class OpenReadParams(BaseModel):
    """The query of `GET /oms/positions/open` and `/oms/orders/open`, validated by this one model
    for the route and for the open reads' fast path alike (`apps/api/fast_reads.py`). Unknown
    parameters are ignored, as on every route."""

    model_config = ConfigDict(frozen=True)

    account_ids: str | None = Field(
        None, max_length=ACCOUNT_IDS_MAX_LENGTH,
        description="CSV of account ids; default: every account the key may read")
    strategy_id: int | None = Field(None, ge=0, le=MAX_ID)
    symbol: str | None = Field(None, max_length=SYMBOL_MAX_LENGTH)
    start_date: date | None = None
    end_date: date | None = None
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_ID, description=(
        f"most rows (default {DEFAULT_LIMIT}); above {MAX_LIMIT} it is clamped to {MAX_LIMIT}"))

    def clamped_limit(self) -> Clamped:
        return Clamped("limit", min(self.limit, MAX_LIMIT), self.limit)


OpenReadQuery = Annotated[OpenReadParams, Query()]

