"""Every `TRADE_RETCODE_*` mt5_driver can answer is reached here: on the real stack where the
paper venue, the books or the risk rules produce it, and through a stand-in gateway answering
the wire contract (docs/api.md) for what only a live venue produces (a halted market, rate
limits, outages, venue errors). The last test checks that this list covers the source."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import create_engine, insert, update

import mt5_driver as mt5
from apps.oms.store.tables import account_risk_state, risk_limits
from test.mt5.conftest import Stack

pytestmark = pytest.mark.mysql
REACHED: set[int] = set()
SPOT = "BTC/USDT"


def deal(symbol: str = "USDJPY", volume: float = 0.1, kind: int = mt5.ORDER_TYPE_BUY,
         **more: Any) -> Any:  # fmt: skip
    request = {"action": mt5.TRADE_ACTION_DEAL, "symbol": symbol, "volume": volume,
               "type": kind, **more}  # fmt: skip
    return mt5.order_send(request)


def expect(result: Any, retcode: int) -> Any:
    assert result is not None, mt5.last_error()
    assert result.retcode == retcode, result
    REACHED.add(retcode)
    return result


def write(stack: Stack, statement: Any) -> None:
    engine = create_engine(stack.url.replace("+aiomysql", "+pymysql"))
    with engine.begin() as conn:
        conn.execute(statement)
    engine.dispose()


def test_books_and_requests(stack: Stack, connect: Callable[..., int]) -> None:
    stack.price("50000")
    connect("hedge")
    opened = expect(deal(sl=49000.0, tp=51000.0), mt5.TRADE_RETCODE_DONE)
    expect(deal(volume=0.00001), mt5.TRADE_RETCODE_INVALID_VOLUME)
    expect(deal(volume=1000.0), mt5.TRADE_RETCODE_NO_MONEY)
    expect(deal(sl=51000.0), mt5.TRADE_RETCODE_INVALID_STOPS)
    expect(deal(type_filling=mt5.ORDER_FILLING_BOC), mt5.TRADE_RETCODE_INVALID_FILL)
    expect(deal(position=999_999_999, kind=mt5.ORDER_TYPE_SELL), mt5.TRADE_RETCODE_INVALID)
    expect(deal(SPOT, kind=mt5.ORDER_TYPE_SELL), mt5.TRADE_RETCODE_LONG_ONLY)
    expect(mt5.order_send({"action": mt5.TRADE_ACTION_PENDING, "symbol": "USDJPY",
                           "volume": 0.1, "type": mt5.ORDER_TYPE_BUY, "price": 49000.0}),
           mt5.TRADE_RETCODE_INVALID_ORDER)  # fmt: skip
    limit = {"action": mt5.TRADE_ACTION_PENDING, "symbol": "USDJPY", "volume": 0.1,
             "type": mt5.ORDER_TYPE_BUY_LIMIT, "price": 51000.0}  # above the ask
    expect(mt5.order_send(limit), mt5.TRADE_RETCODE_INVALID_PRICE)
    below = {**limit, "price": 49000.0}
    expect(mt5.order_send(below), mt5.TRADE_RETCODE_INVALID_FILL)  # FOK (0): not a resting order
    expect(mt5.order_send({**limit, "price": 49000.0, "type_time": mt5.ORDER_TIME_SPECIFIED,
                           "expiration": 2_000_000_000}), mt5.TRADE_RETCODE_INVALID_EXPIRATION)
    sltp = {"action": mt5.TRADE_ACTION_SLTP, "position": opened.order, "sl": 49000.0,
            "tp": 51000.0}  # fmt: skip
    expect(mt5.order_send(sltp), mt5.TRADE_RETCODE_NO_CHANGES)
    close = {"kind": mt5.ORDER_TYPE_SELL, "position": opened.order}
    expect(deal(volume=0.5, **close), mt5.TRADE_RETCODE_INVALID_CLOSE_VOLUME)
    position_id = stack.positions(stack_account := mt5.account_info().login)[0]["id"]
    stack.cmd(stack_account, "close_position", position_id=position_id, order_type="limit",
              price="60000", qty="0.1")  # a resting close reserves the whole position
    expect(deal(**close), mt5.TRADE_RETCODE_CLOSE_ORDER_EXIST)
    stack.cmd(stack_account, "cancel_all_orders")
    expect(deal(**close), mt5.TRADE_RETCODE_DONE)
    expect(deal(**close), mt5.TRADE_RETCODE_POSITION_CLOSED)


def test_netting_refuses_close_by(stack: Stack, connect: Callable[..., int]) -> None:
    stack.price("50000")
    connect("netting")
    expect(mt5.order_send({"action": mt5.TRADE_ACTION_CLOSE_BY, "position": 1,
                           "position_by": 2}), mt5.TRADE_RETCODE_INVALID_ORDER)  # fmt: skip


def test_venue_fills_and_refusals(stack: Stack, connect: Callable[..., int]) -> None:
    stack.price("50000")
    connect("hedge", {"paper": {"book": {"levels": 1, "level_volume": "0.1"}}})
    expect(deal(volume=0.5, type_filling=mt5.ORDER_FILLING_IOC), mt5.TRADE_RETCODE_DONE_PARTIAL)
    expect(deal(volume=0.5, type_filling=mt5.ORDER_FILLING_FOK), mt5.TRADE_RETCODE_PRICE_OFF)
    connect("hedge", {"paper": {"faults": {"reject_rate": "1"}}})
    expect(deal(), mt5.TRADE_RETCODE_REJECT)
    connect("hedge", {"paper": {"faults": {"fill_latency_ms": 3000}}})
    placed = expect(deal(), mt5.TRADE_RETCODE_PLACED)
    stack.until(lambda: stack.order(placed.order)["status"] == "FILLED", what="the late fill")


def test_a_command_still_running_is_a_timeout(stack: Stack, connect: Callable[..., int]) -> None:
    stack.price("50000")
    connect("hedge", {"paper": {"faults": {"ack_latency_ms": 12000}}})  # beyond the 10 s wait
    late = expect(deal(), mt5.TRADE_RETCODE_TIMEOUT)
    assert late.order > 0  # the order exists: orders_get / history_orders_get find it
    stack.until(lambda: stack.order(late.order)["status"] == "FILLED", what="the slow venue")


def test_keys_and_risk_rules(stack: Stack, connect: Callable[..., int],
                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    stack.price("50000")
    account = connect("hedge")
    monkeypatch.setenv("MT5_OMS_PASSWORD", stack.admin_key)  # admins read, never trade
    assert mt5.initialize()
    expect(deal(), mt5.TRADE_RETCODE_TRADE_DISABLED)
    monkeypatch.setenv("MT5_OMS_PASSWORD", stack.trader_key)
    assert mt5.initialize()
    write(stack, insert(risk_limits).values(account_id=account, strategy_id=0,
                                            max_open_positions=1, max_order_qty=Decimal(1),
                                            max_open_orders_per_symbol=1,
                                            updated_at=datetime.now(UTC)))
    expect(deal(), mt5.TRADE_RETCODE_DONE)
    expect(deal(), mt5.TRADE_RETCODE_LIMIT_POSITIONS)
    write(stack, update(risk_limits).where(risk_limits.c.account_id == account)
          .values(max_open_positions=None))  # fmt: skip
    expect(deal(volume=2.0), mt5.TRADE_RETCODE_LIMIT_VOLUME)
    pending = {"action": mt5.TRADE_ACTION_PENDING, "symbol": "USDJPY", "volume": 0.1,
               "type": mt5.ORDER_TYPE_BUY_LIMIT, "price": 40000.0,
               "type_filling": mt5.ORDER_FILLING_RETURN}  # fmt: skip
    expect(mt5.order_send(pending), mt5.TRADE_RETCODE_DONE)
    expect(mt5.order_send(pending), mt5.TRADE_RETCODE_LIMIT_ORDERS)
    write(stack, update(account_risk_state).where(account_risk_state.c.account_id == account)
          .values(allow_new_positions=False))  # fmt: skip
    expect(deal(), mt5.TRADE_RETCODE_CLOSE_ONLY)


class Gateway(BaseHTTPRequestHandler):
    """A stand-in gateway: the paper account's answers, and a set error for commands."""

    answer: ClassVar[tuple[int, Any]] = (200, {})
    markets: ClassVar[list[dict[str, Any]]] = []

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        account = {"id": 1, "position_mode": "hedge", "exchange_id": "ccxt.binance",
                   "status": "active", "permissions": {"can_trade": True}}  # fmt: skip
        self._send(200, {"items": [account]} if self.path.startswith("/oms/accounts")
                   else {"items": [], "total": 0})  # fmt: skip

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        if "fetch_markets" in self.path:
            self._send(200, {"ok": True, "result": self.markets})
        else:
            self._send(*self.answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("MT5_OMS_SERVER", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("MT5_OMS_PASSWORD", "k" * 40)
    monkeypatch.setenv("MT5_OMS_LOGIN", "1")
    monkeypatch.delenv("MT5_OMS_SYMBOLS", raising=False)
    yield server
    mt5.shutdown()
    server.shutdown()
    server.server_close()


def failed(code: str, status: int) -> tuple[int, Any]:
    item = {"index": 0, "ok": False, "command_id": 9, "order_id": 9, "status": "failed",
            "error": {"code": code, "message": f"venue says {code}", "details": {}}}
    return status, {"error": {"code": code, "message": "", "details": {"results": [item]},
                              "trace_id": "t"}}  # fmt: skip


def test_what_only_a_live_venue_answers(stand_in: ThreadingHTTPServer) -> None:
    market = {"symbol": "BTC/USDT:USDT", "base": "BTC", "quote": "USDT", "settle": "USDT",
              "type": "swap", "spot": False, "swap": True, "active": True, "contractSize": "1",
              "precision": {"amount": "0.001", "price": "0.1"},
              "limits": {"amount": {"min": "0.001"}}}  # fmt: skip
    Gateway.markets = [market, {**market, "symbol": "ETH/USDT:USDT", "active": False}]
    assert mt5.initialize(), mt5.last_error()
    expect(deal("ETH/USDT:USDT"), mt5.TRADE_RETCODE_MARKET_CLOSED)
    for (code, status), retcode in (
        (("rate_limited", 429), mt5.TRADE_RETCODE_TOO_MANY_REQUESTS),
        (("venue_unavailable", 503), mt5.TRADE_RETCODE_CONNECTION),
        (("venue_error", 502), mt5.TRADE_RETCODE_ERROR),
        (("order_outcome_unknown", 504), mt5.TRADE_RETCODE_TIMEOUT),
    ):
        Gateway.answer = failed(code, status)
        result = expect(deal("BTC/USDT:USDT"), retcode)
        assert (result.order, result.request_id) == (9, 9)
        assert result.comment == f"venue says {code}"
    Gateway.answer = (200, {"results": [{"index": 0, "ok": True, "command_id": 3,
                                          "order_id": None, "status": "running"}]})  # fmt: skip
    expect(deal("BTC/USDT:USDT"), mt5.TRADE_RETCODE_TIMEOUT)


def test_an_unreachable_gateway_is_no_connection(stand_in: ThreadingHTTPServer) -> None:
    Gateway.markets = [{"symbol": "BTC/USDT:USDT", "type": "swap", "spot": False,
                        "precision": {"amount": "0.001", "price": "0.1"}}]  # fmt: skip
    assert mt5.initialize(), mt5.last_error()
    stand_in.shutdown()
    stand_in.server_close()
    mt5.api._session().gateway.close()  # the kept-alive connection goes with the server
    expect(deal("BTC/USDT:USDT"), mt5.TRADE_RETCODE_CONNECTION)
    assert mt5.symbol_info_tick("BTC/USDT:USDT") is None
    assert mt5.last_error()[0] == mt5.RES_E_INTERNAL_FAIL_CONNECT


def answerable() -> set[int]:
    """The `TRADE_RETCODE_*` the package's source can answer."""
    root = Path(mt5.__file__).parent
    names = set()
    for path in root.glob("*.py"):
        if path.name in ("constants.py", "errors.py", "conformance.py"):
            continue
        names |= set(re.findall(r"TRADE_RETCODE_[A-Z_]+", path.read_text()))
    errors = (root / "errors.py").read_text()
    mapping = errors.split("RISK_RETCODES")[1]  # the maps and functions, not the texts
    names |= set(re.findall(r"TRADE_RETCODE_[A-Z_]+", mapping))
    return {getattr(mt5, n) for n in names}


def test_every_answerable_retcode_was_reached() -> None:
    assert answerable() - REACHED == set()
