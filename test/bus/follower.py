"""A websocket client on its own thread for the bus tests: subscribes to accounts with
`since_seq`, records the `seq` of every event push per connection, and reconnects with the last
`seq` it saw when told to (R6's resume, against API processes that consume from the bus)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from typing import Any

import websockets


class Follower(threading.Thread):
    def __init__(self, ws_url: str, key: str, account_ids: list[int]) -> None:
        super().__init__(daemon=True)
        self.ws_url, self.key, self.account_ids = ws_url, key, account_ids
        self.connections: list[list[int]] = []  # seqs received, per connection
        self.errors: list[Any] = []
        self.last = 0
        self.resumes = 0  # connections asked to end (each then resumes with `since_seq`)
        self.finish = threading.Event()

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        while not self.finish.is_set():
            try:
                await self._connection()
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                self.errors.append(repr(exc))
                await asyncio.sleep(0.5)

    async def _connection(self) -> None:
        async with websockets.connect(self.ws_url, additional_headers={"x-api-key": self.key},
                                      open_timeout=60, max_size=None) as ws:
            seqs: list[int] = []
            self.connections.append(seqs)
            await ws.recv()  # the greeting
            await ws.send(json.dumps({"id": "s", "action": "subscribe", "payload": {
                "account_ids": self.account_ids, "since_seq": self.last,
                "with_snapshot": False}}))
            while not self.finish.is_set() and self.resumes < len(self.connections):
                with contextlib.suppress(TimeoutError):
                    self._take(json.loads(await asyncio.wait_for(ws.recv(), 0.2)), seqs)

    def resume(self) -> None:
        """End the current connection; the next one resumes after the last `seq` seen."""
        self.resumes += 1

    def _take(self, msg: dict[str, Any], seqs: list[int]) -> None:
        if msg.get("ok") is False:
            self.errors.append(msg)
        elif msg.get("type") == "ws_event" and msg.get("seq") is not None:
            seqs.append(int(msg["seq"]))
            self.last = max(self.last, int(msg["seq"]))
