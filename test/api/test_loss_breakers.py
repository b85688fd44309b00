"""Loss breakers (issue 53) through the real app on SQLite and MariaDB: limits set by the risk
role, the worker's watch (`service/breakers.watch`, called here as the worker's housekeeping
calls it) trips them on the books and the paper marks, the trip is announced on the `risk`
namespace and audited, acceptance refuses what opens (reduce-only) or everything but cancels
(halted) with 409 and the rule, in every API process, until the risk role lifts it."""

from __future__ import annotations

from typing import Any

import ccxt
import httpx
import pytest

from apps.api.app import create_app
from apps.oms.config import load_settings
from apps.oms.domain.access import AccountFlags, Role
from apps.oms.service import breakers
from ccxt_driver import RiskBlocked
from ccxt_driver.errors import exception_for
from test.api.conftest import PEPPER, World
from test.api.identity_helpers import audit_rows, events, new_account, new_key
from test.api.test_kill_switch import SYMBOL, h, open_position, post, send

pytestmark = pytest.mark.mysql
Api = tuple[httpx.AsyncClient, World]
RISK = AccountFlags(can_risk_manage=True, can_block_account=True, can_close_position=True)
TRADE = AccountFlags(can_trade=True, can_close_position=True)


async def desk(client: httpx.AsyncClient, world: World) -> tuple[int, str, str]:
    """A fresh paper account at 150, a risk key and a trader key on it."""
    acct = await new_account(world.store)
    _, _, risk = await new_key(world.store, Role.RISK, {acct: RISK})
    _, _, trader = await new_key(world.store, Role.TRADER, {acct: TRADE})
    await price(client, trader, "150")
    return acct, risk, trader


async def price(client: httpx.AsyncClient, key: str, value: str) -> None:
    moved = await client.post("/paper/prices", json={"symbol": SYMBOL, "price": value},
                              headers=h(key))  # fmt: skip
    assert moved.status_code == 200, moved.text


async def limits(client: httpx.AsyncClient, risk: str, acct: int, **body: Any) -> None:
    done = await client.put(f"/oms/risk/{acct}/limits", headers=h(risk),
                            json={"comment": "breakers", **body})  # fmt: skip
    assert done.status_code == 200, done.text


async def watch(world: World, acct: int) -> int:
    breakers.WATCH_LIST.clear()  # the limits were just set
    return await breakers.watch(world.store, acct, "paper")


def rule_of(response: httpx.Response) -> str:
    assert response.status_code == 409, response.text
    return str(response.json()["error"]["details"]["rule"])


def tripped(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["payload"] for e in found if e["event"] == "loss_breaker_tripped"]


async def test_the_loss_breaker_makes_the_account_reduce_only_until_lifted(api: Api) -> None:
    client, world = api
    acct, risk, trader = await desk(client, world)
    await limits(client, risk, acct, loss_breaker="20")
    got = (await client.get(f"/oms/risk/{acct}/limits", headers=h(risk))).json()
    assert (got["account"]["loss_breaker"], got["account"]["breaker_action"]) == ("20", None)
    position = await open_position(world, acct)  # 1 long at 150
    assert await watch(world, acct) == 0
    await price(client, trader, "130.000001")  # 19.999999 down: not yet
    assert await watch(world, acct) == 0
    working = await post(client, trader, send(acct, "129", qty="2"))
    assert working.status_code == 200, working.text
    order_id = working.json()["results"][0]["order_id"]
    await price(client, trader, "130")  # 20 down: the limit
    assert await watch(world, acct) == 1
    assert await watch(world, acct) == 0  # once
    [event] = tripped(await events(world.store, acct, "risk"))
    assert {k: event[k] for k in ("strategy_id", "state", "rule", "limit", "value", "equity")} == {
        "strategy_id": 0, "state": "reduce_only", "rule": "loss_breaker", "limit": "20",
        "value": "20", "equity": "-20"}  # fmt: skip
    assert event["changed_by"] is None
    [row] = await audit_rows(world.store, target_type="account", action="risk_loss_breaker", target_id=str(acct))
    assert row["after"]["rule"] == "loss_breaker"
    # what opens is refused with the rule, the limit and the value; what closes passes
    refused = await post(client, trader, send(acct, "129"))
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "risk_blocked"
    assert {k: error["details"][k] for k in ("rule", "scope", "state", "limit", "value")} == {
        "rule": "loss_breaker", "scope": "account", "state": "reduce_only", "limit": "20",
        "value": "20"}  # fmt: skip
    # a bot through the `/ccxt` gateway gets CCXT's InvalidOrder (the driver's RiskBlocked)
    ccxt_refused = await client.post(f"/ccxt/{acct}/create_order", headers=h(trader),
                                     json={"args": [SYMBOL, "limit", "buy", "1", "129"]})
    assert ccxt_refused.status_code == 409, ccxt_refused.text
    error_class = exception_for(409, ccxt_refused.json(), order=True)
    assert isinstance(error_class, RiskBlocked)
    assert isinstance(error_class, ccxt.InvalidOrder)
    assert getattr(error_class, "details", {})["rule"] == "loss_breaker"
    close = send(acct, "131", side="sell", reduce_only=True, position_id=position)
    close["payload"]["side"] = "sell"
    assert (await post(client, trader, close)).status_code == 200
    # a working opening order may shrink, not grow
    def change(qty: str) -> dict[str, Any]:
        return {"account_id": acct, "command": "change_order",
                "payload": {"order_id": order_id, "new_qty": qty}}

    assert rule_of(await post(client, trader, change("3"))) == "loss_breaker"
    assert (await post(client, trader, change("1"))).status_code == 200
    cancel_all = {"account_id": acct, "command": "cancel_all_orders", "payload": {}}
    assert (await post(client, trader, cancel_all)).status_code == 200
    shown = (await client.get(f"/oms/risk/{acct}/breakers", headers=h(trader))).json()
    assert [(b["strategy_id"], b["state"], b["rule"]) for b in shown["items"]] == [
        (0, "reduce_only", "loss_breaker")]
    # only the risk role lifts it; a lift re-arms from the equity of the next look
    lift = {"comment": "reviewed with the desk"}
    assert (await client.post(f"/oms/risk/{acct}/breakers/lift", headers=h(trader), json=lift)
            ).status_code == 403  # fmt: skip
    assert (await client.post(f"/oms/risk/{acct}/breakers/lift", headers=h(risk), json={})
            ).status_code == 422  # the reason is mandatory  # fmt: skip
    lifted = await client.post(f"/oms/risk/{acct}/breakers/lift", headers=h(risk), json=lift)
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["breaker"]["state"] == "armed"
    assert (await client.post(f"/oms/risk/{acct}/breakers/lift", headers=h(risk), json=lift)
            ).status_code == 404  # fmt: skip
    [gone] = [e["payload"] for e in await events(world.store, acct, "risk")
              if e["event"] == "loss_breaker_lifted"]  # fmt: skip
    assert (gone["state"], gone["rule"], gone["comment"]) == ("armed", "loss_breaker", lift["comment"])
    [lift_row] = await audit_rows(world.store, action="risk_loss_breaker_lift",
                                  target_type="account", target_id=str(acct))  # fmt: skip
    assert lift_row["comment"] == lift["comment"]
    assert (await post(client, trader, send(acct, "128"))).status_code == 200
    assert await watch(world, acct) == 0  # re-armed at -20
    await price(client, trader, "111")  # 19 more down
    assert await watch(world, acct) == 0
    await price(client, trader, "110")
    assert await watch(world, acct) == 1


async def test_a_strategys_drawdown_breaker_halts_it_in_every_api_process(
    api: Api, store_url: str
) -> None:
    client, world = api
    acct, risk, trader = await desk(client, world)
    made = await client.post("/strategies", json={"name": "grid", "account_ids": [acct]},
                             headers=h(trader))  # fmt: skip
    strategy = made.json()["strategy_id"]
    await limits(client, risk, acct, strategy_id=strategy, drawdown_breaker="10",
                 breaker_action="halted")  # fmt: skip
    ours = await open_position(world, acct, strategy)
    await open_position(world, acct)  # the account's own: not the strategy's equity
    assert await watch(world, acct) == 0
    await price(client, trader, "170")  # the day's peak: +20
    assert await watch(world, acct) == 0
    await price(client, trader, "160.5")  # 9.5 down from the peak, still +10.5 on the day
    assert await watch(world, acct) == 0
    await price(client, trader, "160")
    assert await watch(world, acct) == 1
    [event] = tripped(await events(world.store, acct, "risk"))
    assert (event["strategy_id"], event["state"], event["rule"], event["value"],
            event["peak_equity"]) == (strategy, "halted", "drawdown_breaker", "10", "20")
    settings = load_settings(database={"url": store_url}, security={"api_key_pepper": PEPPER})
    app = create_app(settings)  # another API process, started after the trip
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as second:
            for session in (client, second):
                refused = await post(session, trader, send(acct, "150", strategy_id=strategy))
                assert refused.status_code == 409, refused.text
                details = refused.json()["error"]["details"]
                assert (details["rule"], details["scope"], details["state"]) == (
                    "drawdown_breaker", "strategy", "halted")
            # halted: even its closes wait for the risk role; cancels pass; others trade on
            close = {"account_id": acct, "command": "close_position",
                     "payload": {"position_id": ours}}  # fmt: skip
            assert (await post(second, trader, close)).json()["error"]["details"]["rule"] == (
                "drawdown_breaker")
            assert (await post(second, risk, close)).status_code == 200
            cancel = {"account_id": acct, "command": "cancel_all_orders",
                      "payload": {"strategy_ids": [strategy]}}  # fmt: skip
            assert (await post(second, trader, cancel)).status_code == 200
            assert (await post(second, trader, send(acct, "150"))).status_code == 200
            lifted = await second.post(f"/oms/risk/{acct}/breakers/lift", headers=h(risk),
                                       json={"strategy_id": strategy, "comment": "ok"})
            assert lifted.status_code == 200, lifted.text
    assert (await post(client, trader, send(acct, "150", strategy_id=strategy))
            ).status_code == 200  # fmt: skip


async def test_breaker_limits_are_the_risk_roles_and_not_a_keys(api: Api) -> None:
    client, world = api
    acct, risk, trader = await desk(client, world)
    body = {"comment": "x", "loss_breaker": "10"}
    assert (await client.put(f"/oms/risk/{acct}/limits", headers=h(trader), json=body)
            ).status_code == 403  # fmt: skip
    bad = await client.put(f"/oms/risk/{acct}/limits", headers=h(risk),
                           json={**body, "breaker_action": "flatten"})  # fmt: skip
    assert bad.status_code == 422
    _, key_id, _ = await new_key(world.store, Role.TRADER, {acct: TRADE})
    keyed = await client.put(f"/oms/risk/{acct}/limits", headers=h(risk),
                             json={**body, "api_key_id": key_id})  # fmt: skip
    assert keyed.status_code == 422
    assert keyed.json()["error"]["details"]["field"] == "loss_breaker"
    # an account without breaker limits is not watched: nothing is written
    assert await watch(world, acct) == 0
    shown = await client.get(f"/oms/risk/{acct}/breakers", headers=h(risk))
    assert shown.json()["items"] == []
