"""The in-memory read model of open orders/positions: byte-equal to the store path for every key,
scope and filter; follows the outbox tail; read-your-writes falls back to the store until the
model shows the accepted command's events."""

import json
import secrets
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert

from apps.api.responses import WireJSONResponse
from apps.api.ws.hub import StreamHub
from apps.oms.clock import utcnow
from apps.oms.domain.access import AccountFlags, Role
from apps.oms.service import admin, reads
from apps.oms.service.auth import authenticate
from apps.oms.service.read_model import ReadModel
from apps.oms.service.reads import Query
from apps.oms.store import sequencer
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.store import Store
from apps.oms.store.tables import orders

from .conftest import PEPPER, World
from .test_commands_accept import post, send

pytestmark = pytest.mark.mysql
Api = tuple[httpx.AsyncClient, World]
OPEN_STATUSES = ("PENDING_SUBMIT", "SUBMITTED", "PARTIALLY_FILLED")


def app_of(client: httpx.AsyncClient) -> FastAPI:
    transport = client._transport
    app: FastAPI = transport.app  # type: ignore[attr-defined]
    return app


async def sequence_and_tail(app: FastAPI) -> None:
    """What a worker's sequencer and the API's tailer do, once each."""
    store: Store = app.state.store
    async with store.transaction() as conn:
        await sequencer.ensure_state(conn, utcnow())
    while True:
        async with store.transaction() as conn:
            if not await sequencer.assign(conn, utcnow()):
                break
    hub: StreamHub = app.state.stream_hub
    while await hub.poll_once():
        pass


async def store_body(store: Store, key: str, kind: str, q: Query, limit: int) -> bytes:
    principal = await authenticate(store, PEPPER, key)
    read = reads.open_orders if kind == "orders" else reads.open_positions
    return bytes(WireJSONResponse(await read(store, principal, q, limit)).body)


async def model_body(
    model: ReadModel, store: Store, key: str, kind: str, q: Query, limit: int
) -> bytes | None:
    principal = await authenticate(store, PEPPER, key)
    return await reads.open_from_model(model, principal, kind, q, limit)


async def test_model_equals_store_for_every_key_scope_and_filter(api: Api) -> None:
    client, world = api
    app = app_of(client)
    model: ReadModel = app.state.read_model
    # other tests of this session write positions straight into the store (no outbox event, so
    # no process could follow them): start from a fresh load; the rows below come by the tail
    await model.load()
    for i in range(6):
        body = send(world.account_id, symbol="SOL/USDT" if i % 2 else "BTC/USDT", price="100")
        response = await post(client, world.trader_key, body)
        assert response.status_code == 200, response.text
    await sequence_and_tail(app)
    store = world.store
    cases: list[tuple[str, dict[str, Any]]] = [
        (world.trader_key, {}),
        (world.trader_key, {"symbol": "SOL/USDT"}),
        (world.trader_key, {"strategy_id": 0}),
        (world.trader_key, {"strategy_id": 7, "symbol": "BTC/USDT"}),
        (world.readonly_key, {}),
        (world.restricted_key, {}),
        (world.restricted_key, {"strategy_id": 7}),
        (world.admin_key, {}),
    ]
    compared = 0
    for key, filters in cases:
        for kind in ("orders", "positions"):
            for limit in (1, 3, 500):
                q = Query([world.account_id], **filters)
                expected = await store_body(store, key, kind, q, limit)
                got = await model_body(model, store, key, kind, q, limit)
                assert got == expected, (key, filters, kind, limit)
                compared += 1
    assert compared == len(cases) * 6
    # and over HTTP: the same bytes as the store path
    response = await client.get(
        "/oms/orders/open",
        headers={"x-api-key": world.trader_key},
        params={"account_ids": str(world.account_id), "limit": "4"},
    )
    q = Query([world.account_id])
    assert response.content == await store_body(store, world.trader_key, "orders", q, 4)
    assert len(response.json()["items"]) == 4


async def test_read_your_writes_falls_back_until_the_model_has_the_events(api: Api) -> None:
    client, world = api
    app = app_of(client)
    model: ReadModel = app.state.read_model
    await sequence_and_tail(app)
    response = await post(client, world.trader_key, send(world.account_id, price="101"))
    order_id = response.json()["results"][0]["order_id"]
    # the accept's event has no seq yet (no sequencer ran): the model may not answer ...
    assert not await model.current_for([world.account_id])
    q = Query([world.account_id])
    assert await model_body(model, world.store, world.trader_key, "orders", q, 500) is None
    # ... and the route answers from the store, which has the order
    listed = await client.get(
        "/oms/orders/open",
        headers={"x-api-key": world.trader_key},
        params={"account_ids": str(world.account_id)},
    )
    assert order_id in [i["id"] for i in listed.json()["items"]]
    # once sequenced and tailed, the model answers and holds the order
    await sequence_and_tail(app)
    assert await model.current_for([world.account_id])
    got = await model_body(model, world.store, world.trader_key, "orders", q, 500)
    assert got == await store_body(world.store, world.trader_key, "orders", q, 500)
    assert got is not None
    assert f'"id":{order_id},'.encode() in got


async def test_cancel_at_accept_leaves_the_model(api: Api) -> None:
    client, world = api
    app = app_of(client)
    model: ReadModel = app.state.read_model
    response = await post(client, world.trader_key, send(world.account_id, price="102"))
    order_id = response.json()["results"][0]["order_id"]
    await sequence_and_tail(app)
    assert order_id in model.books["orders"].account_of
    cancel = {
        "account_id": world.account_id,
        "command": "cancel_order",
        "payload": {"order_id": order_id},
    }
    assert (await post(client, world.trader_key, cancel)).status_code == 200
    await sequence_and_tail(app)
    q = Query([world.account_id])
    got = await model_body(model, world.store, world.trader_key, "orders", q, 500)
    assert got == await store_body(world.store, world.trader_key, "orders", q, 500)
    status = await client.get(f"/oms/orders/{order_id}", headers={"x-api-key": world.trader_key})
    still_open = status.json()["items"][0]["status"] in OPEN_STATUSES
    assert (order_id in model.books["orders"].account_of) == still_open


async def test_a_gap_in_the_stream_reloads_everything(api: Api) -> None:
    client, world = api
    app = app_of(client)
    model: ReadModel = app.state.read_model
    await sequence_and_tail(app)
    before = model.open_rows(
        "orders",
        reads.build_scope(
            await authenticate(world.store, PEPPER, world.trader_key), [world.account_id]
        ),
        None,
        None,
        500,
    )
    model.books["orders"].by_account.clear()  # lose state, then see a gap in seq
    model.books["orders"].account_of.clear()
    from apps.oms.store.stream import StreamEvent

    model.take([StreamEvent(model.seq + 5, world.account_id, "position", "x", None, "{}")])
    assert not model.ready
    await model.apply()
    assert model.ready
    after = model.open_rows(
        "orders",
        reads.build_scope(
            await authenticate(world.store, PEPPER, world.trader_key), [world.account_id]
        ),
        None,
        None,
        500,
    )
    assert after == before


async def test_restricted_on_one_account_unrestricted_on_another(api: Api) -> None:
    """Scope order must not leak: a key restricted to strategy 7 on the first account and free
    on the second sees only strategy 7 of the first (regression: a lazily filtered stream read
    the last account's grant)."""
    client, world = api
    app = app_of(client)
    model: ReadModel = app.state.read_model
    store = world.store
    async with store.transaction() as conn:
        now = utcnow()
        await conn.execute(
            insert(orders),
            [
                {"account_id": world.account_id, "client_order_id": f"s{s}{secrets.token_hex(4)}",
                 "symbol": "BTC/USDT", "side": "buy", "order_type": "limit",
                 "qty": Decimal("0.01"), "price": Decimal(90), "status": "SUBMITTED",
                 "is_open": True, "strategy_id": s, "created_at": now, "updated_at": now}
                for s in (0, 7, 0, 7)
            ],
        )  # fmt: skip
    await model.load()  # rows written straight into the store (no event): a fresh load
    async with store.transaction() as conn:
        user_id = await admin.create_user(
            conn, CLI_ACTOR, name=f"mixed{secrets.token_hex(3)}", role=Role.TRADER
        )
        key = await admin.create_api_key(conn, CLI_ACTOR, pepper=PEPPER, user_id=user_id, label="m")
        await admin.set_permission(
            conn, CLI_ACTOR, api_key_id=key.id, account_id=world.account_id,
            flags=AccountFlags(can_read=True, restrict_to_strategies=True,
                               strategy_ids=frozenset({7})),
        )  # fmt: skip
        await admin.set_permission(
            conn, CLI_ACTOR, api_key_id=key.id, account_id=world.other_account_id,
            flags=AccountFlags(can_read=True),
        )  # fmt: skip
    for accounts in ([world.account_id, world.other_account_id],
                     [world.other_account_id, world.account_id]):  # fmt: skip
        q = Query(accounts)
        expected = await store_body(store, key.plain, "orders", q, 500)
        assert await model_body(model, store, key.plain, "orders", q, 500) == expected
        items = json.loads(expected)["items"]
        mine = [i for i in items if i["account_id"] == world.account_id]
        assert mine
        assert all(i["strategy_id"] == 7 for i in mine)
