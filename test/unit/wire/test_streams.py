"""Listen keys as Binance keeps them (60 minutes, extended by PUT, one per account while valid)
and the subscribers' queues of the stream hub."""

from __future__ import annotations

import asyncio

import pytest

from apps.paper.wire.signing import WireError
from apps.paper.wire.streams import DROPPED, LISTEN_KEY_MS, Streams


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


def test_listen_keys_live_an_hour_unless_kept_alive() -> None:
    clock = Clock()
    streams = Streams(clock)
    key = streams.new_listen_key(7)
    assert streams.new_listen_key(7) == key  # the valid key again
    assert streams.new_listen_key(8) != key
    clock.now += LISTEN_KEY_MS - 1
    streams.keep_alive(key, 7)
    clock.now += LISTEN_KEY_MS - 1
    assert streams.account_of(key) == 7
    assert streams.key_of(7) == key
    clock.now += 1
    with pytest.raises(WireError) as excinfo:
        streams.account_of(key)
    assert excinfo.value.code == -1125
    assert streams.key_of(7) is None


def test_a_key_is_its_accounts_only() -> None:
    streams = Streams(Clock())
    key = streams.new_listen_key(7)
    with pytest.raises(WireError):
        streams.keep_alive(key, 8)
    streams.close(key, 7)
    with pytest.raises(WireError):
        streams.close(key, 7)


async def test_events_reach_the_accounts_subscribers_framed() -> None:
    streams = Streams(Clock())
    mine: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    other: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    streams.subscribe(7, lambda e: {"subscriptionId": 0, "event": e}, mine)
    streams.subscribe(8, lambda e: e, other)
    await streams.publish(7, [{"e": "executionReport"}])
    assert mine.get_nowait() == {"subscriptionId": 0, "event": {"e": "executionReport"}}
    assert other.empty()


async def test_a_full_queue_drops_the_subscriber() -> None:
    streams = Streams(Clock())
    slow: asyncio.Queue[dict[str, object]] = asyncio.Queue(1)
    streams.subscribe(7, lambda e: e, slow)
    await streams.publish(7, [{"n": 1}, {"n": 2}])
    assert streams.subscribers == set()
    assert slow.get_nowait() is DROPPED  # its websocket closes on it


def test_fills_by_order_groups_the_listed_symbols_fills_in_order() -> None:
    from apps.paper.wire.streams import fills_by_order

    fills = [{"symbol": "BTC/USDT", "order": "1-2", "id": "a"},
             {"symbol": "ETH/USDT", "order": "1-3", "id": "b"},
             {"symbol": "BTC/USDT", "order": "1-4", "id": "c"},
             {"symbol": "BTC/USDT", "order": "1-2", "id": "d"}]  # fmt: skip
    grouped = fills_by_order(fills, {"BTC/USDT"})
    assert list(grouped) == ["1-2", "1-4"]
    assert [f["id"] for f in grouped["1-2"]] == ["a", "d"]
    assert fills_by_order([], {"BTC/USDT"}) == {}
