"""Pre-trade controls of issue 53 through the real app on SQLite and MariaDB, at their edges:
the price collar, limits per API key, the duplicate-order window, the maximum of open orders and
the command rate (per key and per account, shared by API processes and kept over a restart).
Each refusal is 409 `risk_blocked` (429 for the rate) with the rule, the scope, the limit and the value, and
writes nothing. Time is the acceptance clock, injected (`FakeClock`): no wall-clock waits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import ccxt
import httpx
import pytest
from sqlalchemy import func, select

from apps.api.app import create_app
from apps.oms.config import load_settings
from apps.oms.domain.access import AccountFlags, Role
from apps.oms.service import acceptance
from apps.oms.store.store import Store
from apps.oms.store.tables import command_rates, commands, orders
from ccxt_driver import RiskBlocked
from ccxt_driver.errors import exception_for
from test.api.conftest import PEPPER, World
from test.api.identity_helpers import audit_rows, new_account, new_key

pytestmark = pytest.mark.mysql
Api = tuple[httpx.AsyncClient, World]
RISK = AccountFlags(can_risk_manage=True)
TRADE = AccountFlags(can_trade=True, can_close_position=True)
SYMBOL = "SOL/USDT:USDT"  # tick 0.001, step 0.01; the suite keeps it at its default 150


class FakeClock:
    """The acceptance clock (`acceptance.utcnow`), moved by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 8, 0, 5, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClock]:
    fake = FakeClock()
    monkeypatch.setattr(acceptance, "utcnow", fake)
    return fake


def h(key: str) -> dict[str, str]:
    return {"x-api-key": key}


def send(account_id: int, **extra: Any) -> dict[str, Any]:
    payload = {"symbol": SYMBOL, "side": "buy", "order_type": "limit", "qty": "1",
               "price": "140", **extra}  # fmt: skip
    return {"account_id": account_id, "command": "send_order", "payload": payload}


async def written(store: Store, account_id: int) -> tuple[int, int]:
    """(commands, orders) of the account in the store."""
    async with store.read() as conn:
        n_commands = (await conn.execute(select(func.count()).select_from(commands).where(
            commands.c.account_id == account_id))).scalar_one()  # fmt: skip
        n_orders = (await conn.execute(select(func.count()).select_from(orders).where(
            orders.c.account_id == account_id))).scalar_one()  # fmt: skip
    return int(n_commands), int(n_orders)


class Desk:
    """A fresh paper account, a risk officer and two traders on it."""

    def __init__(self, client: httpx.AsyncClient, world: World) -> None:
        self.client, self.store = client, world.store
        self.account = 0
        self.risk = self.trader = self.other = ""
        self.trader_id = self.other_id = 0

    async def setup(self) -> Desk:
        self.account = await new_account(self.store)
        _, _, self.risk = await new_key(self.store, Role.RISK, {self.account: RISK})
        _, self.trader_id, self.trader = await new_key(self.store, Role.TRADER,
                                                       {self.account: TRADE})  # fmt: skip
        _, self.other_id, self.other = await new_key(self.store, Role.TRADER,
                                                     {self.account: TRADE})  # fmt: skip
        price = await self.client.post("/paper/prices", json={"symbol": SYMBOL, "price": "150"},
                                       headers=h(self.trader))  # fmt: skip
        assert price.status_code == 200, price.text
        return self

    async def limits(self, status: int = 200, **values: Any) -> httpx.Response:
        body = {"comment": "issue 53", **values}
        response = await self.client.put(f"/oms/risk/{self.account}/limits", json=body,
                                         headers=h(self.risk))  # fmt: skip
        assert response.status_code == status, response.text
        return response

    async def send(self, key: str | None = None, **extra: Any) -> httpx.Response:
        return await self.client.post("/oms/commands", json=send(self.account, **extra),
                                      headers=h(key or self.trader))  # fmt: skip

    async def refused(self, rule: str, scope: str, limit: str, value: str | None,
                      key: str | None = None, status: int = 409, **extra: Any
                      ) -> dict[str, Any]:  # fmt: skip
        """Send, expect the refusal, and that nothing was written."""
        before = await written(self.store, self.account)
        response = await self.send(key, **extra)
        assert response.status_code == status, response.text
        error = response.json()["error"]
        code = "rate_limited" if status == 429 else "risk_blocked"
        assert (error["code"], error["details"]["rule"], error["details"]["scope"],
                error["details"]["limit"]) == (code, rule, scope, limit), error  # fmt: skip
        if value is not None:
            assert error["details"]["value"] == value, error
        assert error["trace_id"]
        assert await written(self.store, self.account) == before
        return dict(error)

    async def ok(self, key: str | None = None, **extra: Any) -> dict[str, Any]:
        response = await self.send(key, **extra)
        assert response.status_code == 200, response.text
        return dict(response.json()["results"][0])


async def test_price_collar_at_its_edges(api: Api, clock: FakeClock) -> None:
    client, world = api
    desk = await Desk(client, world).setup()
    await desk.limits(price_collar_bps=100)
    await desk.ok(price="151.5")  # buy exactly 100 bps through the last price: allowed
    error = await desk.refused("price_collar", "account", "100", "110", price="151.65")
    assert error["details"]["reference_price"] == "150"
    assert "151.65" in error["details"]["price"]
    assert "price_collar" in error["message"]
    await desk.refused("price_collar", "account", "100", "100.07", price="151.501")
    await desk.ok(side="sell", price="148.5")
    await desk.refused("price_collar", "account", "100", "100.07", side="sell", price="148.499")
    await desk.ok(price="100")  # a bid far below the market is not through the book
    await desk.ok(order_type="market", price=None)  # no price to collar
    # a symbol's own collar wins over the default
    await desk.limits(price_collar_bps=100, price_collar_symbols={SYMBOL: 10})
    await desk.refused("price_collar", "account", "10", "13.33", price="150.2")
    await desk.ok(price="150.15")
    # the strategy scope and the key scope collar too
    await desk.limits(price_collar_bps=500)
    await desk.limits(api_key_id=desk.trader_id, price_collar_bps=5)
    await desk.refused("price_collar", "key", "5", "6.67", price="150.1")
    await desk.ok(desk.other, price="150.1")
    got = (await client.get(f"/oms/risk/{desk.account}/limits", headers=h(desk.risk))).json()
    assert got["account"]["price_collar_bps"] == 500
    assert got["keys"] == {str(desk.trader_id): {**dict.fromkeys(got["account"]),
                                                 "price_collar_bps": 5}}


async def test_a_changed_price_meets_the_collar(api: Api, clock: FakeClock) -> None:
    client, world = api
    desk = await Desk(client, world).setup()
    order_id = (await desk.ok(price="140"))["order_id"]
    await desk.limits(api_key_id=desk.trader_id, price_collar_bps=100)

    async def change(price: str) -> httpx.Response:
        body = {"account_id": desk.account, "command": "change_order",
                "payload": {"order_id": order_id, "new_price": price}}
        return await client.post("/oms/commands", json=body, headers=h(desk.trader))

    refused = await change("152")
    assert refused.status_code == 409, refused.text
    details = refused.json()["error"]["details"]
    assert (details["rule"], details["scope"], details["limit"], details["value"]) == (
        "price_collar", "key", "100", "133.33")
    assert (await change("151.5")).status_code == 200


async def test_a_limit_close_meets_the_collar(api: Api, clock: FakeClock) -> None:
    from test.api.test_kill_switch import open_position

    client, world = api
    desk = await Desk(client, world).setup()
    position_id = await open_position(world, desk.account)
    await desk.limits(price_collar_bps=100)

    async def close(price: str) -> httpx.Response:
        body = {"account_id": desk.account, "command": "close_position",
                "payload": {"position_id": position_id, "order_type": "limit", "price": price}}
        return await client.post("/oms/commands", json=body, headers=h(desk.trader))

    refused = await close("148")  # a sell 133 bps below the last price
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["details"]["rule"] == "price_collar"
    assert (await close("148.5")).status_code == 200


async def test_a_key_has_limits_of_its_own(api: Api, clock: FakeClock) -> None:
    client, world = api
    desk = await Desk(client, world).setup()
    await desk.limits(api_key_id=desk.trader_id, max_order_qty="2", max_order_notional="400")
    await desk.ok(qty="2")
    await desk.refused("max_order_qty", "key", "2", "2.01", qty="2.01")
    await desk.ok(desk.other, qty="2.01")  # another key is not limited by it
    await desk.refused("max_order_notional", "key", "400", "420", qty="2", price="210",
                       order_type="limit")  # fmt: skip
    # what a key's scope cannot hold, and keys without a grant here
    for bad in ({"max_open_positions": 1}, {"daily_loss_limit": "10"},
                {"max_position_notional": "1"}, {"strategy_id": 3, "max_order_qty": "1"}):
        await desk.limits(422, api_key_id=desk.trader_id, **bad)
    # a strategy's commands are counted through its keys: its own rate would be stored and
    # never enforced, so it is refused
    refused = await desk.limits(422, strategy_id=3, max_commands_per_minute=5)
    assert refused.json()["error"]["details"]["field"] == "max_commands_per_minute"
    _, stranger, _ = await new_key(world.store, Role.TRADER, {})
    await desk.limits(404, api_key_id=stranger, max_order_qty="1")
    rows = await audit_rows(world.store, target_type="account", target_id=str(desk.account), action="set_risk_limits")
    assert [r["after"].get("api_key_id") for r in rows] == [desk.trader_id]
    # a trader may not set limits, its own included
    put = await client.put(f"/oms/risk/{desk.account}/limits", headers=h(desk.trader),
                           json={"comment": "mine", "api_key_id": desk.trader_id})
    assert put.status_code == 403


async def test_duplicate_order_window(api: Api, clock: FakeClock) -> None:
    client, world = api
    desk = await Desk(client, world).setup()
    await desk.limits(api_key_id=desk.trader_id, duplicate_window_ms=500)
    await desk.ok()
    clock.advance(milliseconds=499)
    await desk.refused("duplicate_order", "key", "500", "499")
    await desk.ok(desk.other)  # the same order from another key
    await desk.ok(price="140.001")  # another price
    await desk.ok(qty="2")  # another quantity
    await desk.ok(side="sell", price="160")  # another side
    clock.advance(milliseconds=1)
    await desk.ok()  # 500 ms later: no longer within the window
    # the account's window applies to each key's own orders
    await desk.limits(duplicate_window_ms=1000)
    clock.advance(milliseconds=999)
    await desk.refused("duplicate_order", "account", "1000", "999")
    await desk.ok(desk.other)
    # a batch's earlier send counts
    batch = [send(desk.account, price="141") for _ in range(2)]
    response = await client.post("/oms/commands", json=batch, headers=h(desk.trader))
    assert response.status_code == 207, response.text
    results = response.json()["results"]
    assert [r["ok"] for r in results] == [True, False]
    assert results[1]["error"]["details"]["rule"] == "duplicate_order"


async def test_max_open_orders(api: Api, clock: FakeClock) -> None:
    client, world = api
    desk = await Desk(client, world).setup()
    await desk.limits(max_open_orders=2)
    await desk.ok()
    await desk.ok(symbol="SOL/USDT", price="140")
    await desk.refused("max_open_orders", "account", "2", "2", price="139")
    await desk.limits(max_open_orders=3)
    await desk.limits(api_key_id=desk.trader_id, max_open_orders=2)
    await desk.refused("max_open_orders", "key", "2", "2", price="139")
    await desk.ok(desk.other, price="139")
    await desk.refused("max_open_orders", "account", "3", "3", desk.other, price="138")
    await desk.limits(api_key_id=desk.trader_id, max_open_orders_per_symbol=1)
    await desk.refused("max_open_orders_per_symbol", "key", "1", "1", price="137")
    # a strategy's own cap and collar
    made = await client.post("/strategies", json={"name": "grid", "account_ids": [desk.account]},
                             headers=h(desk.other))  # fmt: skip
    strategy = made.json()["strategy_id"]
    await desk.limits(max_open_orders=10)
    await desk.limits(strategy_id=strategy, max_open_orders=1, price_collar_bps=20)
    await desk.refused("price_collar", "strategy", "20", "26.67", desk.other, price="150.4",
                       strategy_id=strategy)  # fmt: skip
    await desk.ok(desk.other, price="136", strategy_id=strategy)
    await desk.refused("max_open_orders", "strategy", "1", "1", desk.other, price="135",
                       strategy_id=strategy)  # fmt: skip
    await desk.ok(desk.other, price="150.4")  # outside the strategy


async def test_command_rate_per_key_and_account(api: Api, clock: FakeClock) -> None:
    client, world = api
    desk = await Desk(client, world).setup()
    await desk.limits(api_key_id=desk.trader_id, max_commands_per_minute=3, max_order_qty="5")
    await desk.refused("max_order_qty", "key", "5", "6", qty="6")  # refusals count nothing
    for n in range(3):
        await desk.ok(price=str(130 + n))
    clock.advance(seconds=10)  # 08:00:15
    response = await desk.send(price="134")
    assert response.status_code == 429, response.text
    assert response.headers["Retry-After"] == "45"
    error = await desk.refused("max_commands_per_minute", "key", "3", "4", status=429)
    assert error["details"]["retry_after_seconds"] == 45
    await desk.ok(desk.other, price="135")  # the other key has its own count
    cancel = {"account_id": desk.account, "command": "cancel_all_orders", "payload": {}}
    refused = await client.post("/oms/commands", json=cancel, headers=h(desk.trader))
    assert refused.status_code == 429  # every command counts, not only orders
    clock.advance(seconds=45)  # the next minute
    await desk.ok(price="136")
    # the account's rate counts every key's commands (from when it is set)
    await desk.limits(max_commands_per_minute=3)
    for n in range(3):
        await desk.ok(desk.other, price=str(137 + n))
    await desk.refused("max_commands_per_minute", "account", "3", "4", desk.other, status=429)
    await desk.refused("max_commands_per_minute", "account", "3", "4", status=429)
    # a batch: the counted command refused in it counts nothing, the others stand
    clock.advance(minutes=1)
    batch = [send(desk.account, price="139"), send(desk.account, qty="9"),
             send(desk.account, price="138"), send(desk.account, price="137"),
             send(desk.account, price="136")]  # fmt: skip
    response = await client.post("/oms/commands", json=batch, headers=h(desk.trader))
    results = response.json()["results"]
    assert [(r["error"] or {}).get("details", {}).get("rule") for r in results] == [
        None, "max_order_qty", None, None, "max_commands_per_minute"]


async def test_command_rate_holds_across_api_processes_and_a_restart(
    api: Api, clock: FakeClock, store_url: str
) -> None:
    client, world = api
    desk = await Desk(client, world).setup()
    await desk.limits(max_commands_per_minute=4)
    await desk.ok(price="130")
    settings = load_settings(database={"url": store_url}, security={"api_key_pepper": PEPPER})
    for n in range(2):  # two more API processes over the same store, the second a "restart"
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://b") as second:
                answer = await second.post("/oms/commands", json=send(desk.account,
                                           price=str(131 + n)), headers=h(desk.trader))
                assert answer.status_code == 200, answer.text
    await desk.ok(price="133")
    await desk.refused("max_commands_per_minute", "account", "4", "5", status=429)
    async with world.store.read() as conn:
        counted = (await conn.execute(select(command_rates.c.n).where(
            command_rates.c.account_id == desk.account))).scalars().all()  # fmt: skip
    assert counted == [4]


async def test_refusals_reach_a_bot_as_ccxt_errors(api: Api, clock: FakeClock) -> None:
    """Through the `/ccxt` gateway, as the driver maps the answers: InvalidOrder (RiskBlocked)
    for the order controls, RateLimitExceeded for the rate."""
    client, world = api
    desk = await Desk(client, world).setup()
    await desk.limits(price_collar_bps=50, max_commands_per_minute=1)
    path = f"/ccxt/{desk.account}/create_order"
    body = {"args": [SYMBOL, "limit", "buy", "1", "160"]}
    collared = await client.post(path, json=body, headers=h(desk.trader))
    assert collared.status_code == 409, collared.text
    error = exception_for(collared.status_code, collared.json(), order=True)
    assert isinstance(error, RiskBlocked)
    assert isinstance(error, ccxt.InvalidOrder)
    assert getattr(error, "details", {})["rule"] == "price_collar"
    await desk.ok(price="150")  # the minute's one command (no worker here to wait for)
    body = {"args": [SYMBOL, "limit", "buy", "1", "150"]}
    limited = await client.post(path, json=body, headers=h(desk.trader))
    assert limited.status_code == 429, limited.text
    assert limited.headers["Retry-After"] == "55"
    error = exception_for(429, limited.json(), order=True)
    assert isinstance(error, ccxt.RateLimitExceeded)
    assert getattr(error, "details", {})["rule"] == "max_commands_per_minute"
