"""Long/short position mode on the paper venue served as OKX v5, traded by CCXT's own `okx` and
`ccxt.pro.okx`: `set-position-mode` both ways and `account/config`'s `posMode`, a long and a
short of one SWAP held at once and closed each by its own `posSide`, reduce-only honoured, the
refusals (51000 for a `posSide` the mode does not take, 51169, 59000) as CCXT raises them, and
the per-side rows of `account/positions` and of the `positions` channel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pytest

from apps.oms.exchange.ccxt.instances import close_for_good
from apps.paper.wire.process import Running
from test.integration.wire.test_binance_spot_ccxt import check_order, check_position, check_trade
from test.integration.wire.test_okx_ccxt import okx_config, point, served, subscribed

__all__ = ["served"]  # the module's venue fixture, shared

D = Decimal
SWAP = "BTC/USDT:USDT"


@pytest.fixture
async def okx(served: Running) -> AsyncIterator[Any]:
    creds = await served.venue.new_account()  # a fresh account: net mode
    exchange = point(ccxt_async.okx(okx_config(creds)), served)
    await exchange.load_markets()
    yield exchange
    await exchange.close()


def by_side(positions: list[dict[str, Any]]) -> dict[str, tuple[float, bool]]:
    return {p["info"]["posSide"]: (p["contracts"], p["hedged"]) for p in positions
            if p["contracts"]}  # fmt: skip


async def test_switch_modes_and_the_refusals_to_switch(okx: Any) -> None:
    assert (await okx.fetch_position_mode(SWAP))["hedged"] is False  # account/config posMode
    assert (await okx.set_position_mode(False, SWAP))["code"] == "0"  # the mode it has
    assert (await okx.set_position_mode(True, SWAP))["data"] == [{"posMode": "long_short_mode"}]
    mode = await okx.fetch_position_mode(SWAP)
    assert (mode["hedged"], mode["info"]["posMode"]) == (True, "long_short_mode")
    assert (await okx.set_position_mode(True))["code"] == "0"
    resting = await okx.create_order(SWAP, "limit", "buy", 0.01, 40000, {"posSide": "long"})
    with pytest.raises(ccxt.ExchangeError, match="59000"):  # an open order
        await okx.set_position_mode(False, SWAP)
    await okx.cancel_order(resting["id"], SWAP)
    await okx.create_order(SWAP, "market", "sell", 0.01, None, {"posSide": "short"})
    with pytest.raises(ccxt.ExchangeError, match="59000"):  # a position
        await okx.set_position_mode(False, SWAP)
    await okx.create_order(SWAP, "market", "buy", 0.01, None, {"posSide": "short"})
    await okx.set_position_mode(False, SWAP)  # flat again: back to net mode
    assert (await okx.fetch_position_mode(SWAP))["hedged"] is False
    with pytest.raises(ccxt.BadRequest, match="51000"):  # no such mode
        await okx.set_position_mode(True, SWAP, {"posMode": "both_mode"})


async def test_long_and_short_at_once_closed_each(okx: Any, served: Running) -> None:
    await okx.set_position_mode(True)
    await okx.set_leverage(5, SWAP)  # cross: no posSide, both sides
    bought = await okx.create_order(SWAP, "market", "buy", 0.1, None, {"posSide": "long"})
    await okx.create_order(SWAP, "market", "sell", 0.05, None, {"posSide": "short"})
    rows = await okx.fetch_positions([SWAP])
    for row in rows:
        check_position(row, SWAP)
    assert sorted((p["side"], p["contracts"], p["hedged"], p["leverage"]) for p in rows) == [
        ("long", 0.1, True, 5), ("short", 0.05, True, 5)]
    assert {p["info"]["posSide"]: p["info"]["pos"] for p in rows} == {"long": "0.1",
                                                                      "short": "0.05"}
    fetched = await okx.fetch_order(bought["id"], SWAP)
    check_order(fetched, SWAP)
    assert (fetched["status"], fetched["info"]["posSide"]) == ("closed", "long")
    wallet = D(str((await okx.fetch_balance())["USDT"]["total"]))
    await served.venue.set_price(SWAP, D(51000))
    try:
        # a close without reduceOnly: sell on the long's posSide closes part of it
        await okx.create_order(SWAP, "market", "sell", 0.04, None, {"posSide": "long"})
        assert by_side(await okx.fetch_positions([SWAP])) == {"long": (0.06, True),
                                                              "short": (0.05, True)}
        # reduce-only honoured: 0.2 asked on the long's 0.06, the 0.06 filled, no short added
        await okx.create_order(SWAP, "market", "sell", 0.2, None,
                               {"posSide": "long", "reduceOnly": True})  # fmt: skip
        assert by_side(await okx.fetch_positions([SWAP])) == {"short": (0.05, True)}
        # CCXT's unified hedge params: a reduce-only buy goes as posSide short
        await okx.create_order(SWAP, "market", "buy", 0.05, None,
                               {"hedged": True, "reduceOnly": True})  # fmt: skip
        assert await okx.fetch_positions([SWAP]) == []
        # +100 on the long, -50 on the short; taker fees on the closes (5100 + 2550)
        taker = served.venue.handlers.listed["BTC-USDT-SWAP"].taker_fee
        after = D(str((await okx.fetch_balance())["USDT"]["total"]))
        assert after == wallet + D(50) - D(7650) * taker
        trades = await okx.fetch_my_trades(SWAP)
        for trade in trades:
            check_trade(trade, SWAP)
        assert sorted((t["side"], t["amount"], t["info"]["posSide"]) for t in trades) == [
            ("buy", 0.05, "short"), ("buy", 0.1, "long"), ("sell", 0.04, "long"),
            ("sell", 0.05, "short"), ("sell", 0.06, "long")]
    finally:
        await served.venue.set_price(SWAP, D(50000))


async def test_a_pos_side_the_mode_does_not_take_is_refused(okx: Any) -> None:
    with pytest.raises(ccxt.BadRequest, match="51000"):  # long on a net-mode account
        await okx.create_order(SWAP, "market", "sell", 0.01, None, {"posSide": "long"})
    await okx.set_position_mode(True)
    for params in ({}, {"posSide": "net"}):  # none, or net, in long/short mode
        with pytest.raises(ccxt.BadRequest, match="Parameter posSide error"):
            await okx.create_order(SWAP, "market", "buy", 0.01, None, params)
    with pytest.raises(ccxt.ExchangeError, match="51169"):  # no long to close
        await okx.create_order(SWAP, "market", "sell", 0.01, None, {"posSide": "long"})
    await okx.create_order(SWAP, "market", "buy", 0.01, None, {"posSide": "long"})
    with pytest.raises(ccxt.ExchangeError, match="51169"):  # reduce-only that would add
        await okx.create_order(SWAP, "market", "buy", 0.01, None,
                               {"posSide": "long", "reduceOnly": True})  # fmt: skip
    with pytest.raises(ccxt.ExchangeError, match="51169"):  # no short to close
        await okx.create_order(SWAP, "market", "buy", 0.01, None, {"posSide": "short"})
    await okx.create_order(SWAP, "market", "sell", 0.01, None, {"posSide": "long"})
    assert await okx.fetch_positions([SWAP]) == []


async def test_isolated_leverage_per_side(okx: Any) -> None:
    """In long/short mode an isolated SWAP's leverage is read per side (one leverage here,
    both sides' rows); set-leverage takes `posSide` long / short, refuses `net`."""
    await okx.set_position_mode(True)
    await okx.set_margin_mode("isolated", SWAP, {"lever": 3})
    leverage = await okx.fetch_leverage(SWAP, {"marginMode": "isolated"})
    assert (leverage["longLeverage"], leverage["shortLeverage"]) == (3, 3)
    assert sorted(r["posSide"] for r in leverage["info"]) == ["long", "short"]
    await okx.set_leverage(4, SWAP, {"marginMode": "isolated", "posSide": "short"})
    assert (await okx.fetch_leverage(SWAP, {"marginMode": "isolated"}))["shortLeverage"] == 4
    with pytest.raises(ccxt.BadRequest, match="51000"):  # CCXT's default posSide: net
        await okx.set_leverage(4, SWAP, {"marginMode": "isolated"})
    await okx.set_margin_mode("cross", SWAP, {"lever": 10})


async def test_watch_positions_per_side(served: Running) -> None:
    creds = await served.venue.new_account()
    exchange = point(ccxt_pro.okx(okx_config(creds)), served)
    try:
        await exchange.load_markets()
        await exchange.set_position_mode(True)
        assert await asyncio.wait_for(exchange.watch_positions([SWAP]), 20) == []  # snapshot
        watching = asyncio.ensure_future(exchange.watch_positions([SWAP]))
        await subscribed(served, creds.account_id, "positions")
        await exchange.create_order(SWAP, "market", "buy", 0.02, None, {"posSide": "long"})
        await exchange.create_order(SWAP, "market", "sell", 0.03, None, {"posSide": "short"})
        held: set[tuple[str, float, bool]] = set()
        for _ in range(400):  # the `positions` channel, one row per posSide
            cached = exchange.positions or ()
            held = {(p["side"], p["contracts"], p["hedged"]) for p in cached if p["contracts"]}
            if len(held) == 2:
                break
            await asyncio.sleep(0.05)
        assert held == {("long", 0.02, True), ("short", 0.03, True)}
        assert {p["side"] for p in await asyncio.wait_for(watching, 20)} <= {"long", "short"}
        await exchange.create_order(SWAP, "market", "sell", 0.02, None, {"posSide": "long"})
        for _ in range(400):  # the closed long pushed as pos "0"; the short untouched
            cached = exchange.positions or ()
            held = {(p["side"], p["contracts"], p["hedged"]) for p in cached if p["contracts"]}
            if len(held) == 1:
                break
            await asyncio.sleep(0.05)
        assert held == {("short", 0.03, True)}
    finally:
        await close_for_good(exchange)  # a late listen-key or reconnect request finds a closed session
