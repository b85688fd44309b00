"""Hedge mode on the paper venue served as Bybit v5, traded by CCXT's own `bybit` and
`ccxt.pro.bybit`: `switch-mode` 3 / 0, a long (positionIdx 1) and a short (positionIdx 2) held
at once and closed each, reduce-only honoured, the refusals (10001, 110024, 110025, 110028) as
CCXT raises them, and the per-side rows of the position list and of the `position` topic."""

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
from test.integration.wire.test_bybit_ccxt import bybit_config, point, served, subscribed

__all__ = ["served"]  # the module's venue fixture, shared

D = Decimal
SYMBOL = "BTC/USDT:USDT"


@pytest.fixture
async def bybit(served: Running) -> AsyncIterator[Any]:
    creds = await served.venue.new_account()  # a fresh account: one-way mode
    exchange = point(ccxt_async.bybit(bybit_config(creds)), served)
    await exchange.load_markets()
    yield exchange
    await exchange.close()


def by_idx(positions: list[dict[str, Any]]) -> dict[int, tuple[str, float]]:
    return {p["info"]["positionIdx"]: (p["side"], p["contracts"]) for p in positions
            if p["contracts"]}  # fmt: skip


async def test_switch_modes_and_the_refusals_to_switch(bybit: Any) -> None:
    with pytest.raises(ccxt.NoChange):  # 110025: one-way already
        await bybit.set_position_mode(False)
    await bybit.set_position_mode(True)  # mode 3, by coin (USDT)
    with pytest.raises(ccxt.NoChange):  # 110025
        await bybit.set_position_mode(True, SYMBOL)
    resting = await bybit.create_order(SYMBOL, "limit", "buy", 0.01, 40000, {"positionIdx": 1})
    with pytest.raises(ccxt.BadRequest, match="110028"):  # an open order
        await bybit.set_position_mode(False, SYMBOL)
    await bybit.cancel_order(resting["id"], SYMBOL)
    await bybit.create_order(SYMBOL, "market", "sell", 0.01, None, {"positionIdx": 2})
    with pytest.raises(ccxt.BadRequest, match="110024"):  # a position
        await bybit.set_position_mode(False, SYMBOL)
    await bybit.create_order(SYMBOL, "market", "buy", 0.01, None, {"positionIdx": 2})
    await bybit.set_position_mode(False, SYMBOL)  # flat again: back to one-way
    rows = await bybit.fetch_positions([SYMBOL])
    assert [(p["info"]["positionIdx"], p["hedged"]) for p in rows] == [(0, False)]


async def test_long_and_short_at_once_closed_each(bybit: Any, served: Running) -> None:
    await bybit.set_position_mode(True)
    await bybit.create_order(SYMBOL, "market", "buy", 0.1, None, {"positionIdx": 1})
    await bybit.create_order(SYMBOL, "market", "sell", 0.05, None, {"positionIdx": 2})
    rows = await bybit.fetch_positions([SYMBOL])
    assert by_idx(rows) == {1: ("long", 0.1), 2: ("short", 0.05)}
    assert all(p["hedged"] for p in rows)
    wallet = D(str((await bybit.fetch_balance())["USDT"]["total"]))
    await served.venue.set_price(SYMBOL, D(51000))
    try:
        # reduce-only honoured: 0.2 asked on the buy side's 0.1, the 0.1 filled, no short added
        await bybit.create_order(SYMBOL, "market", "sell", 0.2, None,
                                 {"positionIdx": 1, "reduceOnly": True})  # fmt: skip
        assert by_idx(await bybit.fetch_positions([SYMBOL])) == {2: ("short", 0.05)}
        # CCXT's unified hedge params: a reduce-only buy becomes positionIdx 2
        await bybit.create_order(SYMBOL, "market", "buy", 0.05, None,
                                 {"hedged": True, "reduceOnly": True})  # fmt: skip
        assert by_idx(await bybit.fetch_positions([SYMBOL])) == {}
        # +100 on the long, -50 on the short; taker fees on 5000 + 2500 + 5100 + 2550
        fees = D("15150") * D("0.0005") - D(5000 + 2500) * D("0.0005")
        after = D(str((await bybit.fetch_balance())["USDT"]["total"]))
        assert after == wallet + D(50) - fees
    finally:
        await served.venue.set_price(SYMBOL, D(50000))


async def test_a_position_idx_the_mode_does_not_take_is_refused(bybit: Any) -> None:
    with pytest.raises(ccxt.BadRequest, match="10001"):  # idx 2 on a one-way account
        await bybit.create_order(SYMBOL, "market", "sell", 0.01, None, {"positionIdx": 2})
    await bybit.set_position_mode(True)
    with pytest.raises(ccxt.BadRequest, match="10001"):  # idx 0 (none) in hedge mode
        await bybit.create_order(SYMBOL, "market", "buy", 0.01)


async def test_watch_positions_per_side(served: Running) -> None:
    creds = await served.venue.new_account()
    exchange = point(ccxt_pro.bybit(bybit_config(creds)), served)
    try:
        await exchange.load_markets()
        await exchange.set_position_mode(True)
        await asyncio.wait_for(exchange.watch_positions([SYMBOL]), 20)  # the REST snapshot
        watching = asyncio.ensure_future(exchange.watch_positions([SYMBOL]))
        await subscribed(served, creds.account_id, "position")
        await exchange.create_order(SYMBOL, "market", "buy", 0.02, None, {"positionIdx": 1})
        await exchange.create_order(SYMBOL, "market", "sell", 0.03, None, {"positionIdx": 2})
        held: set[tuple[str, float, bool]] = set()
        for _ in range(400):  # the `position` topic, one row per positionIdx
            cached = exchange.positions or ()
            held = {(p["side"], p["contracts"], p["hedged"]) for p in cached if p["contracts"]}
            if len(held) == 2:
                break
            await asyncio.sleep(0.05)
        assert held == {("long", 0.02, True), ("short", 0.03, True)}
        assert {p["side"] for p in await asyncio.wait_for(watching, 20)} <= {"long", "short"}
    finally:
        await close_for_good(exchange)  # a late listen-key or reconnect request finds a closed session
