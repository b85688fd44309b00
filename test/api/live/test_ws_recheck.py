"""The periodic key re-check of connected sockets (`apps/api/ws/recheck.py`) over real uvicorn and
real websocket clients: a key disabled, expired or whose user is disabled while connected is
closed with 1008 within the period; a key that loses an account grant loses that account's
stream and market subscriptions but keeps its socket; other keys are unaffected."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from datetime import timedelta
from typing import Any

import pytest
import websockets
from sqlalchemy import update

from apps.oms.clock import utcnow
from apps.oms.domain.access import AccountFlags, Role
from apps.oms.service import admin
from apps.oms.store import identity
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.tables import api_keys, users
from test.api.live.conftest import PEPPER, RECHECK, Client, Stack, connect
from test.api.live.test_ws_stream import rest_send, send

pytestmark = pytest.mark.mysql
SLACK = 2.0  # seconds beyond one period: a round's query and the close handshake
FLAGS = AccountFlags(can_trade=True, can_close_position=True)


async def new_key(stack: Stack, flags: AccountFlags = FLAGS) -> tuple[int, int, str]:
    """(user id, key id, plain key) of a fresh trader with `flags` on the stack's account."""
    async with stack.store.transaction() as conn:
        user_id = await admin.create_user(conn, CLI_ACTOR, name=f"rc{secrets.token_hex(4)}",
                                          role=Role.TRADER)
        key = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=user_id,
                                         label="recheck")
        await admin.set_permission(conn, CLI_ACTOR, api_key_id=key.id,
                                   account_id=stack.account_id, flags=flags)
    return user_id, key.id, key.plain


async def subscribed(stack: Stack, key: str) -> Client:
    client = await connect(stack, key)
    reply = await client.request("subscribe", {"account_ids": [stack.account_id],
                                               "with_snapshot": False})
    assert reply["ok"], reply
    market = await client.request("subscribe_market", {"account_id": stack.account_id,
                                                       "symbol": "ETH/USDT"}, namespace="ccxt")
    assert market["ok"], market
    return client


async def closed_within(client: Client, seconds: float) -> tuple[int, str, float]:
    """(close code, reason, seconds waited) once the server closes the socket."""
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def drain() -> None:
        while True:
            await asyncio.wait_for(client.ws.recv(), max(0.01, start + seconds - loop.time()))

    with pytest.raises(websockets.ConnectionClosed) as info:
        await drain()
    assert info.value.rcvd is not None
    return info.value.rcvd.code, info.value.rcvd.reason, loop.time() - start


async def still_served(stack: Stack, client: Client) -> None:
    """The socket answers requests and still gets the account's events."""
    assert (await client.request("ping"))["event"] == "pong"
    item = await rest_send(stack, send(stack.account_id))
    seen = await client.until(lambda m: m.get("event") == "order_accepted"
                              and m["payload"].get("id") == item["order_id"])
    assert seen[-1]["account_id"] == stack.account_id


async def test_disabled_key_is_closed_within_the_period(stack: Stack) -> None:
    _, key_id, key = await new_key(stack)
    _, _, other_key = await new_key(stack)
    revoked, kept = await subscribed(stack, key), await subscribed(stack, other_key)
    await asyncio.sleep(RECHECK * 2)  # a few rounds pass: nothing happens to valid keys
    async with stack.store.transaction() as conn:
        await identity.set_key_status(conn, key_id, "disabled")
    code, reason, waited = await closed_within(revoked, RECHECK + SLACK)
    assert code == 1008
    assert reason == "API key is disabled"
    assert waited <= RECHECK + SLACK
    await still_served(stack, kept)


async def test_disabled_user_and_expired_key_are_closed(stack: Stack) -> None:
    user_id, _, user_key = await new_key(stack)
    _, expiring_id, expiring_key = await new_key(stack)
    by_user, expiring = await subscribed(stack, user_key), await subscribed(stack, expiring_key)
    async with stack.store.transaction() as conn:
        await conn.execute(update(users).where(users.c.id == user_id).values(status="disabled"))
        await conn.execute(update(api_keys).where(api_keys.c.id == expiring_id)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
    results = await asyncio.gather(closed_within(by_user, RECHECK + SLACK),
                                   closed_within(expiring, RECHECK + SLACK))
    assert [(code, reason) for code, reason, _ in results] == [
        (1008, "API key is disabled"), (1008, "API key has expired")]


async def test_lost_account_grant_ends_its_subscriptions(stack: Stack) -> None:
    _, key_id, key = await new_key(stack)
    client = await subscribed(stack, key)
    async with stack.store.transaction() as conn:
        await admin.set_permission(conn, CLI_ACTOR, api_key_id=key_id,
                                   account_id=stack.account_id,
                                   flags=AccountFlags(can_read=False))
    notice = (await client.until(lambda m: m.get("event") == "subscription_revoked",
                                 RECHECK + SLACK))[-1]
    assert notice["namespace"] == "system"
    assert notice["account_id"] == stack.account_id
    assert notice["payload"]["code"] == "account_not_found"
    hub = stack.app.state.market_hub
    assert not any(hub.subs.get(c) for c in hub.subs if c.api_key == key)
    assert (await client.request("ping"))["event"] == "pong"  # the socket stays
    item = await rest_send(stack, send(stack.account_id))
    events = await quiet(client, seconds=1.0)
    assert not [m for m in events if m.get("account_id") == stack.account_id
                and (m.get("payload") or {}).get("id") == item["order_id"]]
    again = await client.request("subscribe", {"account_ids": [stack.account_id]})
    assert again["payload"]["code"] == "account_not_found"


async def quiet(client: Client, seconds: float) -> list[dict[str, Any]]:
    """Everything that arrives within `seconds`."""
    seen: list[dict[str, Any]] = []
    with contextlib.suppress(TimeoutError):
        await client.until(lambda m: seen.append(m) is not None, seconds)
    return seen
