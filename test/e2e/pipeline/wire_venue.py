"""A local exchange served at the wire for the whole-process reliability run: `ccxt-oms venue
serve --dialect NAME` as a process of its own over a SQLite store of its own, the gateway's CCXT
accounts pointed at it by `config.ccxt` (docs/testnet.md → A gateway account on the local
venue), its admin surface for prices, accounts and faults, a CCXT client with a venue account's
own key for orders placed behind the gateway's back, and the venue's book read from its own
tables with its orders and fills named as its dialect shows them to CCXT (the invariants'
`VenueSide`)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ccxt
import httpx
from sqlalchemy import select

from apps.oms.exchange.ccxt.instances import merged
from apps.oms.service import admin
from apps.oms.store.accounts import upsert_credentials
from apps.oms.store.audit import CLI_ACTOR
from apps.oms.store.engine import create_engine
from apps.oms.store.store import Store
from apps.paper.store.tables import paper_fills, paper_orders
from apps.paper.wire.accounts import Credentials
from apps.paper.wire.binance_spot import seq_of

from .conftest import ROOT, Stack
from .invariants import VenueBook, VenueFill, VenueOrder


@dataclass(frozen=True)
class Dialect:
    """How the gateway trades one dialect: its CCXT class, the market, the class's options for
    what the local venue serves, and whether the dialect shows the engine's ids as Binance's
    numbers."""

    name: str
    symbol: str
    options: dict[str, Any]
    numeric_ids: bool = False

    @property
    def engine(self) -> str:
        return f"ccxtpro.{self.name}"


DIALECTS = {d.name: d for d in (
    Dialect("binance", "BTC/USDT", {"fetchMarkets": {"types": ["spot"]}}, numeric_ids=True),
    Dialect("binanceusdm", "BTC/USDT:USDT", {"fetchCurrencies": False}, numeric_ids=True),
    Dialect("bybit", "BTC/USDT:USDT", {"fetchMarkets": {"types": ["linear"]}}),
    Dialect("okx", "BTC/USDT:USDT", {"fetchMarkets": {"types": ["spot", "swap"]}}),
)}


class WireVenueProcess:
    """`ccxt-oms venue serve` on a free port, until `stop()`."""

    def __init__(self, dialect: Dialect, tmp: Path) -> None:
        self.dialect = dialect
        self.store_url = f"sqlite+aiosqlite:///{tmp / f'venue-{dialect.name}.sqlite3'}"
        self.log_path = tmp / f"venue-{dialect.name}.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "apps.cli", "venue", "serve", "--dialect", dialect.name,
                 "--port", "0", "--store", self.store_url],
                cwd=tmp, stdout=subprocess.PIPE, stderr=log,
                env={**{k: v for k, v in os.environ.items() if not k.startswith("OMS_")},
                     "PYTHONPATH": str(ROOT)})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=30)
            raise AssertionError("the venue did not start:\n" + self.log())
        self.line: dict[str, Any] = json.loads(line)
        # whatever it prints later is read, so that a full pipe never blocks it
        self.reader = threading.Thread(target=self.proc.stdout.read, daemon=True)
        self.reader.start()
        self.rest = str(self.line["rest"])
        self.http = httpx.Client(base_url=self.rest, timeout=60)
        #: venue account id -> gateway account id, of the accounts opened by `gateway_account`
        self.accounts: dict[int, int] = {}
        self.credentials: dict[int, Credentials] = {}  # by gateway account id

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.reader.join(10)  # the pipe is at its end once the process is gone
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    # -- the admin surface ------------------------------------------------------------------------
    def admin(self, method: str, path: str, body: Any = None) -> Any:
        answer = self.http.request(method, f"/admin/{path}", json=body)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def new_account(self) -> Credentials:
        made = self.admin("POST", "account")
        return Credentials(int(made["account_id"]), made["api_key"], made["secret"],
                           made.get("password") or "")

    def set_price(self, price: str) -> None:
        self.admin("POST", "price", {"symbol": self.dialect.symbol, "price": price})

    def set_faults(self, faults: list[dict[str, Any]], seed: int = 0) -> None:
        """A new plan (the hits counted from zero); what the plan before it hit is kept."""
        self.hits_so_far = self.fault_hits()
        self.admin("POST", "faults", {"seed": seed, "faults": faults})

    def fault_hits(self) -> dict[str, int]:
        """The hits of every plan set so far, by kind (a lost response's by mode)."""
        hits = dict(getattr(self, "hits_so_far", {}))
        for f in self.admin("GET", "faults")["faults"]:
            kind = f["kind"] + ("/" + f["mode"] if f["kind"] == "lost_response" else "")
            hits[kind] = hits.get(kind, 0) + int(f["hits"])
        return hits

    # -- accounts -------------------------------------------------------------------------------
    def gateway_account(self, stack: Stack, position_mode: str) -> int:
        """A new funded venue account and the gateway account that trades it: a testnet
        `ccxtpro.<dialect>` account whose `config.ccxt` points at this venue, the keys stored,
        the stack's trader granted on it."""
        creds = self.new_account()
        config = {"urls": self.line["ccxt_urls"], "options": self.dialect.options}

        async def run() -> int:
            store = Store.from_url(stack.url)
            try:
                async with store.transaction() as conn:
                    account_id = await admin.add_account(
                        conn, CLI_ACTOR, user_id=stack.user_id, exchange_id=self.dialect.engine,
                        label=f"wire-{self.dialect.name}-{position_mode}",
                        position_mode=position_mode, testnet=True, live=False,
                        ccxt_config=config)
                    await upsert_credentials(conn, account_id, api_key=creds.api_key,
                                             secret=creds.secret,
                                             passphrase=creds.passphrase or None)
                return account_id
            finally:
                await store.close()

        account_id = asyncio.run(run())
        self.accounts[creds.account_id] = account_id
        self.credentials[account_id] = creds
        return account_id

    @contextmanager
    def client(self, account_id: int) -> Iterator[Any]:
        """CCXT's own (synchronous) class with the venue account's key: someone trading the
        account on the exchange directly, behind the gateway's back."""
        creds = self.credentials[account_id]
        config: dict[str, Any] = {"apiKey": creds.api_key, "secret": creds.secret,
                                  "options": {**self.dialect.options, "fetchCurrencies": False,
                                              "fetchMargins": False},
                                  "timeout": 30_000}
        if creds.passphrase:
            config["password"] = creds.passphrase
        exchange = getattr(ccxt, self.dialect.name)(config)
        exchange.urls["api"] = merged(exchange.urls["api"], self.line["ccxt_urls"])
        try:
            yield exchange
        finally:
            exchange.close()

    # -- the venue's book, for the invariants -------------------------------------------------------
    def shown(self, engine_id: str) -> str:
        """An engine id (`<account>-<n>`, `<account>-T<n>`) as the dialect shows it."""
        return str(seq_of(engine_id)) if self.dialect.numeric_ids else engine_id

    async def side(self, _conn: Any, account_ids: list[int]) -> VenueBook:
        """The venue's orders and fills of the gateway's `account_ids`, read from its own
        store, under the gateway's account ids and the ids CCXT was shown."""
        of = {venue_id: gateway_id for venue_id, gateway_id in self.accounts.items()
              if gateway_id in account_ids}
        engine = create_engine(self.store_url)
        try:
            async with engine.connect() as conn:
                orders = [VenueOrder(of[int(r.account_id)], self.shown(r.order_id),
                                     r.client_order_id, r.filled)
                          for r in await conn.execute(select(
                              paper_orders.c.account_id, paper_orders.c.order_id,
                              paper_orders.c.client_order_id, paper_orders.c.filled).where(
                              paper_orders.c.account_id.in_(list(of))))]
                fills = {}
                for r in await conn.execute(select(
                        paper_fills.c.account_id, paper_fills.c.trade_id, paper_fills.c.qty,
                        paper_fills.c.order_id, paper_fills.c.client_order_id).where(
                        paper_fills.c.account_id.in_(list(of)))):
                    fill = VenueFill(of[int(r.account_id)], self.shown(r.trade_id), r.qty,
                                     self.shown(r.order_id), r.client_order_id)
                    assert (fill.account_id, fill.trade_id) not in fills, fill
                    fills[(fill.account_id, fill.trade_id)] = fill
        finally:
            await engine.dispose()
        return VenueBook(orders, fills)
