"""The baseline every HTTP figure is quoted beside: a trivial FastAPI app with one route doing
`SELECT 1` through the same store (engine, pool, driver) as the API, served by uvicorn with the
same worker count and loop. A ratio figure / baseline survives a change of machine.

    OMS_DATABASE_URL=... uvicorn --factory bench.baseline_app:app_from_env --port 8001
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from sqlalchemy import text
from starlette.responses import Response

from apps.oms.store.store import Store


def app_from_env() -> FastAPI:
    url = os.environ["OMS_DATABASE_URL"]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = Store.from_url(url)
        try:
            yield
        finally:
            await app.state.store.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/baseline/select1")
    async def select1(request: Request) -> Response:
        store: Store = request.app.state.store
        async with store.read() as conn:
            value = (await conn.execute(text("SELECT 1"))).scalar()
        return Response(f'{{"value":{value}}}', media_type="application/json")

    @app.post("/baseline/select1")
    async def post_select1(request: Request) -> Response:
        await request.body()
        return await select1(request)

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response("{}", media_type="application/json")

    return app
