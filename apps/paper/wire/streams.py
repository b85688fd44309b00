"""User-data streams of the served venue: listen keys (Binance's 60-minute keys, kept alive by
PUT) and the subscribers of each account, each a queue its websocket drains."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from apps.paper.wire.fault_plan import DROP, SEND, SKIP
from apps.paper.wire.signing import WireError

LISTEN_KEY_MS = 60 * 60 * 1000
QUEUE_SIZE = 10_000
#: what a dropped subscriber's queue holds last: its websocket closes on it
DROPPED: dict[str, Any] = {"dropped": "slow consumer"}


@dataclass(eq=False)
class Subscriber:
    """One websocket's feed of an account's events; `wrap` gives each event its frame."""

    account_id: int
    wrap: Callable[[dict[str, Any]], dict[str, Any]]
    queue: asyncio.Queue[dict[str, Any]]


class Streams:
    def __init__(self, clock: Callable[[], int], fault: Callable[[], str] = lambda: SEND) -> None:
        self.clock = clock
        self.fault = fault  # what an event meets: SEND, SKIP (not sent), DROP (stream closed)
        self.listen_keys: dict[str, tuple[int, int]] = {}  # key -> (account, expires ms)
        self.subscribers: set[Subscriber] = set()

    def new_listen_key(self, account_id: int) -> str:
        """Binance answers the account's still valid key again, else a new one."""
        now = self.clock()
        for key, (owner, expires) in self.listen_keys.items():
            if owner == account_id and expires > now:
                self.listen_keys[key] = (owner, now + LISTEN_KEY_MS)
                return key
        key = secrets.token_urlsafe(45)[:60]
        self.listen_keys[key] = (account_id, now + LISTEN_KEY_MS)
        return key

    def key_of(self, account_id: int) -> str | None:
        """The account's valid listen key, if it has one."""
        now = self.clock()
        return next((k for k, (owner, expires) in self.listen_keys.items()
                     if owner == account_id and expires > now), None)  # fmt: skip

    def account_of(self, listen_key: str | None) -> int:
        found = self.listen_keys.get(listen_key or "")
        if found is None or found[1] <= self.clock():
            raise WireError(400, -1125, "This listenKey does not exist.")
        return found[0]

    def keep_alive(self, listen_key: str | None, account_id: int) -> None:
        if self.account_of(listen_key) != account_id:
            raise WireError(400, -1125, "This listenKey does not exist.")
        self.listen_keys[listen_key or ""] = (account_id, self.clock() + LISTEN_KEY_MS)

    def close(self, listen_key: str | None, account_id: int) -> None:
        self.keep_alive(listen_key, account_id)
        del self.listen_keys[listen_key or ""]

    def subscribe(self, account_id: int, wrap: Callable[[dict[str, Any]], dict[str, Any]],
                  queue: asyncio.Queue[dict[str, Any]]) -> Subscriber:  # fmt: skip
        """Events of the account, framed by `wrap`, into `queue` (a websocket's outbox)."""
        sub = Subscriber(account_id, wrap, queue)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    async def publish(self, account_id: int, events: list[dict[str, Any]]) -> None:
        """Queue the events for every subscriber of the account (a full queue drops the
        subscriber, as a venue drops a slow consumer). An injected fault may skip an event
        (nobody gets it) or drop the account's streams instead of sending it."""
        for event in events:
            subs = [s for s in self.subscribers if s.account_id == account_id]
            what = self.fault() if subs else SEND
            if what == SKIP:
                continue
            for sub in subs:
                if what == DROP:
                    self._drop(sub)
                    continue
                try:
                    sub.queue.put_nowait(sub.wrap(event))
                except asyncio.QueueFull:
                    self._drop(sub)

    def _drop(self, sub: Subscriber) -> None:
        """Close the subscriber's websocket: what it has not read is lost to it."""
        self.unsubscribe(sub)
        while not sub.queue.empty():
            sub.queue.get_nowait()
        sub.queue.put_nowait(DROPPED)


def fills_by_order(fills: list[dict[str, Any]], listed: Collection[str]
                   ) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    """The fills the engine's match made, grouped by their order, of the symbols a dialect
    lists (each dialect's `after_match` reports them per order, in the order they came)."""
    by_order: dict[str, list[dict[str, Any]]] = {}
    for fill in fills:
        if fill["symbol"] in listed:
            by_order.setdefault(fill["order"], []).append(fill)
    return by_order
