"""A venue the worker builds and then drops closes its exchange instance first: the position mode
read opens CCXT's HTTP session, and an instance dropped with it open is collected later, in
whatever test or request runs then, as aiohttp's "Unclosed client session" (a failure of that
test under `filterwarnings = error`). Dropped here: an error CCXT does not name during the read,
and the worker stopping (cancelling) while the read waits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from apps.oms.config import Settings
from apps.oms.store.store import Store
from apps.paper.wire.process import Running
from apps.worker.venues import VenueCache, load_account
from test.integration.wire.test_gateway_position_modes import gateway_account


class Opened:
    """A `prepare` hook: the exchange's first request opens CCXT's own HTTP session (as a real
    request does), then fails with `error` or waits for ever."""

    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.exchanges: list[Any] = []
        self.reached = asyncio.Event()

    def __call__(self, exchange: Any) -> None:
        self.exchanges.append(exchange)

        async def fetch(url: str, method: str = "GET", headers: Any = None,
                        body: Any = None) -> Any:  # fmt: skip
            exchange.open()
            self.reached.set()
            if self.error is not None:
                raise self.error
            await asyncio.Event().wait()

        exchange.fetch = fetch

    def sessions_closed(self) -> bool:
        [exchange] = self.exchanges
        return exchange.session is not None and exchange.session.closed


async def _account(gateway: Store, futures: Running) -> Any:
    creds = await futures.venue.new_account()
    account_id = await gateway_account(gateway, futures, "ccxtpro.binanceusdm", "netting", creds)
    return await load_account(gateway, account_id)


async def test_an_unnamed_error_in_the_mode_read_closes_the_instance(
    gateway: Store, futures: Running
) -> None:
    account = await _account(gateway, futures)
    opened = Opened(RuntimeError("not a CCXT error"))
    venues = VenueCache(Settings(), gateway, prepare=opened)
    try:
        assert await venues.open(account) is None
        assert "not a CCXT error" in venues.problem(account)
        assert opened.sessions_closed()
    finally:
        await venues.close()


async def test_a_stop_during_the_mode_read_closes_the_instance(
    gateway: Store, futures: Running
) -> None:
    account = await _account(gateway, futures)
    opened = Opened(None)
    venues = VenueCache(Settings(), gateway, prepare=opened)
    opening = asyncio.create_task(venues.open(account))
    try:
        await asyncio.wait_for(opened.reached.wait(), 60)  # a deadline, not a speed bound
        opening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await opening
        assert opened.sessions_closed()
    finally:
        await venues.close()


async def test_two_opens_of_one_account_at_once_keep_one_instance_and_close_the_other(
    gateway: Store, futures: Running
) -> None:
    """Two starts of the same account (a lease lost and taken again while the first build still
    waited on the venue) each build an instance; the cache keeps one and closes the other."""
    account = await _account(gateway, futures)
    built: list[Any] = []
    both_built = asyncio.Event()

    def prepare(exchange: Any) -> None:
        built.append(exchange)
        if len(built) == 2:
            both_built.set()
        fetch = exchange.fetch

        async def gated(*args: Any, **kwargs: Any) -> Any:
            await both_built.wait()  # each build's mode read waits until both instances exist
            return await fetch(*args, **kwargs)

        exchange.fetch = gated

    venues = VenueCache(Settings(), gateway, prepare=prepare)
    try:
        first, second = await asyncio.gather(venues.open(account), venues.open(account))
        assert first is not None
        assert first is second
        assert len(built) == 2
        kept = [e for e in built if e is first.exchange]  # type: ignore[union-attr]
        [dropped] = [e for e in built if e is not first.exchange]  # type: ignore[union-attr]
        assert len(kept) == 1
        assert dropped.session is not None
        assert dropped.session.closed
    finally:
        await venues.close()
