"""The reliability bars R1-R4 of quality.md at the wire, in one run per dialect of the local exchange
(Binance spot, Binance USDⓈ-M, Bybit v5, OKX v5). Real processes: the API and workers on a
fresh database of a MariaDB server of the test's own, and `ccxt-oms venue serve` with a store of
its own; the gateway's accounts are testnet `ccxtpro.<dialect>` accounts pointed at the venue
by configuration, so every order goes through CCXT's own class over HTTP.

Under the mixed load (`load.Load`, prices moved on the venue's admin surface; on Binance spot
with the exchange's own OCO in each round, whose lost answers are settled by looking both legs
up):
- the worker SIGKILLed again and again (`WorkerChaos`), mostly mid-send;
- the API SIGKILLed twice and restarted, the clients re-sending with the same request ids;
- the database SIGKILLed and brought back a few seconds later (the API answers 503 meanwhile);
- the venue's faults (`POST /admin/faults`): answers lost after the order was executed (the
  connection dropped, or held past the worker's venue timeout), 429s by chance and a storm of
  them, new orders invisible for a while, private streams dropped;
- orders placed on the venue directly with the venue account's own key (CCXT's class).

Then, with the faults cleared, reconciliation (twice) and the invariants of `invariants.py`
over the gateway's store and the venue's own tables (`WireVenueProcess.side`): every
acknowledged command ended exactly once, no client order id twice on the venue, every venue
order is the books' order with the same fill, every venue fill booked once, positions the fold
of their deals; and each external order booked once, by reconciliation, the second run finding
nothing new. Bounded: the load is fixed, every wait has a deadline, everything is torn down on
failure. Speed is not asserted (bench/ measures).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ccxt
import pytest

from .conftest import Stack, make_stack
from .invariants import check, settle
from .load import Load
from .private_db import PrivateMariaDB
from .reliability import WorkerChaos, sql
from .wire_venue import DIALECTS, WireVenueProcess

# generous: these tests assert what happens, never how fast (speed belongs to bench/)
pytestmark = [pytest.mark.mysql, pytest.mark.slow, pytest.mark.reliability,
              pytest.mark.timeout(1800)]
log = logging.getLogger(__name__)

COMMANDS = 150  # at least: the load goes on while the outages do
#: netting and strategy netting (a hedge account needs a venue account in hedge mode, which
#: the spot and OKX dialects do not have)
MODES = ["netting", "strategy_netting", "netting"]
#: a venue call's answer is waited for this long: a `delay` lost response holds it longer
VENUE_TIMEOUT_SECONDS = 4
ENV = {"OMS_WORKER__VENUE_TIMEOUT_SECONDS": str(VENUE_TIMEOUT_SECONDS)}
#: the faults met by chance all run long, in plan order: a 429 (nothing executed), else an
#: answer lost after the order was executed, new orders invisible, streams dropped
FAULTS: list[dict[str, Any]] = [
    {"kind": "rate_limit", "rate": "0.05", "retry_after_s": 1},
    {"kind": "lost_response", "endpoints": "orders", "rate": "0.1", "mode": "drop"},
    {"kind": "lost_response", "endpoints": "orders", "rate": "0.03", "mode": "delay",
     "ms": (VENUE_TIMEOUT_SECONDS + 2) * 1000},
    {"kind": "invisible_order", "rate": "0.3", "ms": 1500},
    {"kind": "stream_drop", "rate": "0.2"},
]
#: a storm: the next requests, whatever they are, answered 429; then the next order requests'
#: answers lost for certain (dropped twice, held once), the next three new orders invisible;
#: then the faults above by chance
STORM: list[dict[str, Any]] = [
    {"kind": "rate_limit", "count": 15, "retry_after_s": 1},
    {"kind": "lost_response", "endpoints": "orders", "count": 2, "mode": "drop"},
    {"kind": "lost_response", "endpoints": "orders", "count": 1, "mode": "delay",
     "ms": (VENUE_TIMEOUT_SECONDS + 2) * 1000},
    {"kind": "invisible_order", "count": 3, "ms": 1500},
]
#: how a command of this load may fail beyond the paper runs' reasons: the venue kept refusing
#: (a 429 storm outlasting the retries: venue_unavailable) or answered an error the gateway
#: passes on (venue_error: a cancel whose answer was lost, of an order since done), and a
#: command whose worker was killed under it more than 5 times (the poison-command cap)
ALSO_FAILING = frozenset({"venue_unavailable", "venue_error", "internal_error"})


@pytest.fixture(scope="module")
def database_server() -> Iterator[PrivateMariaDB]:
    server = PrivateMariaDB()
    try:
        server.install()
        server.up()
        yield server
    finally:
        server.stop()


class Outages:
    """On a thread: the API killed, the database down, a 429 storm, the API killed again, with
    orders placed on the venue directly in between. `join()` re-raises what went wrong."""

    def __init__(self, stack: Stack, db: PrivateMariaDB, venue: WireVenueProcess,
                 accounts: list[int], seed: int) -> None:  # fmt: skip
        self.stack, self.db, self.venue, self.accounts = stack, db, venue, accounts
        self.rng = random.Random(seed)
        self.api_kills = self.db_outages = 0
        self.external: list[tuple[int, str]] = []  # (gateway account, client order id) sent
        self.refusals: list[str] = []  # what the venue answered an external placement
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._guarded)

    def start(self) -> None:
        self.thread.start()

    def alive(self) -> bool:
        return self.thread.is_alive()

    def join(self) -> None:
        self.thread.join(600)
        if self.errors:
            raise self.errors[0]
        assert not self.thread.is_alive(), "the outage thread did not stop"

    def _guarded(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # re-raised by join(), on the test's thread
            self.errors.append(exc)

    def _pause(self) -> None:
        time.sleep(self.rng.uniform(1.5, 3.0))

    def _kill_api(self) -> None:
        assert self.stack.api is not None
        self.stack.kill(self.stack.api)
        self.api_kills += 1
        self.stack.start_api()

    def _external(self, n: int, order_type: str) -> None:
        """An order placed with the venue account's own key, behind the gateway's back. Its
        answer may be lost (a drop, a delay past the timeout: placed or not, what the venue
        holds is checked later); a refusal that certainly placed nothing (a 429, the markets
        not loaded) is tried again, as the trader would, so that the injected faults (5 % of
        every request refused, more than one request to load OKX's markets) cannot leave the
        run without an external order to check."""
        account_id = self.accounts[n % len(self.accounts)]
        client_id = f"ext{account_id}n{n}"
        side, price = ("buy", None) if order_type == "market" else ("buy", 45000)
        params = {"clientOrderId": client_id}
        with self.venue.client(account_id) as exchange:
            self.external.append((account_id, client_id))
            for _ in range(30):
                try:
                    exchange.load_markets()
                    exchange.create_order(self.venue.dialect.symbol, order_type, side, 0.001,
                                          price, params)
                    return
                except (ccxt.RateLimitExceeded, ccxt.DDoSProtection) as exc:
                    self.refusals.append(f"{client_id}: {exc!r}"[:200])
                    time.sleep(1.0)  # the venue's Retry-After
                except ccxt.BaseError as exc:  # lost or refused for good: what it holds decides
                    self.refusals.append(f"{client_id}: {exc!r}"[:200])
                    return

    def _run(self) -> None:
        self._pause()
        self._kill_api()
        self._external(0, "market")
        self._pause()
        self.db.down()  # the API answers 503, workers lose their connections
        self.db_outages += 1
        time.sleep(self.rng.uniform(3.0, 5.0))
        self.db.up()
        self._external(1, "limit")
        self._pause()
        self.venue.set_faults([*STORM, *FAULTS], seed=13)
        self._external(2, "market")
        self._pause()
        self._kill_api()


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_wire_reliability(dialect: str, tmp_path: Path,
                             database_server: PrivateMariaDB) -> None:  # fmt: skip
    venue = WireVenueProcess(DIALECTS[dialect], tmp_path)
    try:
        run(venue, tmp_path, database_server)
    except BaseException:
        log.error("venue log:\n%s", venue.log())
        raise
    finally:
        venue.stop()


def run(venue: WireVenueProcess, tmp_path: Path, db: PrivateMariaDB) -> None:
    symbol = venue.dialect.symbol
    with make_stack(tmp_path, workers=0, env=ENV,
                    database=db.create_database("oms_wire")) as stack:
        modes = {venue.gateway_account(stack, mode): mode for mode in MODES}
        accounts = list(modes)
        load = Load(stack, modes, seed=6, retry=True, retry_unavailable=True, symbol=symbol,
                    set_price=venue.set_price, venue_oco=venue.dialect.name == "binance")
        venue.set_faults(FAULTS, seed=11)
        chaos = WorkerChaos(stack, pause=(1.5, 3.0), seed=8)
        outages = Outages(stack, db, venue, accounts, seed=9)
        chaos.start()
        outages.start()
        try:
            # paced, and at most ~300 commands however long the outages take on a slow machine
            load.run(COMMANDS, pause=1.0,
                     while_=lambda: outages.alive() and len(load.accepted) < 2 * COMMANDS)
            while chaos.kills < 4 and chaos.running():  # keep killing while the queue drains
                time.sleep(0.2)
        finally:
            chaos.stop()  # returns with a worker running, to finish the work
            outages.join()
        stack.wait_api()
        settle(stack.url, load.accepted)  # the queue drains under the venue's faults
        hits = venue.fault_hits()
        venue.set_faults([])
        if load.venue_oco:  # one more list per account, then a move under every stop: the
            fire_lists(stack, load, venue, accounts)  # lists still open fire

        for account_id in accounts:  # what reconciliation on lease take has not booked yet
            reconcile(stack, account_id, symbol)
        counts = check(stack.url, accounts, load.accepted, settle_seconds=600,
                       also_failing=ALSO_FAILING, venue=venue.side)

        # the external orders that reached the venue: each booked once, as an external order,
        # and a second run finds nothing new
        book = {(o.account_id, o.client_order_id): o
                for o in asyncio.run(venue.side(None, accounts)).orders}
        placed = [key for key in outages.external if key in book]
        assert placed, (outages.external, outages.refusals)
        for account_id, client_id in placed:
            rows = sql(stack, "SELECT reason, exchange_order_id FROM orders WHERE account_id = %s"
                              " AND client_order_id = %s", account_id, client_id)
            assert rows == [("external", book[(account_id, client_id)].order_id)], rows
        external = sql(stack, "SELECT client_order_id FROM orders WHERE reason = 'external'")
        assert sorted(str(r[0]) for r in external) == sorted(c for _, c in placed), external
        for account_id in accounts:
            stats = reconcile(stack, account_id, symbol)
            assert (stats["external_orders_created"], stats["trades_booked"]) == (0, 0), (
                account_id, stats)

        reasons = sql(stack, "SELECT error_code, LEFT(error_message, 160), COUNT(*) FROM commands"
                             " WHERE status = 'failed' GROUP BY 1, 2 ORDER BY 3 DESC")
        log.info("wire %s: why commands failed: %s", venue.dialect.name, reasons)
        log.info("wire %s: %s, faults %s, worker kills %d, API kills %d, database outages %d, "
                 "external orders %d, client retries %d, 503s %d", venue.dialect.name, counts,
                 hits, chaos.kills, outages.api_kills, outages.db_outages, len(placed), load.retries,
                 load.unavailable)
        if load.venue_oco:  # the exchange's own OCOs were placed, and ended as it ended them
            legs = sql(stack, "SELECT o.status, COUNT(*) FROM orders o JOIN order_groups g ON"
                              " g.id = o.group_id WHERE JSON_VALUE(g.spec, '$.emulation') = 'venue'"
                              " GROUP BY 1 ORDER BY 1")
            log.info("wire %s: the venue's OCO legs by status: %s", venue.dialect.name, legs)
            by_status = {str(status): int(n) for status, n in legs}
            assert by_status.get("FILLED", 0) > 0, legs
            assert by_status.get("EXPIRED", 0) > 0, legs
        assert counts["commands"] >= COMMANDS
        assert chaos.kills >= 4
        assert (outages.api_kills, outages.db_outages) == (2, 1)
        assert load.retries > 0
        for kind in ("rate_limit", "lost_response/drop", "lost_response/delay",
                     "invisible_order"):
            assert hits.get(kind, 0) > 0, (kind, hits)


def fire_lists(stack: Stack, load: Load, venue: WireVenueProcess, accounts: list[int]) -> None:
    """The lists of the load were mostly cancelled by its cancel-alls or placed after its last
    move: each account sells through one more, which a move under its stop fires (the
    exchange expiring its limit)."""
    venue.set_price("50000")
    load.last_price = 50000
    before = len(load.accepted)
    for account_id in accounts:
        load.post([load.body(account_id, "send_order", symbol=venue.dialect.symbol,
                             side="sell", order_type="limit", qty="0.001", price="50300",
                             emulation="venue", oco_orders=[{"stop_price": "49940"}])])
    settle(stack.url, load.accepted[before:])
    venue.set_price("49500")


def reconcile(stack: Stack, account_id: int, symbol: str) -> dict[str, Any]:
    """One reconciliation run's statistics (asked again while a run is still going)."""
    deadline = time.monotonic() + 300
    while True:
        response = stack.client.post("/oms/reconcile", json={
            "account_id": account_id, "scope": "short", "symbols_hint": [symbol]}, timeout=120)
        assert response.status_code == 200, response.text
        body = response.json()
        if body["runs"][0].get("status") != "running" or time.monotonic() > deadline:
            break
    assert body["ok"] is True, body
    run_: dict[str, Any] = body["runs"][0]
    return run_
