"""Gross and net exposure across a user's accounts (issue 53, the credit limit) through the
real app on SQLite and MariaDB: limits set by the risk role on the user, positions and working
orders of every account the user's keys trade counted, refusals 409 `risk_blocked` with the
rule, the limit and the value, closing orders never refused, and one read per batch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from apps.oms.domain.access import AccountFlags, Role
from test.api.conftest import World
from test.api.identity_helpers import audit_rows, new_account, new_key
from test.api.test_kill_switch import h, open_position, post, send

pytestmark = pytest.mark.mysql
Api = tuple[httpx.AsyncClient, World]
RISK = AccountFlags(can_risk_manage=True, can_close_position=True)
TRADE = AccountFlags(can_trade=True, can_close_position=True)


async def desk(client: httpx.AsyncClient, world: World) -> tuple[list[int], int, str, str]:
    """Two fresh paper accounts at 150, a trader (user id, key) on both, a risk key."""
    ids = [await new_account(world.store) for _ in range(2)]
    _, _, risk = await new_key(world.store, Role.RISK, dict.fromkeys(ids, RISK))
    user, _, trader = await new_key(world.store, Role.TRADER, dict.fromkeys(ids, TRADE))
    moved = await client.post("/paper/prices", json={"symbol": "SOL/USDT:USDT", "price": "150"},
                              headers=h(trader))  # fmt: skip
    assert moved.status_code == 200, moved.text
    return ids, user, trader, risk


async def set_limits(client: httpx.AsyncClient, risk: str, user: int, **body: Any
                     ) -> httpx.Response:  # fmt: skip
    return await client.put(f"/oms/risk/users/{user}/exposure", headers=h(risk),
                            json={"comment": "credit line", **body})  # fmt: skip


@contextmanager
def exposure_reads(world: World) -> Iterator[list[str]]:
    """The statements that read a user's exposure (a UNION ALL of positions and orders)."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "UNION ALL" in statement and "positions" in statement:
            seen.append(statement)

    engine = world.store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def rule(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 409, response.text
    details: dict[str, Any] = response.json()["error"]["details"]
    return details


async def test_gross_and_net_exposure_hold_across_the_users_accounts(api: Api) -> None:
    client, world = api
    (a, b), user, trader, risk = await desk(client, world)
    done = await set_limits(client, risk, user, max_gross_exposure="1000",
                            max_net_exposure="600")  # fmt: skip
    assert done.status_code == 200, done.text
    assert (done.json()["accounts"], done.json()["max_net_exposure"]) == ([a, b], "600")
    [row] = await audit_rows(world.store, target_type="user", action="set_exposure_limits", target_id=str(user))
    assert row["comment"] == "credit line"
    own = await client.get(f"/oms/risk/users/{user}/exposure", headers=h(trader))
    assert own.json()["max_gross_exposure"] == "1000"  # the user reads their own
    position = await open_position(world, a)  # 1 long at 150: 150 gross and net
    assert (await post(client, trader, send(b, "150", qty="2"))).status_code == 200  # 450
    assert (await post(client, trader, send(a, "150"))).status_code == 200  # net 600: the limit
    details = rule(await post(client, trader, send(a, "150", qty="0.01")))
    assert {k: details[k] for k in ("rule", "scope", "limit", "value", "symbol")} == {
        "rule": "net_exposure", "scope": "user", "limit": "600", "value": "601.5",
        "symbol": "SOL/USDT:USDT"}  # fmt: skip
    # a sell brings the net back but adds to the gross: 600 + 450 > 1000
    details = rule(await post(client, trader, send(b, "150", qty="3", side="sell")))
    assert (details["rule"], details["limit"], details["value"]) == (
        "gross_exposure", "1000", "1050")
    assert (await post(client, trader, send(b, "150", qty="2", side="sell"))).status_code == 200
    # closing orders are never refused: a reduce-only close of the position
    close = send(a, "150", qty="1", side="sell", reduce_only=True, position_id=position)
    assert (await post(client, trader, close)).status_code == 200


async def test_a_batch_reads_the_exposure_once_and_its_orders_count_each_other(api: Api) -> None:
    client, world = api
    (a, b), user, trader, risk = await desk(client, world)
    assert (await set_limits(client, risk, user, max_gross_exposure="600")).status_code == 200
    batch = [send(a, "150"), send(b, "150"), send(a, "150"), send(b, "150"), send(a, "150")]
    with exposure_reads(world) as reads:
        response = await post(client, trader, batch)
    assert len(reads) == 1, reads
    results = response.json()["results"]
    assert [r["ok"] for r in results] == [True, True, True, True, False]
    assert results[4]["error"]["details"]["rule"] == "gross_exposure"
    assert results[4]["error"]["details"]["value"] == "750"
    with exposure_reads(world) as reads:  # a batch of closes and cancels reads nothing
        cancel = {"account_id": a, "command": "cancel_all_orders", "payload": {}}
        assert (await post(client, trader, [cancel])).status_code == 200
    assert reads == []


async def test_only_the_risk_role_sets_a_users_limits(api: Api) -> None:
    client, world = api
    (a, _b), user, trader, risk = await desk(client, world)
    assert (await set_limits(client, trader, user, max_gross_exposure="1")).status_code == 403
    _, _, partial = await new_key(world.store, Role.RISK, {a: RISK})  # not on the second account
    assert (await set_limits(client, partial, user, max_gross_exposure="1")).status_code == 404
    bad = await set_limits(client, risk, user, max_gross_exposure="-1")
    assert bad.status_code == 422
    assert (await client.put(f"/oms/risk/users/{user}/exposure", headers=h(risk),
                             json={"max_gross_exposure": "1"})).status_code == 422  # no reason
    other, _, _ = await new_key(world.store, Role.TRADER, {a: TRADE})
    assert (await client.get(f"/oms/risk/users/{other}/exposure", headers=h(trader))
            ).status_code == 403  # another user's: the risk role's  # fmt: skip
    # no limits: nothing is read, nothing refused
    with exposure_reads(world) as reads:
        assert (await post(client, trader, send(a, "150", qty="100"))).status_code == 200
    assert reads == []


async def test_a_change_that_raises_a_working_order_meets_the_limits(api: Api) -> None:
    client, world = api
    (a, _b), user, trader, risk = await desk(client, world)
    assert (await set_limits(client, risk, user, max_gross_exposure="600")).status_code == 200
    working = await post(client, trader, send(a, "150", qty="2"))  # 300
    assert working.status_code == 200, working.text
    order_id = working.json()["results"][0]["order_id"]

    def change(**to: str) -> dict[str, Any]:
        return {"account_id": a, "command": "change_order",
                "payload": {"order_id": order_id, **to}}  # fmt: skip

    assert (await post(client, trader, change(new_qty="4"))).status_code == 200  # 600: the limit
    details = rule(await post(client, trader, change(new_qty="4", new_price="150.5")))
    assert (details["rule"], details["limit"], details["value"]) == (
        "gross_exposure", "600", "602")
    # judged against the order as it is now, not as the change queued before would make it:
    # shrinking always passes, even under a lowered limit
    assert (await set_limits(client, risk, user, max_gross_exposure="100")).status_code == 200
    assert (await post(client, trader, change(new_qty="1"))).status_code == 200
    assert (await post(client, trader, change(new_price="140"))).status_code == 200
    assert rule(await post(client, trader, change(new_qty="3")))["rule"] == "gross_exposure"


async def test_positions_count_at_the_mark_not_at_their_entry(api: Api) -> None:
    client, world = api
    (a, _b), user, trader, risk = await desk(client, world)
    await open_position(world, a)  # 1 long at 150
    assert (await set_limits(client, risk, user, max_gross_exposure="500")).status_code == 200
    moved = await client.post("/paper/prices", json={"symbol": "SOL/USDT:USDT", "price": "300"},
                              headers=h(trader))  # fmt: skip
    assert moved.status_code == 200, moved.text
    # the position counts 300 (its mark), not 150 (its entry): 300 + 150 = 450 passes,
    # 450 + 100 = 550 does not (at entry it would be 400)
    assert (await post(client, trader, send(a, "150"))).status_code == 200
    details = rule(await post(client, trader, send(a, "100")))
    assert (details["rule"], details["value"]) == ("gross_exposure", "550")
