"""A batch's sends are held and written together (`acceptance.write_held`): one multi-row insert
of their commands, one of their orders and one update of the commands' order ids, whatever the
batch's size; ids in the batch's order; a later command that reads those rows (a cancel, a
repeat, a risk counter) sees them; a held send that loses its key to a concurrent command rolls
the batch back, and the batch is then accepted command by command."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from apps.oms.domain.risk import RiskLimits
from apps.oms.service import acceptance
from apps.oms.store.risk import put_limits
from apps.oms.store.tables import commands, orders, outbox

from .conftest import World
from .test_commands_accept import Api, _position, counts, post, send

pytestmark = pytest.mark.mysql
B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
WRITES = ("INSERT INTO commands", "INSERT INTO orders", "INSERT INTO outbox", "UPDATE commands")


@contextmanager
def statements(world: World) -> Iterator[list[str]]:
    """The SQL statements the store runs meanwhile (their first words)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(" ".join(sql.split()[:3]))

    with world.store.watching_statements(record):
        yield seen


def base36(n: int) -> str:
    digits = ""
    while True:
        n, r = divmod(n, 36)
        digits = B36[r] + digits
        if n == 0:
            return digits


async def test_a_batch_of_sends_costs_the_same_statements_at_any_size(api: Api) -> None:
    """Five and twenty sends write with the same statements (on MariaDB); each command names
    its order and the order its command, ids follow the batch's order, generated client order
    ids carry the command id, and each `order_accepted` event, in the batch's order, shows its
    order."""
    client, world = api
    counted = []
    for size in (5, 20):
        body = [send(world.account_id, price=str(30000 + i)) for i in range(size)]
        with statements(world) as seen:
            response = await post(client, world.trader_key, body)
        assert response.status_code == 200, response.text
        counted.append(seen)
        results = response.json()["results"]
        command_ids = [r["command_id"] for r in results]
        assert command_ids == sorted(command_ids)
        assert len(set(command_ids)) == size
        async with world.store.read() as conn:
            rows = {r["id"]: r for r in (await conn.execute(
                select(commands).where(commands.c.id.in_(command_ids)))).mappings()}  # fmt: skip
            placed = {r["command_id"]: r for r in (await conn.execute(
                select(orders).where(orders.c.command_id.in_(command_ids)))).mappings()}  # fmt: skip
            accepted = [r["payload"] for r in (await conn.execute(
                select(outbox).where(outbox.c.event == "order_accepted",
                                     outbox.c.account_id == world.account_id)
                .order_by(outbox.c.id.desc()).limit(size))).mappings()][::-1]  # fmt: skip
        for i, result in enumerate(results):
            command, order = rows[result["command_id"]], placed[result["command_id"]]
            assert command["order_id"] == order["id"] == result["order_id"]
            assert (command["status"], order["status"]) == ("queued", "PENDING_SUBMIT")
            assert order["price"] == Decimal(30000 + i)
            assert order["client_order_id"].startswith("o" + base36(command["id"]))
            assert accepted[i]["id"] == order["id"]
            assert accepted[i]["client_order_id"] == order["client_order_id"]
            assert accepted[i]["price"] == str(30000 + i)
    writes = [sorted(s for s in seen if s.startswith(WRITES)) for seen in counted]
    if world.store.engine.dialect.name == "mysql":  # one multi-row statement each
        assert writes[0] == writes[1] == [*WRITES[:2], "INSERT INTO outbox", "UPDATE commands SET"]
    else:  # SQLite cannot promise RETURNING's row order: SQLAlchemy inserts row by row there
        assert writes[1].count("INSERT INTO commands") == writes[1].count("INSERT INTO orders") == 20


async def test_a_command_after_sends_is_queued_after_them(api: Api) -> None:
    """A command that is not a send writes its row as it is accepted, so the sends held before
    it are written first: the queue (command ids) keeps the batch's order, and the worker
    cancels the two sends before `cancel_all_orders`, not the one after it."""
    client, world = api
    sol = {"symbol": "SOL/USDT", "qty": "1", "price": "100"}
    body = [
        send(world.account_id, **sol),
        send(world.account_id, **sol),
        {"account_id": world.account_id, "command": "cancel_all_orders",
         "payload": {"symbol": "SOL/USDT"}},
        send(world.account_id, **sol),
    ]  # fmt: skip
    response = await post(client, world.trader_key, body)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["queued"] * 4
    command_ids = [r["command_id"] for r in results]
    assert command_ids == sorted(command_ids)
    assert len(set(command_ids)) == 4
    async with world.store.read() as conn:
        stored = dict((await conn.execute(
            select(commands.c.id, commands.c.order_id).where(commands.c.id.in_(command_ids))
        )).all())  # fmt: skip
    assert [stored[c] for c in command_ids] == [r["order_id"] for r in results]
    assert results[2]["order_id"] is None


async def test_open_order_limits_count_the_sends_held_before(api: Api) -> None:
    """With `max_open_orders_per_symbol`, each send's counter includes the batch's earlier
    sends: room for two more orders lets two of three through."""
    client, world = api
    symbol = "ETH/USDT:USDT"
    query = select(func.count()).select_from(orders).where(
        orders.c.account_id == world.account_id, orders.c.symbol == symbol, orders.c.is_open
    )
    async with world.store.read() as conn:
        open_now = int((await conn.execute(query)).scalar_one())
    async with world.store.transaction() as conn:
        limits = RiskLimits(max_open_orders_per_symbol=open_now + 2)
        await put_limits(conn, world.account_id, 0, limits, datetime.now(UTC))
    try:
        body = [send(world.account_id, symbol=symbol, qty="0.01", price="3000") for _ in range(3)]
        response = await post(client, world.trader_key, body)
    finally:
        async with world.store.transaction() as conn:
            await put_limits(conn, world.account_id, 0, RiskLimits(),
                             datetime.now(UTC))  # fmt: skip
    assert response.status_code == 207, response.text
    results = response.json()["results"]
    assert [r["ok"] for r in results] == [True, True, False]
    assert results[2]["error"]["details"]["rule"] == "max_open_orders_per_symbol"


@pytest.mark.parametrize("then_cancel", [False, True])
async def test_a_held_send_that_lost_its_key_is_accepted_again_alone(
    api: Api, monkeypatch: pytest.MonkeyPatch, then_cancel: bool
) -> None:
    """The repeat lookup misses once, as when a concurrent request commits the same request id
    after it: the write of the held sends meets the unique key (at the end of the list, or
    before a later command that is not a send) and the list rolls back whole, to be accepted
    command by command; the repeat then answers with the first command, nothing is written
    twice, and no command is lost (the later command's own handling never takes the held
    sends' failure for its own race)."""
    client, world = api
    keyed = {**send(world.account_id), "request_id": f"held-{id(client)}-{then_cancel}"}
    first = (await post(client, world.trader_key, keyed)).json()["results"][0]
    real = acceptance.existing_result
    calls = {"n": 0}

    async def miss_once(*args: Any, **kw: Any) -> Any:
        calls["n"] += 1
        return None if calls["n"] == 2 else await real(*args, **kw)

    monkeypatch.setattr(acceptance, "existing_result", miss_once)
    cancel = {"account_id": world.account_id, "command": "cancel_all_orders",
              "payload": {"symbol": "SOL/USDT"}}  # fmt: skip
    body = [send(world.account_id), keyed, *([cancel] if then_cancel else [])]
    before = await counts(world)
    response = await post(client, world.trader_key, body)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert results[1]["command_id"] == first["command_id"]
    assert results[1]["order_id"] == first["order_id"]
    assert results[0]["command_id"] > first["command_id"]
    assert [r["status"] for r in results] == ["queued"] * len(body)
    assert calls["n"] == 2 + len(body)  # the list up to the failed write, then each alone
    if then_cancel:
        assert results[2]["command_id"] > results[0]["command_id"]
    assert await counts(world) == (before[0] + len(body) - 1, before[1] + 1, before[2] + 1)


@pytest.mark.parametrize("close_first", [True, False])
async def test_closes_and_sends_in_one_list_keep_every_field(api: Api, close_first: bool) -> None:
    """A close's order has fewer fields than a send's; held together, each order row is still
    stored with its own values (a multi-row insert takes every row's keys from the first)."""
    client, world = api
    position_id = await _position(world, "0.05")
    close = {"account_id": world.account_id, "command": "close_position",
             "payload": {"position_id": position_id, "qty": "0.01"}}  # fmt: skip
    # a limit at 30,000: its targets are checked against its own price, not the market's
    targeted = send(world.account_id, oms_stop_loss="29000", oms_stop_gain="31000",
                    trigger_price="29500")  # fmt: skip
    body = [close, targeted] if close_first else [targeted, close]
    response = await post(client, world.trader_key, body)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    async with world.store.read() as conn:
        stored = {r["id"]: r for r in (await conn.execute(select(orders).where(
            orders.c.id.in_([r["order_id"] for r in results])))).mappings()}  # fmt: skip
    sent = stored[results[1 if close_first else 0]["order_id"]]
    closing = stored[results[0 if close_first else 1]["order_id"]]
    assert (sent["stop_loss"], sent["stop_gain"]) == (Decimal(29000), Decimal(31000))
    assert sent["trigger_price"] == Decimal(29500)
    assert (closing["position_id"], closing["reduce_only"]) == (position_id, True)
    assert (closing["stop_loss"], closing["trigger_price"]) == (None, None)
