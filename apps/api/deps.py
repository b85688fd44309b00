"""Request dependencies as `Annotated` aliases; the objects themselves are built in `lifespan`.

Every dependency is `async def`: FastAPI runs plain `def` dependencies in a thread pool, which
costs a thread hop per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request

from apps.oms.config import Settings
from apps.oms.errors import ValidationFailed
from apps.oms.service.auth import AuthGuard, authenticate_client
from apps.oms.service.auth_cache import PrincipalCache
from apps.oms.service.principal import Principal
from apps.oms.store.store import Store


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "-"


async def get_principal(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    x_api_key: Annotated[str | None, Header(description="API key or login token")] = None,
) -> Principal:
    guard: AuthGuard = request.app.state.auth_guard
    pepper = settings.security.api_key_pepper.get_secret_value()
    # same answer as `auth.authenticate`, every request (apps/oms/service/auth_cache.py)
    cache: PrincipalCache | None = getattr(request.app.state, "principal_cache", None)
    via = cache.authenticate if cache is not None else None
    return await authenticate_client(store, pepper, x_api_key, client_address(request), guard,
                                     via=via)


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
    if not ids or any(i <= 0 for i in ids):
        raise ValidationFailed("account_ids must list positive integers")
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
    if not ids or len(ids) > limit or any(i <= 0 for i in ids):
        raise ValidationFailed(f"give 1..{limit} positive ids")
    return ids
