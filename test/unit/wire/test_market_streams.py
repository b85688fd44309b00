"""The market streams' control messages and the 24hrTicker event, as Binance frames them."""

from __future__ import annotations

from apps.paper.wire.market_streams import subscription_reply, ticker_event


def test_subscribe_list_unsubscribe() -> None:
    streams: set[str] = set()
    assert subscription_reply({"method": "SUBSCRIBE", "params": ["btcusdt@ticker"], "id": 1},
                              streams) == {"result": None, "id": 1}  # fmt: skip
    assert subscription_reply({"method": "LIST_SUBSCRIPTIONS", "id": 2}, streams) == {
        "result": ["btcusdt@ticker"], "id": 2}
    subscription_reply({"method": "UNSUBSCRIBE", "params": ["btcusdt@ticker"], "id": 3}, streams)
    assert streams == set()
    assert subscription_reply({"method": "NOPE", "id": 4}, streams)["error"]["code"] == 2


def test_ticker_event_from_the_rest_ticker() -> None:
    rest = {"symbol": "BTCUSDT", "priceChange": "1.00000000", "priceChangePercent": "0.002",
            "weightedAvgPrice": "2", "prevClosePrice": "3", "lastPrice": "4", "lastQty": "5",
            "bidPrice": "6", "bidQty": "7", "askPrice": "8", "askQty": "9", "openPrice": "10",
            "highPrice": "11", "lowPrice": "12", "volume": "13", "quoteVolume": "14",
            "openTime": 15, "closeTime": 16}  # fmt: skip
    event = ticker_event(rest, 99)
    assert (event["e"], event["E"], event["s"], event["c"], event["b"], event["a"]) == (
        "24hrTicker", 99, "BTCUSDT", "4", "6", "8")
    assert (event["o"], event["h"], event["l"], event["v"], event["C"]) == ("10", "11", "12",
                                                                           "13", 16)
