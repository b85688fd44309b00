"""`ccxt-oms venue serve` as a process: one JSON line with the URLs and a funded account's keys,
CCXT trades with them, SIGTERM ends it cleanly (exit 0), and a restart keeps the account."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async

from apps.oms.exchange.ccxt.instances import merged
from apps.paper.wire.accounts import Credentials
from test.integration.wire.conftest import spot_options

ROOT = Path(__file__).resolve().parents[3]


async def launch(store: str, dialect: str = "binance", *more: str,
                 ) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "apps.cli", "venue", "serve", "--dialect", dialect, "--port",
        "0", "--store", store, *more, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 120)
    return process, json.loads(line)


async def stop(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(process.wait(), 60)


def client(announced: dict[str, Any], creds: Credentials) -> Any:
    exchange = ccxt_async.binance(spot_options(creds))
    exchange.urls["api"] = {**exchange.urls["api"], **{
        k: announced["ccxt_urls"][k] for k in ("public", "private")}}
    return exchange


async def test_serve_announces_trades_and_stops_cleanly(tmp_path: Path) -> None:
    store = f"sqlite+aiosqlite:///{tmp_path / 'venue.sqlite3'}"
    process, announced = await launch(store)
    try:
        assert announced["ok"] is True
        assert announced["rest"].startswith("http://127.0.0.1:")
        assert announced["ccxt_urls"]["ws"]["ws-api"]["spot"].endswith("/ws-api/v3")
        creds = Credentials(announced["account_id"], announced["api_key"], announced["secret"])
        exchange = client(announced, creds)
        try:
            assert (await exchange.fetch_balance())["USDT"]["total"] == 100000
            order = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 40000)
        finally:
            await exchange.close()
    finally:
        assert await stop(process) == 0

    process, again = await launch(store)  # the same store: the first account's key still works
    try:
        exchange = client(again, creds)
        try:
            assert (await exchange.fetch_order(order["id"], "BTC/USDT"))["status"] == "open"
        finally:
            await exchange.close()
    finally:
        assert await stop(process) == 0


async def test_serve_futures(tmp_path: Path) -> None:
    process, announced = await launch(f"sqlite+aiosqlite:///{tmp_path / 'f.sqlite3'}",
                                      "binanceusdm")  # fmt: skip
    try:
        assert announced["dialect"] == "binanceusdm"
        exchange = ccxt_async.binanceusdm({"apiKey": announced["api_key"],
                                           "secret": announced["secret"],
                                           "options": {"fetchCurrencies": False}})  # fmt: skip
        exchange.urls["api"] = merged(exchange.urls["api"], announced["ccxt_urls"])
        try:
            assert (await exchange.fetch_balance())["USDT"]["free"] == 100000
            assert (await exchange.fetch_ticker("SOL/USDT:USDT"))["last"] == 150
        finally:
            await exchange.close()
    finally:
        assert await stop(process) == 0


async def test_serve_bybit(tmp_path: Path) -> None:
    process, announced = await launch(f"sqlite+aiosqlite:///{tmp_path / 'b.sqlite3'}", "bybit")
    try:
        assert announced["dialect"] == "bybit"
        assert announced["ccxt_urls"]["ws"]["private"]["contract"].endswith("/v5/private")
        exchange = ccxt_async.bybit({"apiKey": announced["api_key"],
                                     "secret": announced["secret"],
                                     "options": {"fetchMarkets": {"types": ["linear"]}}})  # fmt: skip
        exchange.urls["api"] = merged(exchange.urls["api"], announced["ccxt_urls"])
        try:
            assert (await exchange.fetch_balance())["USDT"]["free"] == 100000
            assert (await exchange.fetch_ticker("SOL/USDT:USDT"))["last"] == 150
        finally:
            await exchange.close()
    finally:
        assert await stop(process) == 0


async def test_serve_okx(tmp_path: Path) -> None:
    """The OKX dialect announces the passphrase too (CCXT's `password`), and CCXT's `okx`
    signs with the announced three."""
    process, announced = await launch(f"sqlite+aiosqlite:///{tmp_path / 'o.sqlite3'}", "okx")
    try:
        assert announced["dialect"] == "okx"
        assert announced["ccxt_urls"]["ws"].endswith("/ws/v5")
        exchange = ccxt_async.okx({"apiKey": announced["api_key"], "secret": announced["secret"],
                                   "password": announced["password"],
                                   "options": {"fetchMarkets": {"types": ["spot", "swap"]}}})  # fmt: skip
        exchange.urls["api"] = merged(exchange.urls["api"], announced["ccxt_urls"])
        try:
            assert (await exchange.fetch_balance())["USDT"]["free"] == 100000
            assert (await exchange.fetch_ticker("SOL/USDT:USDT"))["last"] == 150
        finally:
            await exchange.close()
    finally:
        assert await stop(process) == 0


async def test_serve_with_faults_set(tmp_path: Path) -> None:
    plan = {"seed": 1, "faults": [{"kind": "maintenance", "endpoints": "orders", "count": 1}]}
    process, announced = await launch(f"sqlite+aiosqlite:///{tmp_path / 'x.sqlite3'}",
                                      "binance", "--faults", json.dumps(plan))  # fmt: skip
    try:
        assert [f["kind"] for f in announced["faults"]["faults"]] == ["maintenance"]
        creds = Credentials(announced["account_id"], announced["api_key"], announced["secret"])
        exchange = client(announced, creds)
        try:
            await exchange.load_markets()
            try:
                await exchange.create_order("BTC/USDT", "limit", "buy", 0.01, 40000)
            except ccxt.OnMaintenance:
                pass
            else:
                raise AssertionError("the order met no maintenance")
            assert await exchange.fetch_open_orders("BTC/USDT") == []
        finally:
            await exchange.close()
    finally:
        assert await stop(process) == 0


async def test_serve_refuses_faults_it_cannot_read(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "apps.cli", "venue", "serve", "--port", "0", "--store",
        f"sqlite+aiosqlite:///{tmp_path / 'y.sqlite3'}", "--faults", '{"faults": [{"kind": 1}]}',
        cwd=ROOT, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 2
    assert b"--faults" in err
