"""Binance's request security as `apps/paper/wire/signing.py` checks it: the documented HMAC
example, the key, signature and timestamp refusals with Binance's codes."""

from __future__ import annotations

import pytest

from apps.paper.wire.signing import WireError, sign, verify, verify_ws

# Binance's documented example (spot API docs, "SIGNED endpoint examples for POST /api/v3/order")
DOC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_QUERY = ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
             "&recvWindow=5000&timestamp=1499827319559")  # fmt: skip
DOC_SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
NOW = 1499827319559


def lookup(key: str) -> str | None:
    return DOC_SECRET if key == DOC_KEY else None


def headers(key: str = DOC_KEY) -> dict[str, str]:
    return {"x-mbx-apikey": key}


def code(excinfo: pytest.ExceptionInfo[WireError]) -> tuple[int, int]:
    return excinfo.value.status, excinfo.value.code


def test_the_documented_signature() -> None:
    assert sign(DOC_SECRET, DOC_QUERY) == DOC_SIGNATURE


@pytest.mark.parametrize(("query", "body"), [
    (f"{DOC_QUERY}&signature={DOC_SIGNATURE}", ""),  # all in the query string
    ("", f"{DOC_QUERY}&signature={DOC_SIGNATURE}"),  # all in the body
])  # fmt: skip
def test_signed_in_query_or_body(query: str, body: str) -> None:
    signed = verify(query, body, headers(), lookup, NOW)
    assert signed.api_key == DOC_KEY
    assert signed.params["price"] == "0.1"
    assert "signature" not in signed.params


def test_mixed_query_and_body_is_signed_over_both_concatenated() -> None:
    query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
    body = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    signature = sign(DOC_SECRET, query + body)
    assert verify(query, f"{body}&signature={signature}", headers(), lookup, NOW).params[
        "quantity"] == "1"


@pytest.mark.parametrize(("hdrs", "query", "expected"), [
    ({}, f"{DOC_QUERY}&signature={DOC_SIGNATURE}", (401, -2014)),
    (headers("nobody"), f"{DOC_QUERY}&signature={DOC_SIGNATURE}", (401, -2015)),
    (headers(), DOC_QUERY, (400, -1102)),
    (headers(), f"{DOC_QUERY}&signature={'0' * 64}", (400, -1022)),
    (headers(), f"{DOC_QUERY.replace('price=0.1', 'price=0.2')}&signature={DOC_SIGNATURE}",
     (400, -1022)),
])  # fmt: skip
def test_refusals(hdrs: dict[str, str], query: str, expected: tuple[int, int]) -> None:
    with pytest.raises(WireError) as excinfo:
        verify(query, "", hdrs, lookup, NOW)
    assert code(excinfo) == expected


@pytest.mark.parametrize(("now", "ok"), [
    (NOW, True), (NOW + 5000, True), (NOW + 5001, False),  # recvWindow 5000 behind
    (NOW - 1000, True), (NOW - 1001, False),  # at most 1 s ahead of the server
])  # fmt: skip
def test_timestamp_within_recv_window(now: int, ok: bool) -> None:
    query = f"{DOC_QUERY}&signature={DOC_SIGNATURE}"
    if ok:
        verify(query, "", headers(), lookup, now)
        return
    with pytest.raises(WireError) as excinfo:
        verify(query, "", headers(), lookup, now)
    assert code(excinfo) == (400, -1021)


def test_recv_window_above_60000_is_refused() -> None:
    query = f"symbol=LTCBTC&recvWindow=60001&timestamp={NOW}"
    with pytest.raises(WireError) as excinfo:
        verify(f"{query}&signature={sign(DOC_SECRET, query)}", "", headers(), lookup, NOW)
    assert code(excinfo) == (400, -1131)


def test_websocket_api_signature_is_over_sorted_params() -> None:
    params: dict[str, object] = {"timestamp": NOW, "apiKey": DOC_KEY}
    params["signature"] = sign(DOC_SECRET, f"apiKey={DOC_KEY}&timestamp={NOW}")
    assert verify_ws(params, lookup, NOW).api_key == DOC_KEY
    with pytest.raises(WireError) as excinfo:
        verify_ws({**params, "signature": "00"}, lookup, NOW)
    assert code(excinfo) == (400, -1022)
    with pytest.raises(WireError) as excinfo:
        verify_ws(params, lookup, NOW + 60_000)
    assert code(excinfo) == (400, -1021)
