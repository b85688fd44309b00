"""`GET /dispatcher/status` (admin): the worker fleet; the use case is
`apps/oms/service/dispatcher.py`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from apps.api.deps import PrincipalDep, SettingsDep, StoreDep
from apps.api.read_schemas import DispatcherStatus, ok
from apps.oms.domain.access import Action
from apps.oms.service import dispatcher

router = APIRouter(tags=["health"])


@router.get("/dispatcher/status", response_model=None, responses=ok(DispatcherStatus))
async def dispatcher_status(principal: PrincipalDep, store: StoreDep,
                            settings: SettingsDep) -> dict[str, Any]:  # fmt: skip
    principal.require(Action.ADMINISTER)
    return dict(await dispatcher.status(store, settings))
