"""A strategy written for plain CCXT (no OMS import, no OMS parameter): it takes any CCXT exchange
object. `market_moves(price)` stands for the market moving (a no-op against a real venue; the
test moves the paper price there)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


def run_sync(exchange: Any, symbol: str, market_moves: Callable[[float], None]) -> dict[str, Any]:
    exchange.load_markets()
    last = exchange.fetch_ticker(symbol)["last"]
    free = exchange.fetch_balance()["free"]["USDT"]
    amount = float(exchange.amount_to_precision(symbol, 0.2))
    low = float(exchange.price_to_precision(symbol, last * 0.9))
    bid = exchange.create_limit_buy_order(symbol, amount, low)
    bid = exchange.edit_order(bid["id"], symbol, "limit", "buy", amount, low - 1)
    was_open = [o["id"] for o in exchange.fetch_open_orders(symbol)]
    exchange.cancel_order(bid["id"], symbol)
    bought = exchange.create_market_buy_order(symbol, amount * 2)
    exchange.create_order(symbol, "market", "sell", amount)
    high = float(exchange.price_to_precision(symbol, last * 1.1))
    ask = exchange.create_order(symbol, "limit", "sell", amount, high)
    market_moves(high + 1)
    while exchange.fetch_order(ask["id"], symbol)["status"] == "open":
        exchange.sleep(50)
    return {
        "free": free, "was_open": was_open, "bid": bid["id"], "bought": bought["status"],
        "closed": [o["id"] for o in exchange.fetch_closed_orders(symbol)],
        "canceled": exchange.fetch_order(bid["id"], symbol)["status"],
        "trades": len(exchange.fetch_my_trades(symbol)),
        "positions": [(p["side"], p["contracts"]) for p in exchange.fetch_positions([symbol])],
        "ask": ask["id"],
    }


async def run_async(exchange: Any, symbol: str, market_moves: Callable[[float], None]
                    ) -> dict[str, Any]:
    await exchange.load_markets()
    last = (await exchange.fetch_ticker(symbol))["last"]
    free = (await exchange.fetch_balance())["free"]["USDT"]
    amount = float(exchange.amount_to_precision(symbol, 0.2))
    low = float(exchange.price_to_precision(symbol, last * 0.9))
    bid = await exchange.create_limit_buy_order(symbol, amount, low)
    bid = await exchange.edit_order(bid["id"], symbol, "limit", "buy", amount, low - 1)
    was_open = [o["id"] for o in await exchange.fetch_open_orders(symbol)]
    await exchange.cancel_order(bid["id"], symbol)
    bought = await exchange.create_market_buy_order(symbol, amount * 2)
    await exchange.create_order(symbol, "market", "sell", amount)
    high = float(exchange.price_to_precision(symbol, last * 1.1))
    ask = await exchange.create_order(symbol, "limit", "sell", amount, high)
    seen: list[str] = []

    async def watch() -> None:
        while True:
            for order in await exchange.watch_orders(symbol):
                seen.append(order["status"])
                if order["id"] == ask["id"] and order["status"] == "closed":
                    return

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.5)  # subscribed before the market moves
    await asyncio.get_running_loop().run_in_executor(None, market_moves, high + 1)
    await asyncio.wait_for(watcher, 30)
    return {
        "free": free, "was_open": was_open, "bid": bid["id"], "bought": bought["status"],
        "closed": [o["id"] for o in await exchange.fetch_closed_orders(symbol)],
        "canceled": (await exchange.fetch_order(bid["id"], symbol))["status"],
        "trades": len(await exchange.fetch_my_trades(symbol)),
        "positions": [(p["side"], p["contracts"])
                      for p in await exchange.fetch_positions([symbol])],
        "ask": ask["id"], "watched": seen,
    }
