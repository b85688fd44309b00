"""A closed CCXT venue stays closed: a request that goes on after the close (one queued behind
a failed call) fails instead of opening an HTTP session nothing would close."""

from __future__ import annotations

import pytest

from apps.oms.exchange.ccxt.venue import CcxtVenue


async def test_a_request_after_close_opens_no_session() -> None:
    import ccxt.async_support as ccxt_async

    exchange = ccxt_async.binance({"urls": {"api": {"public": "http://127.0.0.1:9/api/v3"}}})
    venue = CcxtVenue(exchange)
    await venue.close()
    with pytest.raises(RuntimeError, match="Session is closed"):
        await exchange.fetch("http://127.0.0.1:9/api/v3/time")
    assert exchange.session is not None
    assert exchange.session.closed
    await venue.close()  # closing again is harmless
    assert exchange.session.closed
