"""Property (issue 53): random orders from several keys, with random limits per account and per
key and at times a tripped loss breaker on the account (reduce-only or halted), against a small
independent model of the pre-trade controls: the gateway refuses exactly what the model
refuses, with the same status, rule and scope, and accepts the rest.

`OMS_RISK_PROPERTY_EXAMPLES` sets the number of examples (default 20, each up to 20 commands;
500 makes the issue's 10,000 commands, a few minutes)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from apps.oms.domain.access import Role
from apps.oms.service import acceptance
from apps.oms.store.tables import loss_breakers
from test.api.conftest import World
from test.api.identity_helpers import new_account, new_key
from test.api.test_pretrade_controls import RISK, SYMBOL, TRADE, FakeClock, h

pytestmark = pytest.mark.mysql
EXAMPLES = int(os.environ.get("OMS_RISK_PROPERTY_EXAMPLES", "20"))
REFERENCE = Decimal(150)
KEYS = 3


@dataclass(frozen=True)
class Limits:
    max_order_qty: Decimal | None
    price_collar_bps: int | None
    duplicate_window_ms: int | None
    max_open_orders: int | None
    max_commands_per_minute: int | None

    def body(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Decimal) else v)
                for k, v in self.__dict__.items() if v is not None}  # fmt: skip


@dataclass(frozen=True)
class Order:
    key: int
    side: str
    qty: Decimal
    price: Decimal | None
    after_ms: int  # the clock moves this much before it is sent


limits_st = st.builds(
    Limits,
    st.sampled_from([None, Decimal(1), Decimal(2)]),
    st.sampled_from([None, 50, 100]),
    st.sampled_from([None, 200, 1000]),
    st.sampled_from([None, 2, 4]),
    st.sampled_from([None, 3, 5]),
)
order_st = st.builds(
    Order,
    st.integers(0, KEYS - 1),
    st.sampled_from(["buy", "sell"]),
    st.sampled_from([Decimal(1), Decimal(2), Decimal(3)]),
    st.sampled_from([None, Decimal(140), Decimal(150), Decimal("151.5"), Decimal(152),
                     Decimal(148), Decimal("148.5")]),
    st.sampled_from([0, 0, 150, 600, 20_000]),
)


@dataclass
class Model:
    """What the controls should decide, written from the rules' definitions only."""

    account: Limits
    keys: list[Limits | None]
    breaker: str | None = None  # the account's tripped loss breaker: reduce_only | halted
    sent: list[tuple[int, Order, datetime]] = field(default_factory=list)  # accepted orders
    counted: dict[tuple[int | None, datetime], int] = field(default_factory=dict)

    def decide(self, o: Order, now: datetime) -> tuple[int, str | None, str | None]:
        """(status, rule, scope) of the order; 200 when accepted (and remembered). Every order
        opens (the account holds nothing): a halted account refuses it before anything else
        is counted, a reduce-only one after the order's own rules."""
        if self.breaker == "halted":
            return 409, "loss_breaker", "account"
        minute = now.replace(second=0, microsecond=0)
        scopes: list[tuple[str, int | None, Limits]] = [("account", None, self.account)]
        if (own := self.keys[o.key]) is not None:
            scopes.append(("key", o.key, own))
        for name, key, lim in scopes:  # the command rate comes first
            rate = lim.max_commands_per_minute
            if rate is not None and self.counted.get((key, minute), 0) >= rate:
                return 429, "max_commands_per_minute", name
        for name, _key, lim in scopes:
            if lim.max_order_qty is not None and o.qty > lim.max_order_qty:
                return 409, "max_order_qty", name
        for name, key, lim in scopes:
            if (rule := self._controls(o, now, key, lim)) is not None:
                return 409, rule, name
        if self.breaker == "reduce_only":
            return 409, "loss_breaker", "account"
        self.sent.append((o.key, o, now))
        for key in (None, o.key):
            self.counted[(key, minute)] = self.counted.get((key, minute), 0) + 1
        return 200, None, None

    def _controls(self, o: Order, now: datetime, key: int | None, lim: Limits) -> str | None:
        bps = lim.price_collar_bps
        if bps is not None and o.price is not None:
            through = o.price - REFERENCE if o.side == "buy" else REFERENCE - o.price
            if through / REFERENCE * 10_000 > bps:
                return "price_collar"
        window = lim.duplicate_window_ms
        if window is not None:
            for k, prior, at in self.sent:
                if (k == o.key and (prior.side, prior.qty, prior.price) == (o.side, o.qty, o.price)
                        and now - at < timedelta(milliseconds=window)):
                    return "duplicate_order"
        cap = lim.max_open_orders
        if cap is not None:
            mine = [s for s in self.sent if key is None or s[0] == key]
            if len(mine) >= cap:
                return "max_open_orders"
        return None


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(account=limits_st, keys=st.lists(st.one_of(st.none(), limits_st), min_size=KEYS,
                                        max_size=KEYS),
       orders=st.lists(order_st, min_size=1, max_size=20),
       breaker=st.sampled_from([None, None, "reduce_only", "halted"]))  # fmt: skip
async def test_the_gateway_refuses_what_the_model_refuses(
    api: tuple[httpx.AsyncClient, World], monkeypatch: pytest.MonkeyPatch,
    account: Limits, keys: list[Limits | None], orders: list[Order], breaker: str | None,
) -> None:  # fmt: skip
    client, world = api
    clock = FakeClock()
    monkeypatch.setattr(acceptance, "utcnow", clock)
    acct = await new_account(world.store)
    _, _, risk = await new_key(world.store, Role.RISK, {acct: RISK})
    made = [await new_key(world.store, Role.TRADER, {acct: TRADE}) for _ in range(KEYS)]
    price = await client.post("/paper/prices", json={"symbol": SYMBOL, "price": "150"},
                              headers=h(made[0][2]))  # fmt: skip
    assert price.status_code == 200, price.text
    for scope, lim in [(None, account), *((made[i][1], k) for i, k in enumerate(keys))]:
        if lim is None:
            continue
        body = {"comment": "property", **lim.body(),
                **({"api_key_id": scope} if scope is not None else {})}
        put = await client.put(f"/oms/risk/{acct}/limits", json=body, headers=h(risk))
        assert put.status_code == 200, put.text
    if breaker is not None:  # tripped by the worker's watch before these orders came
        async with world.store.transaction() as conn:
            await conn.execute(insert(loss_breakers).values(
                account_id=acct, strategy_id=0, day=clock.now.date().isoformat(),
                state=breaker, rule="loss_breaker", limit_value=Decimal(100),
                value=Decimal(100), tripped_at=clock.now, version=1,
                updated_at=clock.now))  # fmt: skip
    model = Model(account, keys, breaker)
    for n, order in enumerate(orders):
        clock.advance(milliseconds=order.after_ms)
        payload = {"symbol": SYMBOL, "side": order.side, "qty": str(order.qty),
                   "order_type": "market" if order.price is None else "limit",
                   **({"price": str(order.price)} if order.price is not None else {})}
        response = await client.post(
            "/oms/commands", headers=h(made[order.key][2]),
            json={"account_id": acct, "command": "send_order", "payload": payload})
        details = response.json().get("error", {}).get("details", {})
        got = (response.status_code, details.get("rule"), details.get("scope"))
        assert got == model.decide(order, clock.now), (n, order, response.text)


def test_the_model_counts_a_minute_as_the_clock_does() -> None:
    """The model's minute is the UTC calendar minute the gateway counts in."""
    model = Model(Limits(None, None, None, None, 1), [None] * KEYS)
    start = datetime(2026, 11, 27, 8, 0, 59, 999_000, tzinfo=UTC)
    order = Order(0, "buy", Decimal(1), None, 0)
    assert model.decide(order, start)[0] == 200
    assert model.decide(order, start + timedelta(microseconds=500))[0] == 429
    assert model.decide(order, start + timedelta(milliseconds=1))[0] == 200
