"""The API composition root: `create_app(settings)` builds the FastAPI app and its store."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from apps import __version__
from apps.api.body_rules import BodyRulesMiddleware
from apps.api.console import mount_console
from apps.api.docs_pages import install_docs
from apps.api.errors import install_error_handlers
from apps.api.fast_reads import FastOpenReads
from apps.api.read_schemas import ERROR_RESPONSES
from apps.api.routes import (
    accounts,
    admin,
    allocations,
    auth,
    ccxt,
    commands,
    dispatcher,
    health,
    metrics,
    paper,
    reads,
    reconcile,
    risk,
    signals,
    strategies,
    user,
)
from apps.api.tracing import TraceIdMiddleware
from apps.api.ws import endpoint as ws_endpoint
from apps.api.ws.bus_hub import make_hub
from apps.api.ws.market import MarketHub
from apps.api.ws.recheck import KeyRecheck
from apps.oms.bus.processes import ApiBus
from apps.oms.config import Settings, posture_warnings
from apps.oms.exchange.ccxt.instances import ExchangeRegistry
from apps.oms.metrics import forget_process_metrics
from apps.oms.service.auth import AuthGuard
from apps.oms.service.auth_cache import PrincipalCache
from apps.oms.service.read_model import ReadModel
from apps.oms.store.file_guard import guard_store_file
from apps.oms.store.store import Store
from apps.oms.wakeup import StreamWakeups, WakeSender
from apps.paper.exchange import listing

log = logging.getLogger("apps.api")


#: routes are matched in this order, one by one: the hot ones (accepts, open reads) first; no path
#: of one router matches another's, so the order changes the cost, never the answer
#: (test/api/test_route_order.py)
ROUTERS: tuple[APIRouter, ...] = (
    commands.router,
    reads.router,
    health.router,
    dispatcher.router,
    metrics.router,
    auth.router,
    accounts.router,
    user.router,
    admin.router,
    paper.router,
    strategies.router,
    risk.router,
    allocations.router,
    reconcile.router,
    signals.router,
    ws_endpoint.router,
    ccxt.router,
)


def create_app(settings: Settings) -> FastAPI:
    listing.configure(settings.paper)  # the paper markets acceptance and prices know
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for warning in posture_warnings(settings):
            log.warning("%s", warning)
        store = Store.from_url(settings.database.url, pool_size=settings.database.pool_size)
        guard_store_file(store.engine)  # the embedded file deleted under us: 503, not ready
        app.state.store = store
        # keys answered from memory while the identity version is read (auth_cache.py)
        app.state.principal_cache = principals = PrincipalCache(
            store, settings.security.api_key_pepper.get_secret_value()
        )
        principals.start()
        # queued commands wake the workers at once (UDP or the bus, best effort;
        # apps/oms/wakeup.py, apps/oms/bus/processes.py)
        bus = ApiBus.configured(settings.bus, lambda: app.state.stream_hub.wake.set())
        waker = bus if bus is not None and settings.bus.wakeups else WakeSender(store)

        async def on_queued(account_ids: set[int]) -> None:
            app.state.stream_hub.expect_events()  # their events follow within milliseconds
            await waker.wake(account_ids)

        store.on_queued = on_queued
        # open orders/positions in memory, kept current by the websocket's outbox tailer
        read_model = ReadModel(store) if settings.api.read_model else None
        app.state.read_model = read_model
        if read_model is not None:
            store.on_accepted = read_model.note_accepted  # read-your-writes (docs/api.md)
        # websocket stream: one outbox tailer per API process (apps/api/ws), or one bus
        # consumer (bus.consume, apps/api/ws/bus_hub.py)
        app.state.stream_hub = hub = make_hub(store, settings, read_model, bus)
        await hub.start()
        # workers tell the tailer when rows got their seq (UDP or the bus, best effort; else
        # it polls)
        told = StreamWakeups(store, settings.api.stream_wake_host, hub.wake.set,
                             max_age=settings.worker.dead_after_seconds)
        if waker is not bus and settings.api.stream_wake_host and await told.start():
            hub.told = lambda: told.trusted
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
            await told.close()
            await app.state.stream_hub.stop()
            await waker.close()
            if bus is not waker:
                await ApiBus.close_configured(bus)
            await principals.stop()
            await store.close()
            forget_process_metrics()

    app = FastAPI(
        title="ccxt-oms",
        version=__version__,
        description=(
            "Multi-account order-management gateway for crypto trading over CCXT.\n\n"
            "Websocket protocol (`WS /ws`): [/docs/websocket](/docs/websocket), machine-readable"
            " as [AsyncAPI](/asyncapi.json). Metrics: `GET /metrics` (Prometheus)."
        ),
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        docs_url=None,  # served from the installed package, not a CDN (apps/api/docs_pages.py)
        redoc_url=None,
    )
    app.state.settings = settings
    # failed-authentication throttling, per process (apps/oms/service/auth.py)
    app.state.auth_guard = AuthGuard.from_limits(
        settings.security.auth_failure_limit, settings.security.auth_failure_window_seconds
    )
    install_error_handlers(app)
    install_docs(app)
    for router in ROUTERS:
        app.include_router(router)
    mount_console(app)  # the web console at /ui (apps/api/console.py)
    # open reads answered from memory before routing when nothing can go wrong (fast_reads.py)
    app.add_middleware(FastOpenReads)
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
