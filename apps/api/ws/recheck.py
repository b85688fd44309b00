"""Periodic re-check of the keys of connected sockets (one task per API process).

Every `websocket.recheck_seconds` the keys of all authenticated connections are looked up in ONE
indexed query (`service.auth.revalidate`). A key that was deleted, disabled, has expired or whose
user was disabled: its sockets are closed with 1008 and the reason. A key that lost the right to
read an account: that account's stream and market subscriptions end and the client gets a
`system/subscription_revoked` push; the socket stays (the key is still valid). Narrowed strategy
grants narrow the subscription's filter silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from apps.api.outage import OUTAGES, is_store_outage
from apps.api.ws.actions import INVALID_KEY
from apps.api.ws.connection import Connection
from apps.api.ws.envelopes import push
from apps.api.ws.hub import StreamHub
from apps.api.ws.market import MarketHub
from apps.oms.config import Settings
from apps.oms.errors import AuthenticationFailed
from apps.oms.security.principal import Principal
from apps.oms.service.auth import revalidate

log = logging.getLogger("apps.api.ws")


class KeyRecheck:
    """Re-validates the keys of `hub`'s connections every `period` seconds."""

    def __init__(self, hub: StreamHub, market: MarketHub, settings: Settings) -> None:
        self.hub = hub
        self.market = market
        self.pepper = settings.security.api_key_pepper.get_secret_value()
        self.period = settings.websocket.recheck_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ws-key-recheck")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            try:
                await self.check_once()
            except Exception as exc:
                if not is_store_outage(exc):
                    log.exception("websocket key re-check failed")
                else:
                    OUTAGES.report(exc, "websocket key re-check")

    async def check_once(self) -> None:
        """One round over every authenticated connection (one query for all distinct keys)."""
        conns = [c for c in self.hub.connections if c.api_key and not c.closed.is_set()]
        if not conns:
            return
        started = asyncio.get_running_loop().time()
        outcomes = await revalidate(self.hub.store, self.pepper, {str(c.api_key) for c in conns})
        for conn in conns:
            outcome = outcomes.get(str(conn.api_key))
            if outcome is None or conn.authenticated_at > started:
                continue  # authenticated again meanwhile (another key, or fresher grants)
            if isinstance(outcome, AuthenticationFailed):
                log.info("websocket closed: %s (key re-check)", outcome.message)
                conn.drop(INVALID_KEY, outcome.message)
            else:
                self._apply(conn, outcome)

    def _apply(self, conn: Connection, principal: Principal) -> None:
        conn.principal = principal
        dropped = sorted(set(conn.rescope(principal)) | set(self.market.revoke(conn, principal)))
        for account_id in dropped:
            body = {
                "account_id": account_id,
                "code": "account_not_found",
                "message": f"the key may no longer read account {account_id}; "
                "its subscriptions ended",
            }
            conn.send(push("system", "subscription_revoked", None, account_id, body))
