"""A ccxt.pro-style watch loop: order, trade and position updates over one websocket while a
market order is placed. `CCXT_OMS_WATCH_SECONDS` bounds the run (default 10 s)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys

from ccxt_driver import OmsCcxtProExchange
from ccxt_driver.examples.connect import SYMBOL, config


async def main() -> None:
    exchange = OmsCcxtProExchange(config())
    out = sys.stdout.write

    async def loop(name: str, watch: object) -> None:
        while True:
            for update in await watch():  # type: ignore[operator]
                out(f"{name}: {update['id']} {update.get('status') or update.get('side')}\n")

    try:
        await exchange.load_markets()
        tasks = [asyncio.create_task(loop(n, w)) for n, w in (
            ("order", exchange.watch_orders), ("trade", exchange.watch_my_trades),
            ("position", exchange.watch_positions))]
        await exchange.stream.start()
        await exchange.create_market_buy_order(SYMBOL, 0.1, {"comment": "watch example"})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*tasks),
                                   float(os.environ.get("CCXT_OMS_WATCH_SECONDS", "10")))
    finally:
        await exchange.close()


if __name__ == "__main__":
    asyncio.run(main())
