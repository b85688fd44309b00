"""Console grid: time from a websocket event's arrival in the browser to the changed row shown
in the open-positions grid, with 1,000 open positions in it (headless Chromium, real API +
worker + MariaDB via bench/harness.py).

1,000 market orders open 1,000 hedge positions; the console logs in and shows them; then each
round sends `position_change` commands (a new stop loss) one by one to the 10 newest positions
(the top of the grid, so the rows are rendered) and reads the page's own timings
(console/src/metrics.ts): `dom_ms` = message arrival → transaction applied and the row's cells
checked in the DOM; `frame_ms` = arrival → the next animation frame (painted). Medians of three
rounds; one JSON line.

    .venv/bin/python -m bench.console_row_update --positions 1000 --events 100 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

import httpx
from playwright.sync_api import sync_playwright

from bench.harness import machine, percentile, stack

SYMBOL = "BTC/USDT:USDT"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--positions", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    load_before = os.getloadavg()
    with stack(accounts=1) as s:
        account = s.account_ids[0]
        client = httpx.Client(base_url=s.base, headers={"x-api-key": s.trader_key}, timeout=60)
        client.post("/paper/prices", json={"symbol": SYMBOL, "price": "100"},
                    headers={"x-api-key": s.admin_key}).raise_for_status()
        open_positions(client, account, args.positions)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True,
                args=["--headless", "--no-sandbox", "--disable-gpu",
                      "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(f"{s.base}/ui/")
            page.get_by_test_id("base_url").fill(s.base)
            page.get_by_test_id("api_key").fill(s.trader_key)
            page.get_by_test_id("login-submit").click()
            page.get_by_test_id("nav-monitor").click()
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
    result = {
        "benchmark": "console_row_update",
        "positions": args.positions, "events_per_round": args.events, "rounds": rounds,
        **{f"median_{k}": round(statistics.median(r[k] for r in rounds), 3)
           for k in ("dom_p50_ms", "dom_p95_ms", "frame_p50_ms", "frame_p95_ms")},
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "machine": machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
