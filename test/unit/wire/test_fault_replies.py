"""Each dialect's answer to a refused request, as its real venue sends it, and the CCXT class
its unmodified exchange class raises for it (CCXT's own error handling, no network)."""

from __future__ import annotations

import json

import ccxt
import pytest

from apps.paper.wire.fault_plan import Refusal
from apps.paper.wire.fault_replies import REPLIES, Reply, plain_http, render_for

NOW = 1_760_000_000_000
CASES = [
    ("binance", Refusal("rate_limit", 5), 429, ccxt.DDoSProtection),
    ("binance", Refusal("rate_limit", 5, banned=True), 418, ccxt.DDoSProtection),
    ("binance", Refusal("server_error"), 500, ccxt.OperationFailed),
    ("binance", Refusal("unavailable"), 503, ccxt.ExchangeNotAvailable),
    ("binance", Refusal("maintenance"), 503, ccxt.OnMaintenance),
    ("binanceusdm", Refusal("rate_limit", 5), 429, ccxt.DDoSProtection),
    ("binanceusdm", Refusal("maintenance"), 503, ccxt.OnMaintenance),
    ("bybit", Refusal("rate_limit", 5), 200, ccxt.RateLimitExceeded),
    ("bybit", Refusal("rate_limit", 5, banned=True), 403, ccxt.RateLimitExceeded),
    ("bybit", Refusal("server_error"), 200, ccxt.ExchangeError),
    ("bybit", Refusal("unavailable"), 503, ccxt.ExchangeNotAvailable),
    ("bybit", Refusal("maintenance"), 503, ccxt.ExchangeError),
    ("okx", Refusal("rate_limit", 5), 429, ccxt.RateLimitExceeded),
    ("okx", Refusal("rate_limit", 5, banned=True), 429, ccxt.ExchangeError),
    ("okx", Refusal("server_error"), 500, ccxt.ExchangeNotAvailable),
    ("okx", Refusal("unavailable"), 503, ccxt.ExchangeNotAvailable),
    ("okx", Refusal("maintenance"), 503, ccxt.OnMaintenance),
]


def raised(dialect: str, reply: Reply) -> type[Exception] | None:
    exchange = getattr(ccxt, dialect)()
    try:
        parsed = json.loads(reply.body)
    except json.JSONDecodeError:
        parsed = None
    headers = dict(reply.headers)
    try:
        exchange.handle_errors(reply.status, "", "http://venue/order", "POST", headers,
                               reply.body, parsed, {}, "")  # fmt: skip
        exchange.handle_http_status_code(reply.status, "", "http://venue/order", "POST",
                                         reply.body)  # fmt: skip
    except Exception as exc:  # the class is what is checked
        return type(exc)
    return None


@pytest.mark.parametrize(("dialect", "refusal", "status", "error"), CASES)
def test_ccxt_raises_what_it_maps_the_answer_to(dialect: str, refusal: Refusal, status: int,
                                                error: type[Exception]) -> None:  # fmt: skip
    reply = REPLIES[dialect](refusal, NOW)
    assert reply.status == status
    assert raised(dialect, reply) is error


def test_binance_says_when_to_come_back() -> None:
    limited = REPLIES["binance"](Refusal("rate_limit", 9), NOW)
    banned = REPLIES["binance"](Refusal("rate_limit", 9, banned=True), NOW)
    assert limited.headers["Retry-After"] == banned.headers["Retry-After"] == "9"
    assert json.loads(limited.body)["code"] == json.loads(banned.body)["code"] == -1003
    assert str(NOW + 9000) in json.loads(banned.body)["msg"]


def test_bybit_says_when_its_limit_resets() -> None:
    reply = REPLIES["bybit"](Refusal("rate_limit", 2), NOW)
    assert reply.headers["X-Bapi-Limit-Reset-Timestamp"] == str(NOW + 2000)
    assert json.loads(reply.body)["retCode"] == 10006


def test_okx_answers_its_envelope_with_the_status_of_its_error_table() -> None:
    """`code` and `msg` as strings, `data` empty; the code decides what CCXT raises (its okx
    class maps a bare HTTP 429 to ExchangeNotAvailable: the 50011 in the body is what makes it
    RateLimitExceeded)."""
    codes = {kind: json.loads(REPLIES["okx"](Refusal(kind), NOW).body)
             for kind in ("rate_limit", "server_error", "maintenance")}  # fmt: skip
    assert {k: (b["code"], b["data"]) for k, b in codes.items()} == {
        "rate_limit": ("50011", []), "server_error": ("50026", []),
        "maintenance": ("50001", [])}
    banned = REPLIES["okx"](Refusal("rate_limit", banned=True), NOW)
    assert json.loads(banned.body)["code"] == "50061"
    assert raised("okx", Reply(429, "Too Many Requests", "text/plain")) is (
        ccxt.ExchangeNotAvailable)


def test_a_dialect_without_its_own_rendering_answers_plain_http() -> None:
    assert render_for("elsewhere") is plain_http
    assert render_for("bybit") is REPLIES["bybit"]
    limited = plain_http(Refusal("rate_limit", 4), NOW)
    assert (limited.status, limited.headers["Retry-After"]) == (429, "4")
    assert raised("kraken", limited) is ccxt.RateLimitExceeded
    assert raised("kraken", plain_http(Refusal("maintenance"), NOW)) is ccxt.ExchangeNotAvailable
