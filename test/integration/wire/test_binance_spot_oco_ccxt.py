"""CCXT's own `binance`, unmodified, placing Binance spot's native OCO order lists
(`POST /api/v3/orderList/oco`) on the paper venue served in the Binance spot dialect: both legs
are orders CCXT parses and looks up, one cancels the other (a fill or a trigger expires the
sibling, a cancel cancels both), the legs of a list hold its funds once (as Binance locks them),
the lists answer by id and client id, survive a restart of the venue, and refusals arrive as
CCXT's own exception classes."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import ccxt
import ccxt.async_support as ccxt_async
import pytest

from apps.paper.wire.process import Running, start
from apps.paper.wire.server import build_venue
from test.integration.wire.conftest import point, set_price, spot_options

D = Decimal
#: a hang guard for one user-data event (the venue queues it before `set_price` returns)
EVENT_WAIT_S = 120


def sell_oco(symbol: str, qty: str, limit: str, stop: str, list_id: str, **extra: str
             ) -> dict[str, str]:  # fmt: skip
    """A SELL OCO: a LIMIT_MAKER above the price, a STOP_LOSS (market) below it."""
    return {"symbol": symbol, "side": "SELL", "quantity": qty, "listClientOrderId": list_id,
            "aboveType": "LIMIT_MAKER", "abovePrice": limit, "aboveClientOrderId": f"{list_id}-tp",
            "belowType": "STOP_LOSS", "belowStopPrice": stop,
            "belowClientOrderId": f"{list_id}-sl", **extra}  # fmt: skip


async def place(binance: Any, params: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Place an OCO; the answer and the legs as CCXT parses them (below, above)."""
    answer = await binance.privatePostOrderListOco(params)
    market = binance.market(params["symbol"])
    below, above = (binance.parse_order(r, market) for r in answer["orderReports"])
    return answer, {"below": below, "above": above}


async def status(binance: Any, order_id: str, symbol: str) -> str:
    return str((await binance.fetch_order(order_id, symbol))["status"])


async def test_a_sell_and_a_buy_oco_as_ccxt_parses_them(binance: Any) -> None:
    await binance.load_markets()
    answer, legs = await place(binance, sell_oco("BTCUSDT", "0.1", "52000", "48000", "s1"))
    assert {k: answer[k] for k in ("contingencyType", "listStatusType", "listOrderStatus",
                                   "listClientOrderId", "symbol")} == {
        "contingencyType": "OCO", "listStatusType": "EXEC_STARTED",
        "listOrderStatus": "EXECUTING", "listClientOrderId": "s1", "symbol": "BTCUSDT"}
    assert answer["orderListId"] >= 1
    assert isinstance(answer["transactionTime"], int)
    assert [o["clientOrderId"] for o in answer["orders"]] == ["s1-sl", "s1-tp"]  # below first
    stop, maker = legs["below"], legs["above"]
    assert (stop["id"], stop["clientOrderId"], stop["type"], stop["side"]) == (
        str(answer["orders"][0]["orderId"]), "s1-sl", "market", "sell")  # STOP_LOSS: market
    assert stop["info"]["type"] == "STOP_LOSS"
    assert (stop["price"], stop["triggerPrice"], stop["stopPrice"], stop["amount"]) == (
        None, 48000, 48000, 0.1)
    assert (maker["id"], maker["clientOrderId"], maker["type"], maker["postOnly"]) == (
        str(answer["orders"][1]["orderId"]), "s1-tp", "limit", True)
    assert (maker["price"], maker["triggerPrice"], maker["amount"]) == (52000, None, 0.1)
    assert stop["status"] == maker["status"] == "open"
    for report in answer["orderReports"]:
        assert report["orderListId"] == answer["orderListId"]

    fetched = await binance.fetch_order(stop["id"], "BTC/USDT")
    assert (fetched["status"], fetched["type"], fetched["triggerPrice"]) == (
        "open", "market", 48000)
    assert fetched["info"]["orderListId"] == answer["orderListId"]
    listed = {o["id"]: o for o in await binance.fetch_open_orders("BTC/USDT")}
    assert set(listed) == {stop["id"], maker["id"]}
    assert {o["info"]["orderListId"] for o in listed.values()} == {answer["orderListId"]}
    every = await binance.fetch_orders("BTC/USDT")
    assert {o["info"]["orderListId"] for o in every} == {answer["orderListId"]}
    plain = await binance.create_order("BTC/USDT", "limit", "buy", 0.001, 40000)
    assert plain["info"]["orderListId"] == -1

    bought, buy_legs = await place(binance, {
        "symbol": "ETHUSDT", "side": "BUY", "quantity": "1",
        "aboveType": "STOP_LOSS_LIMIT", "aboveStopPrice": "3100", "abovePrice": "3110",
        "aboveTimeInForce": "GTC", "belowType": "LIMIT_MAKER", "belowPrice": "2900"})
    assert bought["orderListId"] == answer["orderListId"] + 1  # increasing
    maker, stop = buy_legs["below"], buy_legs["above"]
    assert (maker["type"], maker["side"], maker["price"], maker["triggerPrice"]) == (
        "limit", "buy", 2900, None)
    assert (stop["type"], stop["side"], stop["price"], stop["triggerPrice"],
            stop["stopPrice"]) == ("limit", "buy", 3110, 3100, 3100)  # STOP_LOSS_LIMIT: limit
    assert (stop["info"]["type"], maker["info"]["type"]) == ("STOP_LOSS_LIMIT", "LIMIT_MAKER")
    assert (stop["timeInForce"], stop["status"], maker["status"]) == ("GTC", "open", "open")
    assert len(bought["listClientOrderId"]) == 22  # generated, as Binance's


async def test_the_limit_fills_and_the_stop_expires(binance: Any, served: Running) -> None:
    await binance.load_markets()
    key = (await binance.publicPostUserDataStream())["listenKey"]
    async with aiohttp.ClientSession() as session, session.ws_connect(
            f"{served.ws_url}/ws/{key}") as ws:  # fmt: skip
        answer, legs = await place(binance, sell_oco("SOLUSDT", "1", "155", "145", "f1"))
        try:
            await set_price(served, "SOL/USDT", "156")  # trades through the LIMIT_MAKER
            expired = await _report(ws, "EXPIRED")
        finally:
            await set_price(served, "SOL/USDT", "150")
    stop, maker = legs["below"], legs["above"]
    assert (expired["i"], expired["X"], expired["g"], expired["c"]) == (
        int(stop["id"]), "EXPIRED", answer["orderListId"], "f1-sl")
    assert await status(binance, maker["id"], "SOL/USDT") == "closed"
    assert await status(binance, stop["id"], "SOL/USDT") == "expired"
    assert await binance.fetch_open_orders("SOL/USDT") == []
    found = await binance.privateGetOrderList({"origClientOrderId": "f1"})
    assert (found["orderListId"], found["listStatusType"], found["listOrderStatus"]) == (
        answer["orderListId"], "ALL_DONE", "ALL_DONE")
    assert [o["orderId"] for o in found["orders"]] == [int(stop["id"]), int(maker["id"])]


async def test_the_stop_fires_and_the_limit_expires(binance: Any, served: Running) -> None:
    await binance.load_markets()
    answer, legs = await place(binance, sell_oco("SOLUSDT", "1", "155", "145", "t1"))
    try:
        await set_price(served, "SOL/USDT", "144")  # through the stop: a market sell
    finally:
        await set_price(served, "SOL/USDT", "150")
    stop, maker = legs["below"], legs["above"]
    fired = await binance.fetch_order(stop["id"], "SOL/USDT")
    assert (fired["status"], fired["filled"], fired["type"]) == ("closed", 1, "market")
    assert await status(binance, maker["id"], "SOL/USDT") == "expired"
    balance = await binance.fetch_balance()
    assert (balance["SOL"]["total"], balance["SOL"]["used"]) == (99, 0)  # nothing held
    assert await binance.privateGetOpenOrderList() == []
    by_id = await binance.privateGetOrderList({"orderListId": answer["orderListId"]})
    assert by_id["listStatusType"] == "ALL_DONE"


async def test_cancelling_one_leg_cancels_both(binance: Any) -> None:
    await binance.load_markets()
    answer, legs = await place(binance, sell_oco("ETHUSDT", "1", "3200", "2800", "c1"))
    stop, maker = legs["below"], legs["above"]
    canceled = await binance.cancel_order(maker["id"], "ETH/USDT")
    assert (canceled["id"], canceled["status"]) == (maker["id"], "canceled")
    assert canceled["info"]["orderListId"] == answer["orderListId"]
    assert await status(binance, maker["id"], "ETH/USDT") == "canceled"
    assert await status(binance, stop["id"], "ETH/USDT") == "canceled"
    assert await binance.fetch_open_orders("ETH/USDT") == []
    with pytest.raises(ccxt.OrderNotFound):  # -2011 Unknown order sent.
        await binance.cancel_order(stop["id"], "ETH/USDT")


async def test_a_list_by_client_id_and_its_cancel(binance: Any) -> None:
    await binance.load_markets()
    answer, _ = await place(binance, sell_oco("ETHUSDT", "1", "3200", "2800", "q1"))
    headers = {k.lower(): v for k, v in binance.last_response_headers.items()}
    assert headers["x-mbx-order-count-10s"] == "2"  # an OCO counts 2 orders
    found = await binance.privateGetOrderList({"origClientOrderId": "q1"})
    assert {k: v for k, v in found.items() if k != "orders"} == {
        k: v for k, v in answer.items() if k not in ("orders", "orderReports")}
    [open_list] = await binance.privateGetOpenOrderList()
    assert open_list["listClientOrderId"] == "q1"
    [everything] = await binance.privateGetAllOrderList()
    assert everything["orderListId"] == answer["orderListId"]
    canceled = await binance.privateDeleteOrderList({"symbol": "ETHUSDT",
                                                     "listClientOrderId": "q1"})  # fmt: skip
    assert (canceled["listStatusType"], canceled["listOrderStatus"]) == ("ALL_DONE", "ALL_DONE")
    assert [r["status"] for r in canceled["orderReports"]] == ["CANCELED", "CANCELED"]
    assert await binance.privateGetOpenOrderList() == []
    with pytest.raises(ccxt.OrderNotFound):  # done: -2011 Unknown order sent.
        await binance.privateDeleteOrderList({"symbol": "ETHUSDT",
                                              "orderListId": answer["orderListId"]})  # fmt: skip
    with pytest.raises(ccxt.OrderNotFound):  # -2013 Order list does not exist.
        await binance.privateGetOrderList({"orderListId": 999})


async def test_bad_shapes_are_refused_and_place_nothing(binance: Any) -> None:
    await binance.load_markets()
    with pytest.raises(ccxt.InvalidOrder, match="relationship of the prices"):  # -2010
        await binance.privatePostOrderListOco(sell_oco("BTCUSDT", "0.1", "49000", "48000", "b1"))
    with pytest.raises(ccxt.BadRequest):  # -1102 belowStopPrice
        await binance.privatePostOrderListOco(sell_oco("BTCUSDT", "0.1", "52000", "", "b2"))
    with pytest.raises(ccxt.BadRequest):  # -1106 aboveTimeInForce for a LIMIT_MAKER
        await binance.privatePostOrderListOco(sell_oco("BTCUSDT", "0.1", "52000", "48000", "b3",
                                                       aboveTimeInForce="GTC"))  # fmt: skip
    with pytest.raises(ccxt.InvalidOrder):  # -1014: a SELL's stop is the below leg
        await binance.privatePostOrderListOco({
            "symbol": "BTCUSDT", "side": "SELL", "quantity": "0.1",
            "aboveType": "STOP_LOSS", "aboveStopPrice": "52000",
            "belowType": "LIMIT_MAKER", "belowPrice": "48000"})
    with pytest.raises(ccxt.InsufficientFunds):  # the list holds 1.1 of the 1 BTC held
        await binance.privatePostOrderListOco(sell_oco("BTCUSDT", "1.1", "52000", "48000", "b4"))
    assert await binance.fetch_open_orders("BTC/USDT") == []
    assert await binance.fetch_orders("BTC/USDT") == []  # neither leg of any of them exists
    await place(binance, sell_oco("BTCUSDT", "0.1", "52000", "48000", "b5"))
    with pytest.raises(ccxt.InvalidOrder):  # -2010 Duplicate order sent.
        await binance.privatePostOrderListOco(sell_oco("BTCUSDT", "0.1", "52000", "48000", "b5"))
    assert len(await binance.fetch_open_orders("BTC/USDT")) == 2


async def locked(binance: Any, asset: str) -> tuple[Decimal, Decimal]:
    """(free, locked) of `asset` as GET /api/v3/account shows them."""
    account = await binance.privateGetAccount()
    row = next(b for b in account["balances"] if b["asset"] == asset)
    return D(row["free"]), D(row["locked"])


async def test_a_sell_oco_of_all_that_is_held_locks_it_once(binance: Any, served: Running
                                                            ) -> None:  # fmt: skip
    await binance.load_markets()
    key = (await binance.publicPostUserDataStream())["listenKey"]
    async with aiohttp.ClientSession() as session, session.ws_connect(
            f"{served.ws_url}/ws/{key}") as ws:  # fmt: skip
        answer, legs = await place(binance, sell_oco("BTCUSDT", "1", "52000", "48000", "h1"))
        assert legs["below"]["status"] == legs["above"]["status"] == "open"  # accepted
        balance = await binance.fetch_balance()
        assert (balance["BTC"]["total"], balance["BTC"]["used"], balance["BTC"]["free"]) == (
            1, 1, 0)  # locked once, not once per leg
        assert await locked(binance, "BTC") == (0, 1)
        try:
            await set_price(served, "BTC/USDT", "52001")  # trades through the LIMIT_MAKER
            events = await _until(ws, "EXPIRED")
        finally:
            await set_price(served, "BTC/USDT", "50000")
    positions = [b for e in events if e["e"] == "outboundAccountPosition" for b in e["B"]]
    assert positions  # every position the stream showed on the way: never below zero
    assert all(D(b["f"]) >= 0 and D(b["l"]) >= 0 for b in positions)
    maker = await binance.fetch_order(legs["above"]["id"], "BTC/USDT")
    assert (maker["status"], maker["filled"]) == ("closed", 1)
    assert await status(binance, legs["below"]["id"], "BTC/USDT") == "expired"
    fee = D(52000) * D(str(binance.market("BTC/USDT")["maker"]))
    balance = await binance.fetch_balance()
    assert (balance["BTC"]["total"], balance["BTC"]["used"], balance["BTC"]["free"]) == (0, 0, 0)
    usdt = D(100000) + D(52000) - fee
    assert (D(str(balance["USDT"]["free"])), balance["USDT"]["used"]) == (usdt, 0)
    assert await locked(binance, "BTC") == (0, 0)
    found = await binance.privateGetOrderList({"orderListId": answer["orderListId"]})
    assert found["listStatusType"] == "ALL_DONE"


async def test_the_stop_sells_all_that_is_held(binance: Any, served: Running) -> None:
    await binance.load_markets()
    _, legs = await place(binance, sell_oco("BTCUSDT", "1", "52000", "48000", "h2"))
    try:
        await set_price(served, "BTC/USDT", "47990")  # through the stop: a market sell of 1
    finally:
        await set_price(served, "BTC/USDT", "50000")
    fired = await binance.fetch_order(legs["below"]["id"], "BTC/USDT")
    assert (fired["status"], fired["filled"]) == ("closed", 1)  # the list's funds were its own
    assert await status(binance, legs["above"]["id"], "BTC/USDT") == "expired"
    balance = await binance.fetch_balance()
    assert (balance["BTC"]["total"], balance["BTC"]["used"]) == (0, 0)
    assert await locked(binance, "BTC") == (0, 0)


async def test_a_buy_oco_locks_its_dearer_leg_only(binance: Any) -> None:
    await binance.load_markets()
    # summed, the legs would lock 1.5 x (48,000 + 51,100) plus fees: more than the 100,000 USDT
    _, legs = await place(binance, {
        "symbol": "BTCUSDT", "side": "BUY", "quantity": "1.5", "listClientOrderId": "h3",
        "aboveType": "STOP_LOSS_LIMIT", "aboveStopPrice": "51000", "abovePrice": "51100",
        "aboveTimeInForce": "GTC", "belowType": "LIMIT_MAKER", "belowPrice": "48000"})
    assert legs["below"]["status"] == legs["above"]["status"] == "open"
    market = binance.market("BTC/USDT")
    fee_rate = max(D(str(market["maker"])), D(str(market["taker"])))
    held = D("1.5") * D(51100) * (1 + fee_rate)
    assert await locked(binance, "USDT") == (D(100000) - held, held)
    canceled = await binance.privateDeleteOrderList({"symbol": "BTCUSDT",
                                                     "listClientOrderId": "h3"})  # fmt: skip
    assert [r["status"] for r in canceled["orderReports"]] == ["CANCELED", "CANCELED"]
    assert await locked(binance, "USDT") == (D(100000), 0)  # released once, all of it


async def _until(ws: aiohttp.ClientWebSocketResponse, status: str) -> list[dict[str, Any]]:
    """The events up to the executionReport with `X` = status and the account position that
    follows it."""
    events: list[dict[str, Any]] = []
    while not events or events[-1]["e"] != "outboundAccountPosition" or not any(
            e["e"] == "executionReport" and e["X"] == status for e in events):  # fmt: skip
        events.append(dict(await asyncio.wait_for(ws.receive_json(), EVENT_WAIT_S)))
    return events


async def _report(ws: aiohttp.ClientWebSocketResponse, status: str) -> dict[str, Any]:
    """The next executionReport with `X` = status."""
    while True:
        event = await asyncio.wait_for(ws.receive_json(), EVENT_WAIT_S)
        if event["e"] == "executionReport" and event["X"] == status:
            return dict(event)


@pytest.fixture
def restartable(tmp_path: Path) -> str:
    """The store of a venue a test stops and starts again."""
    return f"sqlite+aiosqlite:///{tmp_path / 'venue.sqlite3'}"


async def test_the_lists_survive_a_restart_of_the_venue(restartable: str) -> None:
    running = await start(await build_venue(restartable, "binance"))
    creds = await running.venue.new_account()
    exchange = point(ccxt_async.binance(spot_options(creds)), running)
    try:
        await exchange.load_markets()
        answer, legs = await place(exchange, sell_oco("SOLUSDT", "1", "155", "145", "r1"))
        await set_price(running, "SOL/USDT", "156")
        await place(exchange, sell_oco("BTCUSDT", "1", "52000", "48000", "r3"))  # all it holds
    finally:
        await exchange.close()
        await running.stop()
    running = await start(await build_venue(restartable, "binance"))
    exchange = point(ccxt_async.binance(spot_options(creds)), running)
    try:
        await exchange.load_markets()
        found = await exchange.privateGetOrderList({"origClientOrderId": "r1"})
        assert (found["orderListId"], found["listStatusType"]) == (
            answer["orderListId"], "ALL_DONE")
        stop = await exchange.fetch_order(legs["below"]["id"], "SOL/USDT")
        assert (stop["status"], stop["info"]["orderListId"]) == ("expired", answer["orderListId"])
        assert await locked(exchange, "BTC") == (0, 1)  # the legs' group, as stored
        again = await exchange.privatePostOrderListOco(
            sell_oco("SOLUSDT", "1", "157", "145", "r2"))
        assert again["orderListId"] == answer["orderListId"] + 2
    finally:
        await exchange.close()
        await running.stop()
