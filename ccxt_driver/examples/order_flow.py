"""OMS-first order flow: open a position with OMS targets, place / change / cancel a limit
order, then close the position through the OMS."""

from __future__ import annotations

import sys

from ccxt_driver import OmsCcxtExchange
from ccxt_driver.examples.connect import SYMBOL, config


def main() -> None:
    exchange = OmsCcxtExchange(config())
    exchange.load_markets()
    out = sys.stdout.write
    last = exchange.fetch_ticker(SYMBOL)["last"]
    entry = exchange.create_order(SYMBOL, "market", "buy", 0.1, None, {
        "oms_stop_loss": exchange.price_to_precision(SYMBOL, last * 0.9),
        "oms_stop_gain": exchange.price_to_precision(SYMBOL, last * 1.2),
        "comment": "order flow example",
    })
    position_id = entry["info"]["position_id"]
    out(f"opened position {position_id} with order {entry['id']} ({entry['status']})\n")
    bid = exchange.create_limit_buy_order(SYMBOL, 0.1, exchange.price_to_precision(SYMBOL, last * 0.8))
    bid = exchange.edit_order(bid["id"], SYMBOL, "limit", "buy", 0.2,
                              exchange.price_to_precision(SYMBOL, last * 0.85))
    out(f"limit {bid['id']} changed to {bid['amount']} @ {bid['price']}\n")
    out(f"canceled: {exchange.cancel_order(bid['id'])['status']}\n")
    moved = exchange.set_position_targets(position_id, stop_gain=exchange.price_to_precision(
        SYMBOL, last * 1.3))
    out(f"targets: stop loss {moved['stopLossPrice']}, stop gain {moved['takeProfitPrice']}\n")
    closing = exchange.close_position(position_id)
    out(f"closed with order {closing['id']} ({closing['status']})\n")


if __name__ == "__main__":
    main()
