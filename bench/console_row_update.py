"""Console grid benchmarks in headless Chromium, against real `ccxt-oms api` + `ccxt-oms worker`
processes and MariaDB (bench/harness.py). One JSON line per run, medians of the rounds.

`--scenario ticks` (the default; issue 38's figure): 1,000 open positions in the Positions
screen's grid and prices moving on 10 symbols at 10 ticks/s each. The paper venue lists 6
markets, so the page's websocket is played by the bench (Playwright's `route_web_socket`: the
page's own `WebSocket`, `onmessage` and everything after it run as in production; the REST
login, profile and portfolio are the real API's): `auth`, `subscribe` with a snapshot of 1,000
positions over 10 symbols, `subscribe_market` answered, then one `ticker_updated` every 10 ms
round-robin over the symbols. The page's own timings (console/src/metrics.ts `markFrames`), per
animation frame that applied moved marks: `frame` = from the frame's start to the moment the
page runs again after its style, layout and paint; `work` = the script part (the grid's cells
refreshed); `latency` = first price's arrival in `onmessage` → after that frame's rendering.
The bench then checks the rendered rows' unrealised PnL against its own Decimal arithmetic.

    .venv/bin/python -m bench.console_row_update --scenario ticks --positions 1000 \
        --symbols 10 --rate 10 --seconds 10 --rounds 3

`--scenario events` (the earlier figure): 1,000 market orders open 1,000 hedge positions; each
round sends `position_change` commands (a new stop loss) one by one to the 10 newest positions
(the top of the grid, so the rows are rendered) and reads `dom_ms` = message arrival →
transaction applied and the row's cells checked in the DOM; `frame_ms` = arrival → the next
animation frame (painted).

    .venv/bin/python -m bench.console_row_update --scenario events --positions 1000 \
        --events 100 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, Playwright, WebSocketRoute, sync_playwright

from bench.harness import Stack, machine, percentile, stack

SYMBOL = "BTC/USDT:USDT"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def open_console(pw: Playwright, s: Stack,
                 socket: Callable[[WebSocketRoute], None] | None = None) -> tuple[Browser, Page]:
    """Chromium on the console, logged in as the trader, on the Positions screen; `socket`
    plays the page's websocket instead of the API (Playwright's route_web_socket)."""
    browser = pw.chromium.launch(
        executable_path=CHROMIUM, headless=True,
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.set_default_timeout(120_000)
    if socket is not None:
        page.route_web_socket("**/ws", socket)
    page.goto(f"{s.base}/ui/")
    page.get_by_test_id("base_url").fill(s.base)
    page.get_by_test_id("api_key").fill(s.trader_key)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("nav-monitor").click()
    return browser, page


def open_positions(client: httpx.Client, account: int, count: int) -> None:
    sent = 0
    while sent < count:
        batch = [
            {"account_id": account, "command": "send_order",
             "payload": {"symbol": SYMBOL, "side": "buy", "order_type": "market", "qty": "0.1"}}
            for _ in range(min(100, count - sent))
        ]
        response = client.post("/oms/commands", json=batch)
        response.raise_for_status()
        sent += len(batch)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        items = client.get("/oms/positions/open", params={"account_ids": account,
                                                           "limit": 5000}).json()["items"]
        if len(items) >= count:
            return
        time.sleep(0.5)
    raise RuntimeError("positions were not opened")


def round_timings(page: Any, client: httpx.Client, account: int, ids: list[int], events: int,
                  round_no: int) -> list[dict[str, Any]]:
    page.evaluate("window.omsConsole.metrics.timings.length = 0")
    for i in range(events):
        stop = f"{50 + round_no}.{i:03d}"
        body = {"account_id": account, "command": "position_change",
                "payload": {"position_id": ids[i % len(ids)], "oms_stop_loss": stop}}
        client.post("/oms/commands", json=body).raise_for_status()
        time.sleep(0.02)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        timings: list[dict[str, Any]] = page.evaluate(
            "window.omsConsole.metrics.timings.filter(t => t.event === 'position_changed')")
        if len(timings) >= events:
            return timings
        time.sleep(0.2)
    raise RuntimeError("not every event reached the grid")


def events_scenario(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()
    with stack(accounts=1) as s:
        account = s.account_ids[0]
        client = httpx.Client(base_url=s.base, headers={"x-api-key": s.trader_key}, timeout=60)
        client.post("/paper/prices", json={"symbol": SYMBOL, "price": "100"},
                    headers={"x-api-key": s.admin_key}).raise_for_status()
        open_positions(client, account, args.positions)
        with sync_playwright() as pw:
            browser, page = open_console(pw, s)
            page.wait_for_function(
                f"window.omsConsole.session && window.omsConsole.session.live.status === 'live'"
                f" && window.omsConsole.session.live.books.positions.size >= {args.positions}",
                timeout=300_000)
            ids = sorted(int(i) for i in page.evaluate(
                "[...window.omsConsole.session.live.books.positions.keys()]"))[-10:]
            rounds = []
            for r in range(args.rounds):
                t = round_timings(page, client, account, ids, args.events, r)
                dom = [x["dom_ms"] for x in t]
                frame = [x["frame_ms"] for x in t]
                rounds.append({
                    "dom_p50_ms": round(statistics.median(dom), 3),
                    "dom_p95_ms": round(percentile(dom, 95), 3),
                    "frame_p50_ms": round(statistics.median(frame), 3),
                    "frame_p95_ms": round(percentile(frame, 95), 3),
                    "rows_in_grid": max(x["rows_in_grid"] for x in t),
                    "verified": sum(1 for x in t if x["verified"]), "events": len(t),
                })
            browser.close()
    return {
        "benchmark": "console_row_update", "scenario": "events",
        "positions": args.positions, "events_per_round": args.events, "rounds": rounds,
        **{f"median_{k}": round(statistics.median(r[k] for r in rounds), 3)
           for k in ("dom_p50_ms", "dom_p95_ms", "frame_p50_ms", "frame_p95_ms")},
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "machine": machine(),
    }


SYMBOLS = ["BTC", "ETH", "SOL", "XRP", "DOGE", "ADA", "AVAX", "LINK", "DOT", "LTC", "BNB", "TRX"]


def snapshot_positions(account: int, count: int, symbols: list[str]) -> list[dict[str, Any]]:
    """Open positions as the API's wire view has them, spread round-robin over the symbols."""
    at = "2026-11-24T10:00:00Z"
    return [{"id": i, "position_id": i, "account_id": account, "symbol": symbols[i % len(symbols)],
             "strategy_id": 0, "side": "buy" if i % 2 else "sell", "qty": "0.1",
             "avg_price": f"{100 + i % 7}", "realized_pnl": "0", "fee": "0.005",
             "contract_size": "1", "pending_close_qty": "0", "stop_loss": None,
             "stop_gain": None, "state": "open", "reason": "api", "comment": None,
             "opened_at": at, "updated_at": at, "closed_at": None}
            for i in range(1, count + 1)]


class ScriptedSocket:
    """The page's websocket, played by the bench: the protocol of docs/websocket.md."""

    def __init__(self, account: int, positions: list[dict[str, Any]]) -> None:
        self.account, self.positions = account, positions
        self.ws: WebSocketRoute | None = None
        self.subscribed: set[str] = set()

    def attach(self, ws: WebSocketRoute) -> None:
        self.ws = ws
        ws.on_message(self.answer)

    def send(self, msg: dict[str, Any]) -> None:
        assert self.ws is not None
        self.ws.send(json.dumps(msg))

    def event(self, event: str, payload: dict[str, Any], action: str = "event",
              namespace: str = "position") -> dict[str, Any]:
        return {"id": None, "ok": True, "type": "ws_event", "namespace": namespace,
                "action": action, "event": event, "seq": None, "account_id": self.account,
                "payload": payload}

    def answer(self, text: str | bytes) -> None:
        msg = json.loads(text)
        reply = {"id": msg.get("id"), "ok": True, "type": "ws_response",
                 "namespace": msg.get("namespace"), "action": msg.get("action"), "payload": {}}
        self.send(reply)
        if msg.get("action") == "subscribe":
            self.send(self.event("snapshot_open_positions", {"account_id": self.account,
                                                             "items": self.positions}, "snapshot"))
            self.send(self.event("snapshot_open_orders", {"account_id": self.account,
                                                          "items": []}, "snapshot"))
            self.send(self.event("snapshot_done", {"seq": 1, "exact": True}, "snapshot"))
        elif msg.get("action") == "subscribe_market":
            self.subscribed.add(str(msg["payload"]["symbol"]))

    def tick(self, symbol: str, last: Decimal) -> None:
        data = {"symbol": symbol, "last": str(last), "bid": str(last), "ask": str(last),
                "timestamp": int(time.time() * 1000)}
        self.send(self.event("ticker_updated", {"account_id": self.account, "symbol": symbol,
                                                "channel": "ticker", "data": data,
                                                "ts_ms": int(time.time() * 1000)},
                             namespace="ccxt"))


def unrealized(position: dict[str, Any], mark: Decimal) -> str:
    sign = -1 if position["side"] == "sell" else 1
    value = ((mark - Decimal(position["avg_price"])) * Decimal(position["qty"]) * sign).quantize(
        Decimal("1E-18"), rounding=ROUND_HALF_EVEN)
    text = format(value, "f").rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def rendered_pnl(page: Page) -> dict[int, str]:
    shown: dict[str, str] = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll(
             '[data-testid="grid-open-positions"] .ag-center-cols-container .ag-row')]
           .map((r) => [r.getAttribute('row-id'),
                        r.querySelector('[col-id="unrealized_pnl"]')?.textContent ?? '']))""")
    return {int(k): v for k, v in shown.items()}


def tick_round(page: Page, sock: ScriptedSocket, marks: dict[str, Decimal], args: argparse.Namespace,
               rng: random.Random) -> dict[str, Any]:
    page.evaluate("window.omsConsole.metrics.markFrames.length = 0")
    symbols = list(marks)
    interval = 1 / (args.rate * len(symbols))
    start, sent = time.monotonic(), 0
    while time.monotonic() - start < args.seconds:
        symbol = symbols[sent % len(symbols)]
        marks[symbol] = max(Decimal("0.01"), marks[symbol] + Decimal(rng.randint(-20, 20)) / 100)
        sock.tick(symbol, marks[symbol])
        sent += 1
        time.sleep(max(0.0, start + sent * interval - time.monotonic()))
    page.wait_for_timeout(500)  # the last frames are rendered and timed
    frames: list[dict[str, float]] = page.evaluate("window.omsConsole.metrics.markFrames")
    by_id = {p["id"]: p for p in sock.positions}
    shown = rendered_pnl(page)
    checked = sum(1 for i, text in shown.items()
                  if text == unrealized(by_id[i], marks[by_id[i]["symbol"]]))
    values = {k: [f[k] for f in frames] for k in ("frame_ms", "work_ms", "latency_ms")}
    return {
        "ticks": sent, "ticks_per_s": round(sent / args.seconds, 1), "frames": len(frames),
        **{f"{k[:-3]}_p50_ms": round(statistics.median(v), 3) for k, v in values.items() if v},
        **{f"{k[:-3]}_p95_ms": round(percentile(v, 95), 3) for k, v in values.items() if v},
        "frame_max_ms": round(max(values["frame_ms"] or [0]), 3),
        "rows_checked": checked, "rows_rendered": len(shown),
    }


def ticks_scenario(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()
    symbols = [f"{b}/USDT:USDT" for b in SYMBOLS[: args.symbols]]
    rng = random.Random(38)
    with stack(accounts=1) as s:
        account = s.account_ids[0]
        positions = snapshot_positions(account, args.positions, symbols)
        sock = ScriptedSocket(account, positions)
        with sync_playwright() as pw:
            browser, page = open_console(pw, s, sock.attach)
            page.wait_for_function(
                "window.omsConsole.session && window.omsConsole.session.live.status === 'live'"
                f" && window.omsConsole.session.live.books.positions.size >= {args.positions}")
            deadline = time.monotonic() + 60
            while len(sock.subscribed) < len(symbols) and time.monotonic() < deadline:
                page.wait_for_timeout(100)
            marks = {sym: Decimal(100) for sym in symbols}
            tick_round(page, sock, marks, argparse.Namespace(**{**vars(args), "seconds": 2}),
                       rng)  # warm-up
            rounds = [tick_round(page, sock, marks, args, rng) for _ in range(args.rounds)]
            browser.close()
    keys = ("frame_p50_ms", "frame_p95_ms", "work_p50_ms", "work_p95_ms", "latency_p50_ms",
            "latency_p95_ms")
    return {
        "benchmark": "console_row_update", "scenario": "ticks", "positions": args.positions,
        "symbols": len(symbols), "ticks_per_symbol_per_s": args.rate,
        "seconds_per_round": args.seconds, "rounds": rounds,
        **{f"median_{k}": round(statistics.median(r[k] for r in rounds), 3) for k in keys},
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", choices=["ticks", "events"], default="ticks")
    parser.add_argument("--positions", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--rate", type=int, default=10, help="ticks per second per symbol")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    scenario = ticks_scenario if args.scenario == "ticks" else events_scenario
    print(json.dumps(scenario(args)))


if __name__ == "__main__":
    main()
