"""Hedge mode on the paper venue served as Binance USDⓈ-M, traded by CCXT's own `binanceusdm`
and `ccxt.pro.binanceusdm`: `dualSidePosition` switched, a long and a short held at once and
closed each by side + positionSide, the refusals (-4059, -4068, -4061, -1106) as CCXT raises
them, and the per-side positions of `positionRisk` and of `ACCOUNT_UPDATE`."""

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
from apps.paper.wire.accounts import Credentials
from apps.paper.wire.process import Running
from test.integration.wire.test_binance_usdm_ccxt import point_usdm, stream_up, usdm_config

D = Decimal
SYMBOL = "BTC/USDT:USDT"


@pytest.fixture
async def usdm(futures: Running) -> AsyncIterator[Any]:
    creds = await futures.venue.new_account()  # a fresh account: one-way mode
    exchange = point_usdm(ccxt_async.binanceusdm(usdm_config(creds)), futures)
    await exchange.load_markets()
    yield exchange
    await exchange.close()


def by_side(positions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {p["side"]: p for p in positions if p["contracts"]}


async def test_switch_modes_and_the_refusals_to_switch(usdm: Any) -> None:
    assert (await usdm.fetch_position_mode(SYMBOL))["hedged"] is False
    with pytest.raises(ccxt.OperationRejected, match="-4059"):  # already one-way
        await usdm.set_position_mode(False)
    await usdm.set_position_mode(True)
    assert (await usdm.fetch_position_mode(SYMBOL))["hedged"] is True
    resting = await usdm.create_order(SYMBOL, "limit", "buy", 0.01, 40000,
                                      {"positionSide": "LONG"})  # fmt: skip
    with pytest.raises(ccxt.OperationRejected, match="-4067"):  # an open order
        await usdm.set_position_mode(False)
    await usdm.cancel_order(resting["id"], SYMBOL)
    await usdm.create_order(SYMBOL, "market", "sell", 0.01, None, {"positionSide": "SHORT"})
    with pytest.raises(ccxt.OperationRejected, match="-4068"):  # a position
        await usdm.set_position_mode(False)
    await usdm.create_order(SYMBOL, "market", "buy", 0.01, None, {"positionSide": "SHORT"})
    await usdm.set_position_mode(False)  # flat again: back to one-way
    assert (await usdm.fetch_position_mode(SYMBOL))["hedged"] is False


async def test_long_and_short_at_once_closed_each(usdm: Any, futures: Running) -> None:
    await usdm.set_position_mode(True)
    long = await usdm.create_order(SYMBOL, "market", "buy", 0.1, None, {"positionSide": "LONG"})
    short = await usdm.create_order(SYMBOL, "market", "sell", 0.05, None,
                                    {"positionSide": "SHORT"})  # fmt: skip
    assert (long["status"], short["status"]) == ("closed", "closed")
    assert (long["info"]["positionSide"], short["info"]["positionSide"]) == ("LONG", "SHORT")
    held = by_side(await usdm.fetch_positions([SYMBOL]))
    assert (held["long"]["contracts"], held["short"]["contracts"]) == (0.1, 0.05)
    assert held["long"]["hedged"] is True
    assert held["long"]["entryPrice"] == held["short"]["entryPrice"] == 50000
    wallet = D(str((await usdm.fetch_balance())["USDT"]["total"]))
    await futures.venue.set_price(SYMBOL, D(51000))
    try:
        # side + positionSide closes (SELL LONG), never flips: 0.2 asked, the 0.1 held filled
        closed = await usdm.create_order(SYMBOL, "market", "sell", 0.2, None,
                                         {"positionSide": "LONG"})  # fmt: skip
        assert closed["filled"] == 0.1
        # CCXT's unified hedge params: a reduce-only buy becomes BUY SHORT, without reduceOnly
        covered = await usdm.create_order(SYMBOL, "market", "buy", 0.05, None,
                                          {"hedged": True, "reduceOnly": True})  # fmt: skip
        assert (covered["filled"], covered["info"]["positionSide"]) == (0.05, "SHORT")
        assert by_side(await usdm.fetch_positions([SYMBOL])) == {}
        trades = await usdm.fetch_my_trades(SYMBOL)
        assert [t["info"]["positionSide"] for t in trades] == ["LONG", "SHORT", "LONG", "SHORT"]
        # +100 on the long, -50 on the short, taker fees on 5000 + 2500 + 5100 + 2550
        fees = D("15150") * D("0.0005") - D(5000 + 2500) * D("0.0005")
        after = D(str((await usdm.fetch_balance())["USDT"]["total"]))
        assert after == wallet + D(50) - fees
    finally:
        await futures.venue.set_price(SYMBOL, D(50000))


async def test_wrong_position_side_and_reduce_only_refused(usdm: Any) -> None:
    with pytest.raises(ccxt.OperationRejected, match="-4061"):  # LONG on a one-way account
        await usdm.create_order(SYMBOL, "market", "buy", 0.01, None, {"positionSide": "LONG"})
    await usdm.set_position_mode(True)
    with pytest.raises(ccxt.OperationRejected, match="-4061"):  # BOTH (none) in hedge mode
        await usdm.create_order(SYMBOL, "market", "buy", 0.01)
    with pytest.raises(ccxt.BadRequest, match="-1106"):  # reduceOnly is not hedge mode's
        await usdm.create_order(SYMBOL, "market", "sell", 0.01, None,
                                {"positionSide": "LONG", "reduceOnly": True})  # fmt: skip
    nothing = await usdm.create_order(SYMBOL, "market", "sell", 0.01, None,
                                      {"positionSide": "LONG"})  # no long to close  # fmt: skip
    assert (nothing["filled"], nothing["status"]) == (0, "canceled")


async def test_watch_positions_per_side(futures: Running) -> None:
    creds: Credentials = await futures.venue.new_account()
    exchange = point_usdm(ccxt_pro.binanceusdm(usdm_config(creds)), futures)
    try:
        await exchange.load_markets()
        await exchange.set_position_mode(True)
        first = await asyncio.wait_for(exchange.watch_positions([SYMBOL]), 20)  # the snapshot
        assert [p for p in first if p["contracts"]] == []
        watching = asyncio.ensure_future(exchange.watch_positions([SYMBOL]))  # now subscribes
        await stream_up(futures, creds.account_id)
        await exchange.create_order(SYMBOL, "market", "buy", 0.02, None, {"positionSide": "LONG"})
        await exchange.create_order(SYMBOL, "market", "sell", 0.03, None,
                                    {"positionSide": "SHORT"})  # fmt: skip
        held: set[tuple[str, float, bool]] = set()
        for _ in range(400):  # ACCOUNT_UPDATE, one `ps` per side, in CCXT's cache by side
            cached = [p for cache in exchange.positions.values() for p in cache]
            held = {(p["side"], p["contracts"], p["hedged"]) for p in cached if p["contracts"]}
            if len(held) == 2:
                break
            await asyncio.sleep(0.05)
        assert held == {("long", 0.02, True), ("short", 0.03, True)}
        assert {p["side"] for p in await asyncio.wait_for(watching, 20)} <= {"long", "short"}
    finally:
        await close_for_good(exchange)  # a late listen-key or reconnect request finds a closed session
