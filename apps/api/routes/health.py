"""Liveness and readiness probes (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from apps import __version__
from apps.api.deps import SettingsDep, StoreDep
from apps.api.schemas import Health, Readiness
from apps.oms.service.health import readiness
from apps.paper.service.market import feed_status

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz(settings: SettingsDep, store: StoreDep) -> Health:
    return Health(
        status="ok",
        app=settings.app_name,
        env=settings.env,
        db_engine=store.dialect,
        version=__version__,
    )


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(settings: SettingsDep, store: StoreDep) -> JSONResponse:
    report = Readiness(**await readiness(store, settings, feed_status))
    return JSONResponse(status_code=200 if report.ready else 503, content=report.model_dump())
