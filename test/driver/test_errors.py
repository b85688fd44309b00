"""Gateway error codes → CCXT exception classes: every code the real app answers here, and the
venue/transport ones (429, 502, 503, 504, timeouts, refused connections) through a stub server
speaking the gateway's error model."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import ccxt
import pytest
from sqlalchemy import create_engine, update

from apps.oms.store.tables import account_risk_state
from ccxt_driver import OmsCcxtExchange, OmsCcxtProExchange, PositionNotFound, RiskBlocked
from ccxt_driver.errors import ERRORS, exception_for
from test.driver.conftest import SYMBOL, Stack, make_sync

pytestmark = pytest.mark.mysql


def raises(klass: type[Exception], code: str | None, call: Any) -> Exception:
    with pytest.raises(klass) as info:
        call()
    assert getattr(info.value, "code", None) == code, (code, info.value)
    return info.value


def test_real_app_error_codes(ex: OmsCcxtExchange, stack: Stack, account: int) -> None:
    raises(ccxt.AuthenticationError, "invalid_api_key",
           lambda: make_sync(stack, account, apiKey="nope").fetch_open_orders())
    raises(ccxt.AuthenticationError, "missing_api_key",
           lambda: make_sync(stack, account, apiKey="").fetch_open_orders())
    raises(ccxt.AccountNotEnabled, "account_not_found",
           lambda: make_sync(stack, 999_999).fetch_open_orders())
    raises(ccxt.PermissionDenied, "admin_read_only",
           lambda: make_sync(stack, account, apiKey=stack.admin_key).create_order(
               SYMBOL, "market", "buy", 0.1))
    raises(ccxt.OrderNotFound, "order_not_found", lambda: ex.fetch_order("999999"))
    raises(ccxt.OrderNotFound, "order_not_found", lambda: ex.cancel_order("999999"))
    raises(ccxt.BadSymbol, "unsupported_market",
           lambda: ex.create_order("NOPE/USDT", "market", "buy", 1))
    raises(ccxt.InvalidOrder, "validation_error",
           lambda: ex.create_order(SYMBOL, "limit", "buy", 0.1))  # limit without price
    raises(ccxt.InvalidOrder, "invalid_qty",
           lambda: ex.create_order(SYMBOL, "market", "buy", "0.000000001"))
    raises(PositionNotFound, "position_not_found", lambda: ex.close_position(999_999))
    raises(PositionNotFound, "position_not_found", lambda: ex.fetch_position(999_999))
    filled = ex.create_order(SYMBOL, "market", "buy", 0.1, None, {"clientOrderId": "dup1x"})
    raises(ccxt.InvalidOrder, "invalid_order_state", lambda: ex.cancel_order(filled["id"]))
    raises(ccxt.DuplicateOrderId, "conflict", lambda: ex.create_order(
        SYMBOL, "market", "buy", 0.2, None, {"clientOrderId": "dup1x"}))
    raises(ccxt.InsufficientFunds, "insufficient_funds",
           lambda: ex.create_order(SYMBOL, "market", "buy", 1_000_000))
    engine = create_engine(stack.url.replace("+aiomysql", "+pymysql"))
    with engine.begin() as conn:
        conn.execute(update(account_risk_state)
                     .where(account_risk_state.c.account_id == account)
                     .values(allow_new_positions=False))
    engine.dispose()
    blocked = raises(RiskBlocked, "risk_blocked",
                     lambda: ex.create_order(SYMBOL, "market", "buy", 0.1))
    assert isinstance(blocked, ccxt.InvalidOrder)


class Stub(BaseHTTPRequestHandler):
    answers: ClassVar[dict[str, tuple[int, Any, float]]] = {}

    def _answer(self) -> None:
        status, body, delay = self.answers.get(self.path.split("?")[0], (404, {}, 0))
        time.sleep(delay)
        data = json.dumps(body).encode() if body is not None else b""
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out first (the timeout case)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def stub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def error(code: str, **details: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": code, "details": details, "trace_id": "t"}}


TRANSPORT = [
    ("/oms/orders/open", 429, error("rate_limited"), ccxt.RateLimitExceeded),
    ("/oms/orders/history", 503, error("exchange_unavailable"), ccxt.ExchangeNotAvailable),
    ("/oms/deals", 504, None, ccxt.RequestTimeout),
    ("/ccxt/1/fetch_ticker", 502, error("exchange_error", ccxt_error="BadSymbol"),
     ccxt.BadSymbol),
    ("/ccxt/1/fetch_balance", 502, error("exchange_error", ccxt_error="ExchangeError"),
     ccxt.ExchangeError),
    ("/ccxt/1/fetch_order_book", 403, error("function_not_allowed"), ccxt.PermissionDenied),
    ("/ccxt/1/fetch_trades", 422, error("not_supported"), ccxt.NotSupported),
    ("/oms/portfolio", 500, error("internal_error"), ccxt.ExchangeError),
]


def test_transport_and_venue_errors(stub: str) -> None:
    Stub.answers = {path: (status, body, 0) for path, status, body, _ in TRANSPORT}
    Stub.answers["/oms/accounts"] = (200, {"items": [{"position_mode": "hedge"}]}, 0)
    Stub.answers["/ccxt/1/fetch_ohlcv"] = (200, {"ok": True, "result": []}, 2.0)
    ex = OmsCcxtExchange(api_key="k", account_id=1, base_url=stub, timeout_seconds=0.5)
    calls = {
        "/oms/orders/open": ex.fetch_open_orders, "/oms/orders/history": ex.fetch_orders,
        "/oms/deals": ex.fetch_my_trades, "/ccxt/1/fetch_ticker": lambda: ex.fetch_ticker("X"),
        "/ccxt/1/fetch_balance": ex.fetch_balance,
        "/ccxt/1/fetch_order_book": lambda: ex.fetch_order_book("X"),
        "/ccxt/1/fetch_trades": lambda: ex.fetch_trades("X"), "/oms/portfolio": ex.fetch_positions,
    }
    for path, _status, _body, klass in TRANSPORT:
        with pytest.raises(klass):
            calls[path]()
    with pytest.raises(ccxt.RequestTimeout):
        ex.fetch_ohlcv("X")
    refused = OmsCcxtExchange(api_key="k", account_id=1, base_url="http://127.0.0.1:9")
    with pytest.raises(ccxt.NetworkError):
        refused.fetch_open_orders()


async def test_async_errors_map_the_same(stub: str) -> None:
    Stub.answers = {"/oms/orders/open": (429, error("rate_limited"), 0),
                    "/ccxt/1/fetch_ohlcv": (200, {"ok": True, "result": []}, 2.0)}
    ex = OmsCcxtProExchange(api_key="k", account_id=1, base_url=stub, timeout_seconds=0.5)
    try:
        with pytest.raises(ccxt.RateLimitExceeded):
            await ex.fetch_open_orders()
        with pytest.raises(ccxt.RequestTimeout):
            await ex.fetch_ohlcv("X")
    finally:
        await ex.close()


def test_every_code_has_a_class() -> None:
    for code, klass in ERRORS.items():
        exc = exception_for(400, error(code))
        assert type(exc) is klass, code
        assert isinstance(exc, ccxt.BaseError)
    assert type(exception_for(422, error("validation_error"), order=True)) is ccxt.InvalidOrder
    assert type(exception_for(409, error("conflict"), order=True)) is ccxt.DuplicateOrderId
    assert type(exception_for(504, None)) is ccxt.RequestTimeout
    item = {"error": {"code": "validation_error", "message": "m",
                      "details": {"results": [{"ok": False, "error": {"code": "invalid_qty"}}]}}}
    assert type(exception_for(422, item)) is ccxt.InvalidOrder
