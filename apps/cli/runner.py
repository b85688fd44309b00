"""Process launchers: `api` (uvicorn), `worker`, and `up` (API + worker on the embedded store)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
import uvloop

from apps.api.app import create_app
from apps.api.console import console_built
from apps.api.ws.preframed import PreframedProtocol
from apps.cli.context import safe_url
from apps.oms import heap
from apps.oms.config import Settings
from apps.oms.observability import configure_logging
from apps.oms.service.install import InstallRequest, install
from apps.oms.store import identity
from apps.oms.store.file_guard import guard_store_file
from apps.oms.store.migrate import upgrade
from apps.oms.store.store import Store

DEMO_KEYS_FILE = "demo-keys.json"


def serve_api(settings: Settings) -> None:
    configure_logging(settings.logging.level, settings.logging.format)
    if settings.api.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        logging.getLogger("apps.api").warning(
            "api.workers=%d without PROMETHEUS_MULTIPROC_DIR: /metrics shows one worker process"
            " per scrape; set it to an empty shared directory (docs/operations.md → Metrics)",
            settings.api.workers,
        )
    uvicorn.run(
        "apps.api.main:app_from_env",
        factory=True,
        host=settings.api.host,
        port=settings.api.port,
        workers=settings.api.workers,
        log_config=None,
        access_log=False,
        ws_per_message_deflate=settings.websocket.per_message_deflate,
        ws=PreframedProtocol,  # one write per socket for a burst (apps/api/ws/preframed.py)
    )


def demo_keys_path(settings: Settings) -> Path:
    url = settings.database.url
    if url.startswith("sqlite"):
        return Path(url.split("///", 1)[1]).parent / DEMO_KEYS_FILE
    return Path("data") / DEMO_KEYS_FILE


async def seed_demo(settings: Settings, store: Store) -> dict[str, Any] | None:
    """First start only: an admin key, a trader key and a paper hedge account (dev env only)."""
    async with store.read() as conn:
        if await identity.list_users(conn, limit=1):
            return None
    pepper = settings.security.api_key_pepper.get_secret_value()
    result = await install(
        store,
        pepper,
        InstallRequest(with_account=True, user_name="trader", label="paper", position_mode="hedge"),
    )
    path = demo_keys_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    path.chmod(0o600)
    return dict(result)


def console_banner_line(base: str) -> str:
    if console_built():
        return f"  console:  {base}/ui/"
    return "  console:  not built (`make console`, or `make run` builds it)"


def print_banner(settings: Settings, seeded: dict[str, Any] | None) -> None:
    path = demo_keys_path(settings)
    keys = seeded or (json.loads(path.read_text()) if path.exists() else None)
    base = f"http://{settings.api.host}:{settings.api.port}"
    lines = [
        "",
        "ccxt-oms is starting",
        f"  API:      {base}   (docs: {base}/docs)",
        f"  store:    {safe_url(settings.database.url)}",
    ]
    lines.append(console_banner_line(base))
    if keys:
        lines += [
            f"  admin key:  {keys['admin']['api_key']['plain']}",
            f"  trader key: {keys['api_key']['plain']}   (paper account id {keys['account']['id']})",
            "",
            "Try:",
            f"  curl -s -H 'x-api-key: {keys['api_key']['plain']}' {base}/oms/accounts",
        ]
    else:
        lines.append(
            f"  (keys were created earlier; {path} is missing, use `ccxt-oms create-api-key`)"
        )
    sys.stdout.write("\n".join(lines) + "\n\n")
    sys.stdout.flush()


async def run_all(settings: Settings) -> None:
    """API + one worker in one event loop until Ctrl-C / SIGTERM."""
    await asyncio.to_thread(upgrade, settings.database.url)
    store = Store.from_url(settings.database.url, pool_size=4)
    guard_store_file(store.engine)
    try:
        seeded = await seed_demo(settings, store) if settings.env == "dev" else None
        print_banner(settings, seeded)
        server = _Server(
            uvicorn.Config(
                create_app(settings),
                host=settings.api.host,
                port=settings.api.port,
                log_config=None,
                access_log=False,
                ws_per_message_deflate=settings.websocket.per_message_deflate,
                ws=PreframedProtocol,
            )
        )
        stop = asyncio.Event()

        def request_stop() -> None:
            server.should_exit = True
            stop.set()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, request_stop)
        from apps.worker.main import Worker  # lazy: `api` alone never loads CCXT (P6)

        worker = Worker(settings, store)
        heap.settle("api and worker")  # imports done: out of full GC walks (apps/oms/heap.py)
        worker_task = asyncio.create_task(worker.run(stop))
        try:
            await server.serve()
        finally:
            stop.set()
            await worker_task
    finally:
        await store.close()


class _Server(uvicorn.Server):
    """uvicorn without its own signal capture: `up` stops API and worker together, exit code 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def up(settings: Settings) -> None:
    configure_logging(settings.logging.level, settings.logging.format)
    os.makedirs("data", exist_ok=True)
    uvloop.run(run_all(settings))
