"""A served venue as a running server: `start` (tests, the CLI) binds a port and returns once it
listens; `serve` is `ccxt-oms venue serve` (one announced line, clean SIGTERM/SIGINT)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from apps.paper.wire.fault_plan import FaultPlan
from apps.paper.wire.server import WireVenue, build_venue, create_app


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the caller decides what a signal means."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Running:
    """A venue served on a port (0 = a free one, `port` is the one bound)."""

    venue: WireVenue
    server: uvicorn.Server
    task: asyncio.Task[None]
    host: str
    port: int

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def urls(self) -> dict[str, str]:
        """Base URLs as a CCXT `urls['api']` override takes them (docs/testnet.md)."""
        return {"rest": self.rest_url, "ws": self.ws_url,
                "public": f"{self.rest_url}/api/v3", "private": f"{self.rest_url}/api/v3",
                "ws_stream": f"{self.ws_url}/ws", "ws_api": f"{self.ws_url}/ws-api/v3"}  # fmt: skip

    def ccxt_urls(self) -> dict[str, Any]:
        """The entries of CCXT's `urls['api']` to override for this dialect (merged over the
        class's own, `ws` one level deeper: docs/testnet.md)."""
        if self.venue.dialect == "okx":
            return {"rest": self.rest_url, "ws": f"{self.ws_url}/ws/v5"}
        if self.venue.dialect == "bybit":
            private = f"{self.ws_url}/v5/private"
            return {**dict.fromkeys(("spot", "futures", "v2", "public", "private"), self.rest_url),
                    "ws": {"public": {c: f"{self.ws_url}/v5/public/{c}" for c in ("linear", "spot")},
                           "private": {"spot": {"unified": private}, "contract": private}}}  # fmt: skip
        if self.venue.dialect == "binanceusdm":
            rest = {f"fapi{kind}{version}": f"{self.rest_url}/fapi/{path}"
                    for kind in ("Public", "Private")
                    for version, path in (("", "v1"), ("V2", "v2"), ("V3", "v3"))}  # fmt: skip
            return {**rest, "ws": {"future": f"{self.ws_url}/ws"}}
        urls = self.urls()
        return {"public": urls["public"], "private": urls["private"],
                "ws": {"spot": urls["ws_stream"], "ws-api": {"spot": urls["ws_api"]}}}

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task
        await self.venue.gate.close()
        await self.venue.engine.dispose()


async def start(venue: WireVenue, host: str = "127.0.0.1", port: int = 0) -> Running:
    """Serve the venue until `stop()`; returns once it listens."""
    config = uvicorn.Config(create_app(venue), host=host, port=port, log_level="warning",
                            lifespan="off", ws="websockets-sansio", access_log=False)  # fmt: skip
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # the bind failed: raise why
            raise RuntimeError("the venue's server stopped before it started")
        await asyncio.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return Running(venue, server, task, host, int(bound))


async def walking(venue: WireVenue, seconds: float) -> None:
    """A random-walk step of every market each `seconds` (and the matching it triggers)."""
    while True:
        await asyncio.sleep(seconds)
        await venue.walk()


async def serve(dialect: str, port: int, store_url: str, host: str = "127.0.0.1",
                announce: Callable[[dict[str, Any]], None] = print,
                walk_seconds: float = 0, faults: FaultPlan | None = None,
                weight_limit: int = 0) -> None:  # fmt: skip
    """`ccxt-oms venue serve`: serve until SIGTERM or SIGINT, after announcing one line (base
    URLs, a fresh funded account's key and secret); with `walk_seconds`, prices move; with
    `faults`, the venue starts with them set (as `POST /admin/faults` sets them); with
    `weight_limit`, Binance's weight limit per minute and address (`POST /admin/limits`)."""
    venue = await build_venue(store_url, dialect)
    if faults is not None:
        venue.gate.set(faults)
    venue.weights.configure(weight_limit)
    creds = await venue.new_account()
    running = await start(venue, host, port)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, setattr, running.server, "should_exit", True)
    urls = running.urls()
    announce({"ok": True, "dialect": dialect, "rest": urls["rest"], "ws": urls["ws"],
              "ccxt_urls": running.ccxt_urls(),
              "api_key": creds.api_key, "secret": creds.secret,
              **({"password": creds.passphrase} if dialect == "okx" else {}),
              "account_id": creds.account_id, "admin": f"{urls['rest']}/admin",
              "store": store_url, "walk_seconds": walk_seconds,
              "faults": venue.gate.show(), "limits": venue.weights.show()})  # fmt: skip
    walker = asyncio.create_task(walking(venue, walk_seconds)) if walk_seconds > 0 else None
    try:
        await running.task
    finally:
        if walker is not None:
            walker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await walker
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await venue.gate.close()
        await venue.engine.dispose()
