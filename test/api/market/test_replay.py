"""Replay of the bundled sample through HTTP and a worker gives the same fills on every run.

Resting limits are placed at 50,000 (the sample's first price), then the replay is started
through `PUT /paper/price-source` at full speed with `at_end: stop`. The worker matches every
paper account against the path the prices took (`apply_path`), not only against the price it
happens to see, so levels that only a candle's extreme touches fill too, however fast the replay
runs. The expected fills follow from the sample alone; the replay runs twice and both runs give
exactly them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from apps.paper.domain.prices import parse_replay
from apps.paper.exchange.feeds import SAMPLE_REPLAY
from test.api.market.conftest import Market, eventually

D = Decimal
BTC = "BTC/USDT"
BUYS = ("49950", "49800", "49400", "49300")  # 49400: only a candle's low reaches it
SELLS = ("50100", "50200", "50300")  # 50200: only a candle's high reaches it


def expected_fills() -> list[tuple[str, Decimal]]:
    prices = [t.price for t in parse_replay(SAMPLE_REPLAY.read_text(encoding="utf-8"), BTC)]
    low, high = min(prices), max(prices)
    assert (D("49400") >= low, D("49300") < low, D("50200") <= high, D("50300") > high) == (
        True, True, True, True)  # the levels mean what the comments say
    return sorted([("buy", D(p)) for p in BUYS if D(p) >= low]
                  + [("sell", D(p)) for p in SELLS if D(p) <= high])  # fmt: skip


async def command(market: Market, name: str, **payload: Any) -> dict[str, Any]:
    async with market.client() as http:
        resp = await http.post("/oms/commands", params={"wait": "completed"}, json={
            "account_id": market.account_id, "command": name, "payload": payload})
    assert resp.status_code == 200, resp.text
    (item,) = resp.json()["results"]
    assert item["ok"], item
    return dict(item)


async def orders(market: Market, ids: list[int]) -> list[dict[str, Any]]:
    async with market.client() as http:
        resp = await http.get(f"/oms/orders/{','.join(map(str, ids))}",
                              params={"account_ids": market.account_id})  # fmt: skip
    assert resp.status_code == 200, resp.text
    return list(resp.json()["items"])


async def run_replay(market: Market) -> list[tuple[str, Decimal]]:
    """Place the ladder at 50,000, replay the sample once, return the fills (side, price)."""
    async with market.client() as http:
        resp = await http.post("/paper/prices", json={"symbol": BTC, "price": "50000"})
        assert resp.status_code == 200, resp.text
    await command(market, "send_order", symbol=BTC, side="buy", order_type="market",
                  qty="0.03")  # the coins the sell limits offer
    ids = [(await command(market, "send_order", symbol=BTC, side=side, order_type="limit",
                          qty="0.01", price=price))["order_id"]
           for side, levels in (("buy", BUYS), ("sell", SELLS)) for price in levels]  # fmt: skip
    async with market.client(market.admin_key) as http:
        resp = await http.put("/paper/price-source", json={
            "source": f"replay:{SAMPLE_REPLAY}", "speed": "1000000", "at_end": "stop"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["chosen_by"] == "api"
    want = expected_fills()
    seen: list[Any] = []

    async def done() -> list[tuple[str, Decimal]] | None:
        async with market.client() as http:
            resp = await http.get("/paper/prices")
            listed = await http.get(f"/oms/orders/{','.join(map(str, ids))}",
                                    params={"account_ids": market.account_id})  # fmt: skip
        if 503 in (resp.status_code, listed.status_code):
            return None  # store_unavailable (a busy SQLite file, Retry-After): ask again
        assert resp.status_code == 200, resp.text
        assert listed.status_code == 200, listed.text
        source = resp.json()["source"]
        got = sorted((o["side"], D(o["price"])) for o in listed.json()["items"]
                     if o["status"] == "FILLED")  # fmt: skip
        seen[:] = [source, got]
        return got if source["state"] == "ended" and got == want else None

    fills = await eventually(done, "the replay to end and its fills to be booked", detail=seen)
    for order in await orders(market, ids):  # what the path never reached is still resting
        if order["status"] != "FILLED":
            assert order["status"] == "SUBMITTED", order
            await command(market, "cancel_order", order_id=order["id"])
    return list(fills)


@pytest.mark.timeout(1800)  # the safety net only: two full replays on a loaded machine
async def test_replay_gives_the_same_fills_every_run(manual_market: Market) -> None:
    first = await run_replay(manual_market)
    second = await run_replay(manual_market)  # choosing the replay again starts it over
    assert first == second == expected_fills()
    assert len(first) == 5
