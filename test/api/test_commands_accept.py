"""POST /oms/commands acceptance (no worker running): validation, idempotency, permissions,
reservations, cancel of a queued send, risk limits, and what is written (or not)."""

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import OperationalError

from apps.oms.domain.risk import RiskLimits
from apps.oms.service import submit as submit_module
from apps.oms.store.tables import commands, orders, outbox, positions

from .conftest import World

pytestmark = pytest.mark.mysql
Api = tuple[httpx.AsyncClient, World]


def send(account_id: int, **payload: Any) -> dict[str, Any]:
    base = {
        "symbol": "BTC/USDT",
        "side": "buy",
        "order_type": "limit",
        "qty": "0.01",
        "price": "30000",
    }
    return {"account_id": account_id, "command": "send_order", "payload": {**base, **payload}}


async def post(client: httpx.AsyncClient, key: str, body: Any, **params: str) -> httpx.Response:
    return await client.post("/oms/commands", json=body, headers={"x-api-key": key}, params=params)


async def counts(world: World) -> tuple[int, int, int]:
    """Rows acceptance writes for the world's accounts: commands, orders, `order_accepted` events
    (a worker running elsewhere in the session may execute queued commands meanwhile; it never
    writes these)."""
    mine = [world.account_id, world.other_account_id]
    queries = [
        select(func.count()).select_from(commands).where(commands.c.account_id.in_(mine)),
        select(func.count()).select_from(orders).where(orders.c.account_id.in_(mine)),
        select(func.count())
        .select_from(outbox)
        .where(outbox.c.account_id.in_(mine), outbox.c.event == "order_accepted"),
    ]
    async with world.store.read() as conn:
        values = [int((await conn.execute(q)).scalar_one()) for q in queries]
    return values[0], values[1], values[2]


async def test_send_order_is_queued_with_order_and_event(api: Api) -> None:
    client, world = api
    before = await counts(world)
    response = await post(client, world.trader_key, send(world.account_id, comment="hello"))
    assert response.status_code == 200, response.text
    (item,) = response.json()["results"]
    assert item["ok"]
    assert item["status"] == "queued"
    assert item["error"] is None
    assert await counts(world) == (before[0] + 1, before[1] + 1, before[2] + 1)
    headers = {"x-api-key": world.trader_key}
    got = await client.get(f"/oms/orders/{item['order_id']}", headers=headers)
    assert got.status_code == 200, got.text
    order = got.json()["items"][0]
    assert order["status"] == "PENDING_SUBMIT"
    assert order["qty"] == "0.01"
    assert order["price"] == "30000"
    assert len(order["client_order_id"]) <= 32
    assert order["client_order_id"].isalnum()
    assert order["comment"] == "hello"
    assert order["reason"] == "api"
    command = (await client.get(f"/oms/commands/{item['command_id']}", headers=headers)).json()[
        "items"
    ][0]
    assert command["status"] == "queued"
    assert command["command_type"] == "send_order"
    assert command["payload"]["qty"] == "0.01"
    async with world.store.read() as conn:
        last = (
            (await conn.execute(select(outbox).order_by(outbox.c.id.desc()).limit(1)))
            .mappings()
            .one()
        )
    assert last["event"] == "order_accepted"
    assert last["payload"]["id"] == item["order_id"]


async def test_aliases_and_exact_json_numbers(api: Api) -> None:
    client, world = api
    raw = (
        '{"account_id": ACCOUNT, "command": "send_order", "payload": {"symbol": "ETH/USDT", "side": "sell",'
        ' "type": "limit", "amount": 0.1, "price": 3000.10, "stop_loss": 3100.5}}'
    ).replace("ACCOUNT", str(world.account_id))
    response = await client.post(
        "/oms/commands", content=raw, headers={"x-api-key": world.trader_key}
    )
    assert response.status_code == 200, response.text
    order_id = response.json()["results"][0]["order_id"]
    async with world.store.read() as conn:
        row = (await conn.execute(select(orders).where(orders.c.id == order_id))).mappings().one()
    assert row["qty"] == Decimal("0.1")
    assert row["price"] == Decimal("3000.1")
    assert row["order_type"] == "limit"
    assert row["stop_loss"] == Decimal("3100.5")


async def test_idempotency(api: Api) -> None:
    client, world = api
    body = {**send(world.account_id), "request_id": f"req-{id(client)}"}
    first = (await post(client, world.trader_key, body)).json()["results"][0]
    again = (await post(client, world.trader_key, body)).json()["results"][0]
    assert (again["command_id"], again["order_id"]) == (first["command_id"], first["order_id"])
    # aliases and decimal spelling do not change the content
    alias = {**body, "payload": {**body["payload"], "qty": "0.010", "type": "limit"}}
    alias["payload"].pop("order_type")
    assert (await post(client, world.trader_key, alias)).json()["results"][0][
        "command_id"
    ] == first["command_id"]
    changed = {**body, "payload": {**body["payload"], "price": "30001"}}
    response = await post(client, world.trader_key, changed)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    coid = f"c{id(client)}"[-20:]
    by_client = send(world.account_id, client_order_id=coid)
    one = (await post(client, world.trader_key, by_client)).json()["results"][0]
    two = (await post(client, world.trader_key, by_client)).json()["results"][0]
    assert one["order_id"] == two["order_id"]
    mixed = {**by_client, "request_id": body["request_id"]}
    assert (await post(client, world.trader_key, mixed)).status_code == 409


BAD_PAYLOADS = [
    {"qty": None},
    {"qty": "-1"},
    {"qty": "0"},
    {"qty": "NaN"},
    {"qty": "Infinity"},
    {"qty": "1" * 40},
    {"qty": "0.0000000000000000001"},
    {"qty": True},
    {"qty": [1]},
    {"price": "-5"},
    {"price": None},
    {"side": "hold"},
    {"symbol": "NOPE/USDT"},
    {"symbol": ""},
    {"bogus": 1},
    {"strategy_id": -1},
    {"strategy_id": "1"},
    {"position_id": 999999999},
    {"client_order_id": "has-dash"},
    {"client_order_id": "x" * 33},
    {"qty": "0.00001"},
    {"price": "30000.05"},
    {"oms_stop_loss": "31000"},
]


@pytest.mark.parametrize("change", BAD_PAYLOADS)
async def test_bad_send_order_is_4xx_and_writes_nothing(api: Api, change: dict[str, Any]) -> None:
    client, world = api
    body = send(world.account_id, **change)
    body["payload"] = {k: v for k, v in body["payload"].items() if v is not None}
    before = await counts(world)
    response = await post(client, world.trader_key, body)
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    assert error["code"] in {
        "validation_error",
        "unsupported_market",
        "invalid_qty",
        "invalid_price",
        "position_not_found",
    }
    assert error["details"]["results"][0]["ok"] is False
    assert await counts(world) == before


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"[]",
        b'"x"',
        b'{"account_id": 1}',
        b'{"account_id": 1, "command": "fly", "payload": {}}',
        b'{"account_id": 1, "command": "send_order", "payload": {"qty": NaN}}',
        b"[" + b"{}," * 600 + b"{}]",
    ],
)
async def test_malformed_envelopes(api: Api, raw: bytes) -> None:
    client, world = api
    before = await counts(world)
    response = await client.post(
        "/oms/commands", content=raw, headers={"x-api-key": world.trader_key}
    )
    assert response.status_code == 422, response.text
    assert await counts(world) == before


async def test_huge_body_is_413(api: Api) -> None:
    client, world = api
    body = send(world.account_id, comment="x" * 1_100_000)
    response = await post(client, world.trader_key, body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_permissions(api: Api) -> None:
    client, world = api
    cases = [
        (world.readonly_key, send(world.account_id), 403, "permission_denied"),
        (world.admin_key, send(world.account_id), 403, "admin_read_only"),
        (world.trader_key, send(world.other_account_id), 404, "account_not_found"),
        (world.restricted_key, send(world.account_id), 403, "strategy_permission_denied"),
        (world.restricted_key, send(world.account_id, strategy_id=7), 422, "invalid_strategy_id"),
        (world.disabled_key, send(world.account_id), 401, "invalid_api_key"),
    ]
    for key, body, status, code in cases:
        response = await post(client, key, body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), (
            response.text
        )


async def test_batch_mixed_is_207_and_all_failed_takes_first_status(api: Api) -> None:
    client, world = api
    good, bad = send(world.account_id), send(world.account_id, qty="-1")
    response = await post(client, world.trader_key, [good, bad])
    assert response.status_code == 207
    assert [r["ok"] for r in response.json()["results"]] == [True, False]
    response = await post(client, world.trader_key, [send(world.other_account_id), bad])
    assert response.status_code == 404
    assert len(response.json()["error"]["details"]["results"]) == 2


async def test_batch_is_one_transaction_of_independent_items(api: Api) -> None:
    """A batch is accepted in one transaction, each command in a savepoint: a later command
    sees what an earlier one reserved, a repeat of an earlier command's request_id answers with
    that command, and a refused command leaves no row and no event while the others stand."""
    client, world = api
    position_id = await _position(world, "0.05")
    close = {"account_id": world.account_id, "command": "close_position"}
    keyed = {**send(world.account_id), "request_id": f"batch-{id(client)}"}
    before = await counts(world)
    response = await post(client, world.trader_key, [
        close | {"payload": {"position_id": position_id, "qty": "0.02"}},  # reserves 0.02
        close | {"payload": {"position_id": position_id, "qty": "0.04"}},  # 0.03 left: refused
        keyed,
        send(world.account_id, qty="-1"),  # invalid: refused before acceptance
        keyed,  # the same request_id again: the third item's command
        close | {"payload": {"position_id": position_id, "qty": "0.03"}},  # the rest
    ])  # fmt: skip
    assert response.status_code == 207, response.text
    results = response.json()["results"]
    assert [r["ok"] for r in results] == [True, False, True, False, True, True]
    assert results[1]["error"]["code"] == "invalid_qty"
    assert results[4]["command_id"] == results[2]["command_id"]
    accepted = {r["command_id"] for r in results if r["ok"]}
    assert len(accepted) == 3
    after = await counts(world)
    assert after == (before[0] + 3, before[1] + 3, before[2] + 3)
    headers = {"x-api-key": world.trader_key}
    pos = (await client.get(f"/oms/positions/{position_id}", headers=headers)).json()["items"][0]
    assert (pos["state"], pos["pending_close_qty"]) == ("close_requested", "0.05")


async def test_batch_lost_to_a_deadlock_is_accepted_command_by_command(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server rolls a deadlocked transaction back whole: the list is then accepted command
    by command (nothing doubled, every command once); a lost connection is not retried."""
    client, world = api
    real = submit_module.accept_in
    calls = {"n": 0}

    async def deadlock_once(*args: Any, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # the second command of the list, after the first was written
            raise OperationalError("INSERT", {}, Exception(1213, "Deadlock found"))
        return await real(*args, **kw)

    monkeypatch.setattr(submit_module, "accept_in", deadlock_once)
    before = await counts(world)
    response = await post(client, world.trader_key, [send(world.account_id) for _ in range(3)])
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len({r["command_id"] for r in results}) == 3
    assert await counts(world) == (before[0] + 3, before[1] + 3, before[2] + 3)
    calls["n"] = 0

    async def connection_lost(*args: Any, **kw: Any) -> Any:
        raise OperationalError("INSERT", {}, Exception(2013, "Lost connection"))

    monkeypatch.setattr(submit_module, "accept_in", connection_lost)
    response = await post(client, world.trader_key, [send(world.account_id) for _ in range(2)])
    assert response.status_code >= 500
    assert await counts(world) == (before[0] + 3, before[1] + 3, before[2] + 3)


async def test_cancel_of_a_queued_send_happens_at_acceptance(api: Api) -> None:
    client, world = api
    item = (await post(client, world.trader_key, send(world.account_id))).json()["results"][0]
    cancel = {
        "account_id": world.account_id,
        "command": "cancel_order",
        "payload": {"order_ids": [item["order_id"]]},
    }
    response = await post(client, world.trader_key, cancel)
    assert response.status_code == 200
    assert response.json()["results"][0]["status"] == "completed"
    headers = {"x-api-key": world.trader_key}
    order = (await client.get(f"/oms/orders/{item['order_id']}", headers=headers)).json()["items"][
        0
    ]
    assert order["status"] == "CANCELED"
    command = (await client.get(f"/oms/commands/{item['command_id']}", headers=headers)).json()[
        "items"
    ][0]
    assert command["status"] == "canceled"
    again = await post(client, world.trader_key, cancel | {"request_id": "second"})
    assert again.json()["error"]["code"] == "invalid_order_state"


async def _position(world: World, qty: str, side: str = "buy", symbol: str = "BTC/USDT") -> int:
    now = datetime.now(UTC)
    async with world.store.transaction() as conn:
        result = await conn.execute(
            insert(positions).values(
                account_id=world.account_id,
                symbol=symbol,
                strategy_id=0,
                side=side,
                qty=Decimal(qty),
                avg_price=Decimal(30000),
                realized_pnl=Decimal(0),
                fee=Decimal(0),
                contract_size=Decimal(1),
                pending_close_qty=Decimal(0),
                state="open",
                is_open=True,
                reason="api",
                opened_at=now,
                updated_at=now,
            )
        )
        return int(result.inserted_primary_key[0])


async def test_close_position_reserves_and_refuses_oversize(api: Api) -> None:
    client, world = api
    position_id = await _position(world, "0.05")
    close = {
        "account_id": world.account_id,
        "command": "close_position",
        "payload": {"position_id": position_id},
    }
    too_big = await post(
        client, world.trader_key, close | {"payload": {"position_id": position_id, "qty": "0.06"}}
    )
    assert too_big.status_code == 422
    assert too_big.json()["error"]["code"] == "invalid_qty"
    part = await post(
        client, world.trader_key, close | {"payload": {"position_id": position_id, "qty": "0.02"}}
    )
    assert part.status_code == 200, part.text
    rest = await post(client, world.trader_key, close)
    assert rest.status_code == 200
    headers = {"x-api-key": world.trader_key}
    pos = (await client.get(f"/oms/positions/{position_id}", headers=headers)).json()["items"][0]
    assert pos["state"] == "close_requested"
    assert pos["pending_close_qty"] == "0.05"
    order = (
        await client.get(f"/oms/orders/{rest.json()['results'][0]['order_id']}", headers=headers)
    ).json()
    assert order["items"][0]["side"] == "sell"
    assert order["items"][0]["qty"] == "0.03"
    assert order["items"][0]["reduce_only"] is True
    refused = await post(client, world.trader_key, close)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "position_close_in_progress"
    # hedge: a reducing order beyond what is unreserved is refused too
    reduce = send(world.account_id, side="sell", position_id=position_id)
    assert (await post(client, world.trader_key, reduce)).json()["error"]["code"] == "invalid_qty"
    # cancelling the queued close releases its reservation
    cancel = {
        "account_id": world.account_id,
        "command": "cancel_order",
        "payload": {"order_id": part.json()["results"][0]["order_id"]},
    }
    assert (await post(client, world.trader_key, cancel)).status_code == 200
    pos = (await client.get(f"/oms/positions/{position_id}", headers=headers)).json()["items"][0]
    assert pos["pending_close_qty"] == "0.03"
    assert pos["state"] == "close_requested"


async def test_risk_limits_block_orders(api: Api) -> None:
    client, world = api
    headers = {"x-api-key": world.trader_key}
    put = await client.put(
        f"/oms/risk/{world.account_id}/limits",
        headers=headers,
        content=json.dumps({"max_order_qty": 0.5, "comment": "c"}),
    )
    assert put.status_code == 403  # traders may not set limits
    async with world.store.transaction() as conn:
        from apps.oms.store.risk import put_limits

        await put_limits(
            conn, world.account_id, 0, RiskLimits(max_order_qty=Decimal("0.5")), datetime.now(UTC)
        )
    limits = (await client.get(f"/oms/risk/{world.account_id}/limits", headers=headers)).json()
    assert limits["account"]["max_order_qty"] == "0.5"
    response = await post(client, world.trader_key, send(world.account_id, qty="0.6"))
    assert response.status_code == 409
    details = response.json()["error"]["details"]
    assert (details["rule"], details["limit"], details["value"]) == ("max_order_qty", "0.5", "0.6")
    async with world.store.transaction() as conn:
        await put_limits(conn, world.account_id, 0, RiskLimits(), datetime.now(UTC))


async def test_first_limits_of_a_scope_written_at_once_all_succeed(api: Api) -> None:
    """Eight first writes of one scope's limits at once. On MariaDB each found no row to update
    and inserted; all but the first met the unique key (an IntegrityError: a 500 to
    `PUT /oms/risk/{account_id}/limits`). Writers now queue on the account row. Last writer
    wins; an account that does not exist is a LookupError (the API's 404), nothing written."""
    from apps.oms.store.risk import get_limits, put_limits

    _client, world = api

    async def put(qty: str) -> None:
        async with world.store.transaction() as conn:
            limits = RiskLimits(max_order_qty=Decimal(qty))
            await put_limits(conn, world.other_account_id, 0, limits, datetime.now(UTC))

    await asyncio.gather(*(put(str(n)) for n in range(1, 9)))
    async with world.store.read() as conn:
        (only,) = (await get_limits(conn, world.other_account_id)).values()
    assert only.max_order_qty in {Decimal(n) for n in range(1, 9)}
    async with world.store.transaction() as conn:
        await put_limits(conn, world.other_account_id, 0, RiskLimits(), datetime.now(UTC))
    limits = RiskLimits(max_order_qty=Decimal(1))
    async with world.store.transaction() as conn:
        with pytest.raises(LookupError):
            await put_limits(conn, 10**9, 0, limits, datetime.now(UTC))
        assert await get_limits(conn, 10**9) == {}
