"""Margin modes, leverage tiers and trading fees of the paper venue over a real store (SQLite and
MariaDB): the per-symbol mode persists across restarts, Binance's refusals, isolated positions'
CCXT fields, CCXT-shaped tiers and fees."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from apps.oms.exchange.ccxt_errors import errors as ccxt
from apps.paper.exchange.structures import to_ccxt_numbers
from apps.paper.exchange.venue import PaperVenue
from test.integration.paper.test_ccxt_shape import EX, check_position_rules, no_floats

D = Decimal
SWAP = "SOL/USDT:USDT"


async def test_margin_mode_persists_and_is_refused_while_in_use(
    new_account: Callable[[], Any], make_venue: Callable[..., PaperVenue]
) -> None:
    account_id = await new_account()
    venue = make_venue(account_id)
    assert await venue.fetch_margin_mode(SWAP) == {
        "info": {"symbol": SWAP, "marginMode": "cross"}, "symbol": SWAP, "marginMode": "cross"}
    answer = await venue.set_margin_mode("isolated", SWAP)
    assert answer["marginMode"] == "isolated"
    restarted = make_venue(account_id)  # a new store object: read back from the database
    assert (await restarted.fetch_margin_mode(SWAP))["marginMode"] == "isolated"
    modes = await restarted.fetch_margin_modes()
    assert sorted(modes) == ["BTC/USDT:USDT", "ETH/USDT:USDT", SWAP]
    assert modes["BTC/USDT:USDT"]["marginMode"] == "cross"
    assert (await restarted.fetch_leverage(SWAP))["marginMode"] == "isolated"
    await venue.set_price(SWAP, D(150))
    await restarted.create_order(SWAP, "market", "buy", D(10))
    assert (await venue.set_margin_mode("isolated", SWAP))["marginMode"] == "isolated"  # no-op
    with pytest.raises(ccxt.BadRequest, match="position is open"):
        await venue.set_margin_mode("cross", SWAP)
    await venue.create_order(SWAP, "market", "sell", D(10), params={"reduceOnly": True})
    await venue.create_order(SWAP, "limit", "buy", D(10), D(100))
    with pytest.raises(ccxt.BadRequest, match="open orders"):
        await venue.set_margin_mode("cross", SWAP)
    await venue.cancel_all_orders(SWAP)
    assert (await venue.set_margin_mode("cross", SWAP))["marginMode"] == "cross"
    with pytest.raises(ccxt.BadRequest):
        await venue.set_margin_mode("isolated", "SOL/USDT")  # spot
    with pytest.raises(ccxt.ArgumentsRequired):
        await venue.set_margin_mode("isolated")


async def test_isolated_position_reports_its_own_margin(
    new_account: Callable[[], Any], make_venue: Callable[..., PaperVenue]
) -> None:
    """1 BTC long at 50,000, leverage 10, isolated: collateral 5,000 (not the wallet), the
    liquidation price of docs/paper-venue.md, CCXT's position rules; a cross one next to it."""
    venue = make_venue(await new_account())
    await venue.set_price("BTC/USDT:USDT", D(50000))
    await venue.set_price("ETH/USDT:USDT", D(3000))
    await venue.set_margin_mode("isolated", "BTC/USDT:USDT")
    await venue.create_order("BTC/USDT:USDT", "market", "buy", D(1))
    await venue.create_order("ETH/USDT:USDT", "market", "sell", D(2))
    isolated, cross = sorted(await venue.fetch_positions(), key=lambda p: p["symbol"])
    assert isolated["marginMode"] == "isolated"
    assert isolated["collateral"] == D(5000)
    assert isolated["initialMargin"] == D(5000)
    assert isolated["maintenanceMargin"] == D(250)
    assert isolated["maintenanceMarginPercentage"] == D("0.005")
    assert isolated["liquidationPrice"] == D("45226.130653266331658291")
    assert isolated["marginRatio"] == D("0.05")
    check_position_rules(isolated, "BTC/USDT:USDT")
    assert cross["marginMode"] == "cross"
    wallet = (await venue.fetch_balance())["total"]["USDT"]
    assert cross["collateral"] == wallet
    assert cross["liquidationPrice"] > D(3000)
    for position in (isolated, cross):
        no_floats(position)
        view = to_ccxt_numbers(position)
        assert {k: v for k, v in EX.safe_position(dict(view)).items() if k in view} == view


async def test_leverage_tiers_fees_and_markets_are_ccxt_shaped(
    new_account: Callable[[], Any], make_venue: Callable[..., PaperVenue]
) -> None:
    venue = make_venue(await new_account(), maintenance_rate=D("0.004"))
    tiers = await venue.fetch_leverage_tiers()
    assert sorted(tiers) == ["BTC/USDT:USDT", "ETH/USDT:USDT", SWAP]
    first, second = tiers[SWAP][:2]
    assert first == {
        "tier": D(1), "symbol": SWAP, "currency": "USDT", "minNotional": D(0),
        "maxNotional": D(250000), "maintenanceMarginRate": D("0.004"), "maxLeverage": D(100),
        "info": {"bracket": 1, "initialLeverage": 100, "notionalFloor": "0",
                 "notionalCap": "250000", "maintMarginRatio": "0.004", "cum": "0"}}
    assert (second["minNotional"], second["maintenanceMarginRate"], second["maxLeverage"],
            second["info"]["cum"]) == (D(250000), D("0.008"), D(50), "1000")  # fmt: skip
    assert await venue.fetch_market_leverage_tiers(SWAP) == tiers[SWAP]
    with pytest.raises(ccxt.BadRequest):
        await venue.fetch_market_leverage_tiers("SOL/USDT")
    no_floats(tiers)
    fee = await venue.fetch_trading_fee(SWAP)
    assert fee == {"info": {"symbol": SWAP, "maker": "0.0002", "taker": "0.0005"},
                   "symbol": SWAP, "maker": D("0.0002"), "taker": D("0.0005"),
                   "percentage": True, "tierBased": False}  # fmt: skip
    fees = await venue.fetch_trading_fees()
    assert fees["BTC/USDT"]["taker"] == D("0.001")
    assert set(fees) == set(venue.venue.by_symbol)
    markets = await venue.load_markets()
    assert markets[SWAP]["marginModes"] == {"cross": True, "isolated": True}
    assert markets[SWAP]["limits"]["leverage"] == {"min": D(1), "max": D(100)}
    assert markets["SOL/USDT"]["marginModes"] == {"cross": False, "isolated": False}
    for name in ("setMarginMode", "fetchMarginMode", "fetchMarginModes", "fetchLeverageTiers",
                 "fetchMarketLeverageTiers", "fetchTradingFee", "fetchTradingFees"):
        assert venue.has[name] is True, name
    assert not venue.has.get("fetchFundingHistory")  # the venue keeps no funding payments
