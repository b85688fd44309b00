"""Bybit v5's request security as `apps/paper/wire/bybit_signing.py` checks it: the signed
string per method, the receive window, the private stream's `auth` and alive time, and Bybit's
retCodes."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from apps.paper.wire.bybit_server import Limits, alive_seconds
from apps.paper.wire.bybit_signing import BybitError, verify, verify_ws_auth

KEY, SECRET = "XXXXXXXXXX", "YYYYYYYYYY"
NOW = 1658384314791


def lookup(key: str) -> str | None:
    return SECRET if key == KEY else None


def hmac_hex(text: str) -> str:
    return hmac.new(SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()


def headers(payload: str, stamp: int = NOW, window: str = "5000", key: str = KEY,
            signature: str | None = None) -> dict[str, str]:  # fmt: skip
    sign = hmac_hex(f"{stamp}{key}{window}{payload}") if signature is None else signature
    return {"x-bapi-api-key": key, "x-bapi-timestamp": str(stamp),
            "x-bapi-recv-window": window, "x-bapi-sign": sign}  # fmt: skip


def code(excinfo: pytest.ExceptionInfo[BybitError]) -> int:
    return excinfo.value.code


def test_get_signs_the_query_and_post_the_body() -> None:
    query = "category=linear&symbol=BTCUSDT"
    body = '{"category":"linear","symbol":"BTCUSDT","side":"Buy"}'
    assert verify("GET", query, "", headers(query), lookup, NOW) == KEY
    assert verify("POST", "", body, headers(body), lookup, NOW) == KEY
    with pytest.raises(BybitError) as excinfo:  # a POST's query string is not what is signed
        verify("POST", query, body, headers(query), lookup, NOW)
    assert code(excinfo) == 10004


@pytest.mark.parametrize(("hdrs", "expected"), [
    (headers("", key="nobody"), 10003),
    ({}, 10003),
    (headers("", signature="0" * 64), 10004),
    (headers("", stamp=NOW - 5001), 10002),  # older than the window
    (headers("", stamp=NOW + 1000), 10002),  # a second ahead of the server
    ({**headers(""), "x-bapi-timestamp": "soon"}, 10001),
])  # fmt: skip
def test_refusals(hdrs: dict[str, str], expected: int) -> None:
    with pytest.raises(BybitError) as excinfo:
        verify("GET", "", "", hdrs, lookup, NOW)
    assert code(excinfo) == expected
    assert excinfo.value.body()["retCode"] == expected


def test_the_window_is_the_header_or_five_seconds() -> None:
    assert verify("GET", "", "", headers("", stamp=NOW - 5000), lookup, NOW) == KEY
    assert verify("GET", "", "", headers("", stamp=NOW - 20000, window="30000"), lookup,
                  NOW) == KEY  # fmt: skip
    no_window = headers("", window="")
    assert verify("GET", "", "", no_window, lookup, NOW) == KEY


def test_private_stream_auth() -> None:
    expires = str(NOW + 10000)
    signature = hmac_hex("GET/realtime" + expires)
    assert verify_ws_auth([KEY, expires, signature], lookup, NOW) == KEY
    for args, expected in (([KEY, str(NOW - 1), hmac_hex(f"GET/realtime{NOW - 1}")], 10002),
                           ([KEY, expires, "0" * 64], 10004), (["nobody", expires, signature],
                                                               10003), ([KEY], 10001)):  # fmt: skip
        with pytest.raises(BybitError) as excinfo:
            verify_ws_auth(args, lookup, NOW)
        assert code(excinfo) == expected


def test_private_alive_time() -> None:
    assert [alive_seconds(t) for t in (None, "", "45s", "1m", "2M", "120", "5s", "1h", "x")] == [
        600, 600, 45, 60, 120, 120, 30, 600, 600]


def test_limit_headers_count_per_caller_endpoint_and_second() -> None:
    limits = Limits()
    assert limits.headers("k", "/v5/order/create", 1_000)["X-Bapi-Limit-Status"] == "9"
    assert limits.headers("k", "/v5/order/create", 1_999)["X-Bapi-Limit-Status"] == "8"
    assert limits.headers("k", "/v5/order/cancel", 1_999)["X-Bapi-Limit-Status"] == "9"
    assert limits.headers("j", "/v5/order/create", 1_999)["X-Bapi-Limit-Status"] == "9"
    fresh = limits.headers("k", "/v5/order/create", 2_000)
    assert (fresh["X-Bapi-Limit-Status"], fresh["X-Bapi-Limit-Reset-Timestamp"]) == ("9", "3000")
