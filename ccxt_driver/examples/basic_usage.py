"""Basic usage: markets, ticker, balance, one market order, its trade and position."""

from __future__ import annotations

import sys

from ccxt_driver import OmsCcxtExchange
from ccxt_driver.examples.connect import SYMBOL, config


def main() -> None:
    exchange = OmsCcxtExchange(config())
    exchange.load_markets()
    out = sys.stdout.write
    out(f"{len(exchange.markets)} markets; {SYMBOL} last {exchange.fetch_ticker(SYMBOL)['last']}\n")
    out(f"free USDT {exchange.fetch_balance()['free'].get('USDT')}\n")
    order = exchange.create_market_buy_order(SYMBOL, 0.1, {"comment": "basic example"})
    out(f"order {order['id']} {order['status']} filled {order['filled']} at {order['average']}\n")
    for trade in exchange.fetch_my_trades(SYMBOL, limit=3):
        out(f"trade {trade['id']} {trade['side']} {trade['amount']} @ {trade['price']}\n")
    for position in exchange.fetch_positions([SYMBOL]):
        out(f"position {position['id']} {position['side']} {position['contracts']} "
            f"entry {position['entryPrice']} uPnL {position['unrealizedPnl']}\n")


if __name__ == "__main__":
    main()
