"""The Bybit adapter's pure parts: request parameters from a query or a JSON body, the
envelope, and the public stream's control replies."""

from __future__ import annotations

import pytest

from apps.paper.wire.bybit_server import envelope, params_of, public_reply
from apps.paper.wire.bybit_signing import BybitError


def test_params_of_a_get_and_a_post() -> None:
    assert params_of("GET", "category=linear&symbol=BTCUSDT", "") == {
        "category": "linear", "symbol": "BTCUSDT"}
    body = '{"category": "linear", "qty": "0.1", "reduceOnly": true, "price": null}'
    assert params_of("POST", "ignored=1", body) == {"category": "linear", "qty": "0.1",
                                                    "reduceOnly": "true"}  # fmt: skip
    for bad in ("{", "[1]"):
        with pytest.raises(BybitError) as excinfo:
            params_of("POST", "", bad)
        assert excinfo.value.code == 10001


def test_envelope() -> None:
    assert envelope({"list": []}, 7) == {"retCode": 0, "retMsg": "OK", "result": {"list": []},
                                         "retExtInfo": {}, "time": 7}  # fmt: skip


def test_public_replies() -> None:
    topics: set[str] = set()
    markets = {"BTCUSDT"}
    ok = public_reply({"op": "subscribe", "args": ["tickers.BTCUSDT"], "req_id": "1"}, topics,
                      markets, "c")  # fmt: skip
    assert (ok["success"], ok["op"], ok["req_id"], topics) == (
        True, "subscribe", "1", {"tickers.BTCUSDT"})
    bad = public_reply({"op": "subscribe", "args": ["orderbook.50.BTCUSDT"]}, topics, markets,
                       "c")  # fmt: skip
    assert bad["success"] is False
    assert "orderbook.50.BTCUSDT" in bad["ret_msg"]
    assert public_reply({"op": "ping"}, topics, markets, "c")["ret_msg"] == "pong"
    public_reply({"op": "unsubscribe", "args": ["tickers.BTCUSDT"]}, topics, markets, "c")
    assert topics == set()
    assert public_reply({"op": "nope"}, topics, markets, "c")["success"] is False
