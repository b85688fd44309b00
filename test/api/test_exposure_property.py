"""Property (issue 53): random resting orders from two users whose keys trade overlapping
accounts, with random gross and net exposure limits per user, against a small independent
model of the credit limit: the gateway refuses exactly what the model refuses, with the same
rule, and accepts the rest.

`OMS_RISK_PROPERTY_EXAMPLES` sets the number of examples (default 20, each up to 20 commands)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.oms.domain.access import AccountFlags, Role
from test.api.conftest import World
from test.api.identity_helpers import new_account, new_key

pytestmark = pytest.mark.mysql
EXAMPLES = int(os.environ.get("OMS_RISK_PROPERTY_EXAMPLES", "20"))
SYMBOLS = ("SOL/USDT:USDT", "ETH/USDT:USDT")
TRADE = AccountFlags(can_trade=True)
RISK = AccountFlags(can_risk_manage=True)
# user 0 trades accounts 0 and 1, user 1 trades accounts 1 and 2: account 1 is shared
TRADED = ((0, 1), (1, 2))


@dataclass(frozen=True)
class Order:
    user: int
    pick: int  # which of the user's accounts
    symbol: str
    side: str
    qty: Decimal
    price: Decimal


LIMIT = st.sampled_from([None, Decimal(300), Decimal(500), Decimal(800)])
order_st = st.builds(Order, st.integers(0, 1), st.integers(0, 1), st.sampled_from(SYMBOLS),
                     st.sampled_from(["buy", "sell"]),
                     st.sampled_from([Decimal(1), Decimal(2)]),
                     st.sampled_from([Decimal(100), Decimal(150), Decimal("150.5")]))  # fmt: skip


@dataclass
class Model:
    """The credit limit from its definition: every working order of the accounts a user's keys
    trade counts, whoever sent it."""

    limits: list[tuple[Decimal | None, Decimal | None]]
    working: list[tuple[int, str, Decimal]] = field(default_factory=list)  # account, symbol, ±

    def decide(self, o: Order) -> str | None:
        account = TRADED[o.user][o.pick]
        mine = [w for w in self.working if w[0] in TRADED[o.user]]
        signed = o.qty * o.price * (1 if o.side == "buy" else -1)
        gross = sum(abs(w[2]) for w in mine) + abs(signed)
        before = sum(w[2] for w in mine if w[1] == o.symbol)
        net = before + signed
        max_gross, max_net = self.limits[o.user]
        if max_gross is not None and gross > max_gross:
            return "gross_exposure"
        if max_net is not None and abs(net) > max_net and abs(net) > abs(before):
            return "net_exposure"
        self.working.append((account, o.symbol, signed))
        return None


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(limits=st.lists(st.tuples(LIMIT, LIMIT), min_size=2, max_size=2),
       orders=st.lists(order_st, min_size=1, max_size=20))
async def test_the_gateway_refuses_what_the_exposure_model_refuses(
    api: tuple[httpx.AsyncClient, World], limits: list[tuple[Decimal | None, Decimal | None]],
    orders: list[Order],
) -> None:  # fmt: skip
    client, world = api
    accounts = [await new_account(world.store) for _ in range(3)]
    _, _, risk = await new_key(world.store, Role.RISK, dict.fromkeys(accounts, RISK))
    users = [await new_key(world.store, Role.TRADER, {accounts[a]: TRADE for a in TRADED[u]})
             for u in range(2)]  # fmt: skip
    for (user_id, _, _), (gross, net) in zip(users, limits, strict=True):
        body = {"comment": "property", "max_gross_exposure": None if gross is None else str(gross),
                "max_net_exposure": None if net is None else str(net)}
        put = await client.put(f"/oms/risk/users/{user_id}/exposure", json=body,
                               headers={"x-api-key": risk})  # fmt: skip
        assert put.status_code == 200, put.text
    model = Model(limits)
    for n, o in enumerate(orders):
        payload = {"symbol": o.symbol, "side": o.side, "qty": str(o.qty), "order_type": "limit",
                   "price": str(o.price)}
        response = await client.post("/oms/commands", headers={"x-api-key": users[o.user][2]},
                                     json={"account_id": accounts[TRADED[o.user][o.pick]],
                                           "command": "send_order", "payload": payload})
        details = response.json().get("error", {}).get("details", {})
        expected = model.decide(o)
        assert response.status_code == (200 if expected is None else 409), (n, o, response.text)
        assert details.get("rule") == expected, (n, o, response.text)
