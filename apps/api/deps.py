"""Request dependencies as `Annotated` aliases; the objects themselves are built in `lifespan`.

Every dependency is `async def`: FastAPI runs plain `def` dependencies in a thread pool, which
costs a thread hop per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request

from apps.oms.config import Settings
from apps.oms.errors import ValidationFailed
from apps.oms.service.auth import authenticate
from apps.oms.service.principal import Principal
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
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]
StrategyFilter = Annotated[int | None, Query(ge=0, le=MAX_ID)]

SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]


async def get_principal(
    store: StoreDep,
    settings: SettingsDep,
    x_api_key: Annotated[str | None, Header(description="API key or login token")] = None,
) -> Principal:
    return await authenticate(store, settings.security.api_key_pepper.get_secret_value(), x_api_key)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def parse_account_ids(
    account_ids: Annotated[
        str | None, Query(description="CSV of account ids", max_length=2000)
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


async def require_account_ids(
    account_ids: Annotated[str, Query(description="CSV of account ids", max_length=2000)],
) -> list[int]:
    ids = await parse_account_ids(account_ids)
    assert ids is not None  # noqa: S101 - a required query value is never None
    return ids


RequiredAccountIds = Annotated[list[int], Depends(require_account_ids)]


def parse_id_list(text: str, *, limit: int = 500) -> list[int]:
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise ValidationFailed("ids must be comma-separated integers") from exc
    if not ids or len(ids) > limit or any(i <= 0 or i > MAX_ID for i in ids):
        raise ValidationFailed(f"give 1..{limit} positive ids (at most 2^63-1)")
    return ids
