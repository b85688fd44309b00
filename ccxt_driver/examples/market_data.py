"""Market data through the account's CCXT gateway: markets, ticker, order book, trades, OHLCV,
and the market helpers."""

from __future__ import annotations

import sys

from ccxt_driver import OmsCcxtExchange
from ccxt_driver.examples.connect import SYMBOL, config


def main() -> None:
    exchange = OmsCcxtExchange(config())
    exchange.load_markets()
    out = sys.stdout.write
    market = exchange.market(SYMBOL)
    out(f"{SYMBOL}: type {market['type']} precision {market['precision']} "
        f"min amount {market['limits']['amount']['min']}\n")
    out(f"0.123456 rounds to {exchange.amount_to_precision(SYMBOL, 0.123456)}\n")
    ticker = exchange.fetch_ticker(SYMBOL)
    out(f"ticker bid {ticker['bid']} ask {ticker['ask']} last {ticker['last']}\n")
    book = exchange.fetch_order_book(SYMBOL, 3)
    out(f"book bids {book['bids']} asks {book['asks']}\n")
    out(f"{len(exchange.fetch_trades(SYMBOL))} public trades, "
        f"{len(exchange.fetch_ohlcv(SYMBOL, '1m', limit=5))} candles\n")


if __name__ == "__main__":
    main()
