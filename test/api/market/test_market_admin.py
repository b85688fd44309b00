"""Operating the paper market over HTTP with no restart: switching the price source (and back to
the configured one), a paper account's own spread and depth, and clear refusals of bad input."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from typing import Any

from test.api.market.conftest import Market, eventually

D = Decimal


async def source(market: Market) -> dict[str, Any]:
    async with market.client() as http:
        body: dict[str, Any] = (await http.get("/paper/prices", params={"symbols": "SOL/USDT"})
                                ).json()  # fmt: skip
    return body


async def test_switching_the_source_needs_no_restart(manual_market: Market) -> None:
    m = manual_market
    assert (await eventually(lambda: _state(m, "manual"), "the configured manual source"))
    async with m.client(m.admin_key) as http:
        chosen = await http.put("/paper/price-source", json={"source": "random_walk"})
    assert chosen.status_code == 200, chosen.text
    assert (chosen.json()["source"], chosen.json()["chosen_by"]) == ("random_walk", "api")
    before = (await source(m))["items"][0]["seq"]

    async def walking() -> bool:
        now = await source(m)
        return now["source"]["state"] == "running" and now["items"][0]["seq"] > before + 3

    await eventually(walking, "the random walk chosen through the API to move prices")
    async with m.client(m.admin_key) as http:
        back = await http.put("/paper/price-source", json={"source": None})
    assert back.json()["chosen_by"] == "config"
    await eventually(lambda: _state(m, "manual"), "the configured source to be back")


async def _state(market: Market, state: str) -> bool:
    return bool((await source(market))["source"]["state"] == state)


async def test_bad_sources_and_books_are_refused_clearly(manual_market: Market) -> None:
    m = manual_market
    async with m.client(m.admin_key) as http:
        for bad in ("sideways", "replay:/no/such/file.csv", "live:nosuchexchange",
                    "random_walk:x"):
            resp = await http.put("/paper/price-source", json={"source": bad})
            assert resp.status_code == 422, resp.text
            assert resp.json()["error"]["code"] == "invalid_price_source"
        resp = await http.put("/paper/price-source", json={"source": "manual", "speed": "-1"})
        assert resp.status_code == 422
        resp = await http.put(f"/paper/accounts/{m.account_id}/book", json={"spread_bps": "x"})
        assert resp.status_code == 422
        resp = await http.put("/paper/accounts/999999/book", json={})
        assert resp.json()["error"]["code"] == "account_not_found"
    async with m.client() as http:  # a trader key may not move the market's source
        resp = await http.put("/paper/price-source", json={"source": "random_walk"})
        assert resp.json()["error"]["code"] == "admin_required"
    assert (await source(m))["source"]["chosen_by"] == "config"  # nothing was written


async def test_an_account_book_applies_without_restart(manual_market: Market) -> None:
    m = manual_market
    path = f"/ccxt/{m.account_id}"
    async with m.client() as http:
        await http.post("/paper/prices", json={"symbol": "ETH/USDT", "price": "3000"})
        plain = (await http.post(f"{path}/fetch_ticker", json={"args": ["ETH/USDT"]})).json()
    assert plain["result"]["bid"] == plain["result"]["ask"] == "3000"  # the market: no spread
    async with m.client(m.admin_key) as http:
        resp = await http.put(f"/paper/accounts/{m.account_id}/book",
                              json={"spread_bps": "20", "level_notional": "30000"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["book"] == {"spread_bps": "20", "level_notional": "30000"}
    async with m.client() as http:
        ticker = (await http.post(f"{path}/fetch_ticker", json={"args": ["ETH/USDT"]})).json()
        book = (await http.post(f"{path}/fetch_order_book", json={"args": ["ETH/USDT", 3]})
                ).json()["result"]  # fmt: skip
    assert (ticker["result"]["bid"], ticker["result"]["ask"]) == ("2997", "3003")
    assert [D(a[0]) for a in book["asks"]] == [D("3003"), D("3004.51"), D("3006.01")]  # 5 bps
    for price, qty in book["asks"]:  # 30,000 USDT a level, down to the 0.001 ETH step
        assert D(qty) == (D(30000) / D(price)).quantize(D("0.001"), rounding=ROUND_FLOOR)
    async with m.client(m.admin_key) as http:  # back to the market's defaults
        await http.put(f"/paper/accounts/{m.account_id}/book", json={})
