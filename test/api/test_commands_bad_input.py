"""S3 for every command: each field wrong (type, missing, negative, zero, NaN, Infinity,
40 digits, unknown symbol, other accounts' ids) gets a clear 4xx with the right code and writes
nothing."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from apps.oms.store.tables import positions

from .conftest import World
from .test_commands_accept import counts, post, send

pytestmark = pytest.mark.mysql
Api = tuple[httpx.AsyncClient, World]
BAD_DECIMALS = [
    "-1",
    "0",
    "NaN",
    "Infinity",
    "-Infinity",
    "1" * 40,
    "0." + "1" * 19,
    True,
    [],
    {},
    "abc",
]
BAD_IDS = [-1, 0, "1", 1.5, True, None, [], 2**63]


async def _position(world: World, account_id: int, side: str = "buy") -> int:
    now = datetime.now(UTC)
    async with world.store.transaction() as conn:
        result = await conn.execute(
            insert(positions).values(
                account_id=account_id,
                symbol="BTC/USDT",
                strategy_id=0,
                side=side,
                qty=Decimal("0.05"),
                avg_price=Decimal(30000),
                state="open",
                is_open=True,
                opened_at=now,
                updated_at=now,
            )
        )
        return int(result.inserted_primary_key[0])


def variants(base: dict[str, Any], decimals: list[str], ids: list[str]) -> list[dict[str, Any]]:
    out = [{**base, "bogus": 1}]
    for name in decimals:
        out += [{**base, name: value} for value in BAD_DECIMALS]
    for name in ids:
        out += [{**base, name: value} for value in BAD_IDS]
        out.append({k: v for k, v in base.items() if k != name})
    return out


async def _cases(world: World) -> list[tuple[str, dict[str, Any], set[int], set[str]]]:
    mine_long = await _position(world, world.account_id)
    mine_short = await _position(world, world.account_id, "sell")
    theirs = await _position(world, world.other_account_id)
    order = await _their_order(world)
    v422 = {422}
    cases: list[tuple[str, dict[str, Any], set[int], set[str]]] = []
    for payload in variants(
        {"position_id": mine_long, "qty": "0.01"}, ["qty", "price"], ["position_id"]
    ):
        cases.append(("close_position", payload, v422, {"validation_error"}))
    for payload in variants(
        {"position_id_a": mine_long, "position_id_b": mine_short, "qty": "0.01"},
        ["qty"],
        ["position_id_a", "position_id_b"],
    ):
        cases.append(("close_by", payload, v422, {"validation_error"}))
    for payload in variants(
        {"source_position_id": mine_long, "target_position_id": mine_short},
        ["oms_stop_loss"],
        ["source_position_id", "target_position_id"],
    ):
        cases.append(("merge_positions", payload, v422, {"validation_error"}))
    for payload in variants(
        {"position_id": mine_long, "comment": "x"},
        ["oms_stop_loss", "oms_stop_gain"],
        ["position_id"],
    ):
        cases.append(("position_change", payload, v422, {"validation_error"}))
    for payload in variants(
        {"order_id": order, "new_price": "30000"}, ["new_price", "new_qty"], ["order_id"]
    ):
        cases.append(("change_order", payload, {404, 422}, {"validation_error", "order_not_found"}))
    for payload in [{"order_id": v} for v in BAD_IDS if v is not None] + [
        {},
        {"order_ids_csv": "1,x"},
    ]:
        cases.append(("cancel_order", payload, v422, {"validation_error"}))
    cases += [
        ("cancel_all_orders", {"symbol": 5}, v422, {"validation_error"}),
        ("cancel_all_orders", {"strategy_ids": ["a"]}, v422, {"validation_error"}),
        ("cancel_all_orders", {"strategy_ids_csv": "1,b"}, v422, {"validation_error"}),
        # other accounts' objects: never visible, never touched
        ("close_position", {"position_id": theirs}, {404}, {"position_not_found"}),
        (
            "close_by",
            {"position_id_a": mine_long, "position_id_b": theirs},
            {404},
            {"position_not_found"},
        ),
        (
            "merge_positions",
            {"source_position_id": theirs, "target_position_id": mine_long},
            {404},
            {"position_not_found"},
        ),
        ("position_change", {"position_id": theirs, "comment": "x"}, {404}, {"position_not_found"}),
        ("cancel_order", {"order_id": order}, {404}, {"order_not_found"}),
        ("change_order", {"order_id": order, "new_price": "1"}, {404}, {"order_not_found"}),
        ("close_position", {"position_id": mine_long, "qty": "1"}, {422}, {"invalid_qty"}),
        (
            "close_by",
            {"position_id_a": mine_long, "position_id_b": mine_long},
            {422},
            {"invalid_position_id"},
        ),
    ]
    return cases


async def _their_order(world: World) -> int:
    """An order of an account the trader key cannot see (written straight to the store)."""
    from apps.oms.store.tables import orders

    now = datetime.now(UTC)
    async with world.store.transaction() as conn:
        result = await conn.execute(
            insert(orders).values(
                account_id=world.other_account_id,
                client_order_id=f"theirs{now.timestamp():.0f}{id(now)}"[:32],
                symbol="BTC/USDT",
                side="buy",
                order_type="limit",
                qty=Decimal(1),
                price=Decimal(1),
                status="SUBMITTED",
                is_open=True,
                created_at=now,
                updated_at=now,
            )
        )
        return int(result.inserted_primary_key[0])


async def test_every_command_refuses_bad_fields_and_writes_nothing(api: Api) -> None:
    client, world = api
    cases = await _cases(world)
    assert len(cases) > 150
    before = await counts(world)
    for command, payload, statuses, codes in cases:
        body = {"account_id": world.account_id, "command": command, "payload": payload}
        response = await post(client, world.trader_key, body)
        assert response.status_code in statuses, (command, payload, response.text)
        error = response.json()["error"]
        assert error["code"] in codes, (command, payload, error)
        assert error["message"]
    assert await counts(world) == before


@pytest.mark.parametrize("field", ["account_id", "command", "payload"])
async def test_envelope_fields(api: Api, field: str) -> None:
    client, world = api
    before = await counts(world)
    for value in [None, "x", -1, 0, [], 1.5]:
        body = {**send(world.account_id), field: value}
        response = await post(client, world.trader_key, body)
        assert response.status_code == 422, (field, value, response.text)
    missing = {k: v for k, v in send(world.account_id).items() if k != field}
    assert (await post(client, world.trader_key, missing)).status_code == 422
    assert await counts(world) == before


async def test_a_bad_item_of_a_list_body_is_named_by_its_place(api: Api) -> None:
    client, world = api
    response = await post(client, world.trader_key, [1, 2])
    assert response.status_code == 422, response.text
    results = response.json()["error"]["details"]["results"]
    assert [r["error"]["message"].split(":")[0] for r in results] == ["body[0]", "body[1]"]
    assert results[0]["error"]["message"].startswith("body[0]: Input should be a valid dict")
    response = await post(client, world.trader_key, [send(world.account_id, qty="-1")])
    assert response.json()["error"]["message"].startswith("body[0].payload.qty: "), response.text
    response = await post(client, world.trader_key, 7)
    assert response.json()["error"]["message"].startswith("body: "), response.text
    response = await post(client, world.trader_key, send(world.account_id, qty="-1"))
    assert response.json()["error"]["message"].startswith("payload.qty: "), response.text


async def _closed_position(world: World) -> int:
    position_id = await _position(world, world.account_id)
    async with world.store.transaction() as conn:
        await conn.execute(positions.update().where(positions.c.id == position_id)
                           .values(state="closed", is_open=False, qty=Decimal(0)))
    return position_id


async def test_one_vocabulary_for_missing_and_closed_positions(api: Api) -> None:
    """Every command that acts on positions: an id that names no position is 404
    `position_not_found`, a closed one 422 `invalid_position_id` with its state."""
    client, world = api
    acct = world.account_id
    missing = 2**62
    closed = await _closed_position(world)
    long_ = await _position(world, acct, "buy")
    short = await _position(world, acct, "sell")

    def payloads(named: int) -> list[tuple[str, dict[str, Any]]]:
        return [
            ("close_position", {"position_id": named}),
            ("close_by", {"position_id_a": named, "position_id_b": short}),
            ("close_by", {"position_id_a": long_, "position_id_b": named}),
            ("merge_positions", {"source_position_id": named, "target_position_id": long_}),
            ("merge_positions", {"source_position_id": long_, "target_position_id": named}),
            ("position_change", {"position_id": named, "comment": "x"}),
        ]

    before = await counts(world)
    for named, status, code in ((missing, 404, "position_not_found"),
                                (closed, 422, "invalid_position_id")):
        for command, payload in payloads(named):
            body = {"account_id": acct, "command": command, "payload": payload}
            response = await post(client, world.trader_key, body)
            assert response.status_code == status, (command, payload, response.text)
            error = response.json()["error"]
            assert error["code"] == code, (command, error)
            if named == closed:
                assert error["message"] == f"position {closed} is closed", error
                assert error["details"]["state"] == "closed", error
    assert await counts(world) == before
