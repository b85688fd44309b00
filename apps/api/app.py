"""The API composition root: `create_app(settings)` builds the FastAPI app and its store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from apps import __version__
from apps.api.body_rules import BodyRulesMiddleware
from apps.api.console import mount_console
from apps.api.errors import install_error_handlers
from apps.api.routes import accounts, admin, ccxt, commands, health, paper, reads, strategies, user
from apps.api.tracing import TraceIdMiddleware
from apps.api.ws import endpoint as ws_endpoint
from apps.api.ws.hub import StreamHub
from apps.api.ws.market import MarketHub
from apps.api.ws.recheck import KeyRecheck
from apps.oms.config import Settings
from apps.oms.exchange.ccxt.instances import ExchangeRegistry
from apps.oms.store.store import Store
from apps.oms.wakeup import WakeSender


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store.from_url(settings.database.url, pool_size=settings.database.pool_size)
        app.state.store = store
        # queued commands wake the workers at once (UDP, best effort; apps/oms/wakeup.py)
        waker = WakeSender(store)

        async def on_queued(account_ids: set[int]) -> None:
            app.state.stream_hub.expect_events()  # their events follow within milliseconds
            await waker.wake(account_ids)

        store.on_queued = on_queued
        # websocket stream: one outbox tailer per API process (apps/api/ws)
        app.state.stream_hub = StreamHub(store, settings)
        await app.state.stream_hub.start()
        # /ccxt gateway: exchange instances per account, created on first use
        app.state.ccxt_registry = ExchangeRegistry(store, settings)
        # market-data fan-out: one upstream per (venue, symbol, channel) (apps/api/ws/market.py)
        app.state.market_hub = MarketHub(store, app.state.ccxt_registry, settings)
        # re-validates connected sockets' keys every websocket.recheck_seconds (ws/recheck.py)
        app.state.key_recheck = KeyRecheck(app.state.stream_hub, app.state.market_hub, settings)
        app.state.key_recheck.start()
        try:
            yield
        finally:
            await app.state.key_recheck.stop()
            await app.state.market_hub.close()
            await app.state.ccxt_registry.close()
            await app.state.stream_hub.stop()
            await waker.close()
            await store.close()

    app = FastAPI(
        title="ccxt-oms",
        version=__version__,
        description="Multi-account order-management gateway for crypto trading over CCXT.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    for router in (
        health.router,
        accounts.router,
        user.router,
        admin.router,
        paper.router,
        commands.router,
        reads.router,
        strategies.router,
        ws_endpoint.router,
        ccxt.router,
    ):
        app.include_router(router)
    mount_console(app)  # the web console at /ui (apps/api/console.py)
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(BodyRulesMiddleware)  # 1 MB and JSON media types, every endpoint
    app.add_middleware(TraceIdMiddleware)
    _document_command_body(app)
    return app


def _document_command_body(app: FastAPI) -> None:
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            commands.register_schemas(base())
        assert app.openapi_schema is not None  # noqa: S101 - set by base()
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
