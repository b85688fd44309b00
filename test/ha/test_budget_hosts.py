"""The request budget across two app hosts (docs/operations.md → Request budget): app1 and app2
are network-namespace test hosts (`scripts/testnet.py`), each with its own API and worker
processes of the gateway, on one MariaDB server on a third host (as test_r9_hosts.py runs it);
one local Binance venue (`ccxt-oms venue serve`) with a low request-weight limit, one
`ccxtpro.binance` testnet account on it.

Both hosts reach the venue by one address, as hosts behind one NAT do: the venue listens on the
root namespace's loopback and a relay on the test bridge forwards every connection to it, so
the venue counts both hosts' weight as one IP's (Binance counts weight per IP); both hosts
keep the default `budget.ip_label`, so they spend one budget row.

The load, from both hosts at once: the command load (`Load`) through each host's API on the one
account, and `/ccxt/{account}/fetch_*` reads through both APIs by three API keys (one greedy;
24 reads in flight), until the reads served weigh 8 windows' worth of the venue's limit; the
readers ask for more than twice what the limit lets through even while they are held to it
(the weight asked is logged). Then: the venue answered no 429 and no 418
(`GET /admin/limits`), no command failed for lack of budget and every accepted command ended
once (the invariants of test/e2e/pipeline/invariants.py against the venue's own book), every
read not served was the gateway's 429 `RateLimitExceeded` with a `Retry-After`, and the store's
budget rows show processes of both hosts spending the one budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from apps.oms.store.migrate import upgrade

from ..e2e.pipeline.invariants import check, settle
from ..e2e.pipeline.load import Load
from ..e2e.pipeline.wire_venue import DIALECTS, WireVenueProcess
from .conftest import host_net, require_host_tools
from .test_r9_hosts import HostStack, Server

pytestmark = [pytest.mark.ha, pytest.mark.mysql, pytest.mark.slow, pytest.mark.timeout(1800)]
log = logging.getLogger(__name__)

#: the venue's request weight per window and address: half Binance's rate (6000 a minute is
#: 1000 per 10 s), in windows short enough for many of them in a few minutes
WEIGHT_LIMIT, WINDOW_MS = 500, 10_000
#: the reads to serve, in windows' worth of the limit: the run lasts at least this many windows
#: (reads may use 80 % of each), however fast the machine
READ_WINDOWS = 8
#: a read's name, arguments and weight at the venue (apps/paper/wire/endpoints.py)
READS = [("fetch_ticker", ["BTC/USDT"], 2), ("fetch_order_book", ["BTC/USDT"], 5),
         ("fetch_balance", [], 20)]  # fmt: skip
#: concurrent reads per API key and host: one greedy key, two modest ones
READERS = {"greedy": 8, "modest-1": 2, "modest-2": 2}
ENV = {"OMS_BUDGET__LIMITS": json.dumps({"binance": {"units": WEIGHT_LIMIT,
                                                     "window_ms": WINDOW_MS}})}  # fmt: skip


class Relay:
    """Every connection to `host:port` relayed to `127.0.0.1:port` of this (the root)
    namespace, on a thread of its own: the test hosts leave by one address."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        assert self.started.wait(60), "the relay did not start"

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(60)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._relay, self.host,
                                                                   self.port))  # fmt: skip
        self.started.set()
        try:
            self.loop.run_forever()
        finally:
            server.close()
            self.loop.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.close()


@dataclass
class Reads:
    """What the readers were answered."""

    served: Counter[str] = field(default_factory=Counter)  # by API key
    weight: int = 0  # of the reads served
    throttled: Counter[str] = field(default_factory=Counter)  # 429 RateLimitExceeded, by key
    other: list[tuple[int, str]] = field(default_factory=list)  # anything else
    errors: list[BaseException] = field(default_factory=list)  # of the load's threads
    lost: list[httpx.TransportError] = field(default_factory=list)  # reads without an answer
    asked: int = 0  # the weight of every read asked, served or not

    def guarded(self, run: Any, *args: Any, **kw: Any) -> None:
        """`run(*args, **kw)` (a coroutine is run in an event loop of its own) on a thread;
        what it raises is kept for the test's thread."""
        try:
            asyncio.run(run) if asyncio.iscoroutine(run) else run(*args, **kw)
        except BaseException as exc:
            log.exception("a load thread failed")
            self.errors.append(exc)

    def throttled_reply(self, key: str, response: httpx.Response) -> None:
        """A refused read must be the exchange's own error, with when to come back."""
        error = response.json()["error"]
        retry_after = response.headers.get("retry-after", "")
        if (error["code"], error["details"].get("ccxt_error")) == ("rate_limited",
                                                                   "RateLimitExceeded") \
                and retry_after.isdigit() and int(retry_after) >= 1:  # fmt: skip
            self.throttled[key] += 1
        else:
            self.other.append((response.status_code, response.text[:300]))


async def read_until(bases: list[str], keys: dict[str, str], account_id: int, reads: Reads,
                     target: int) -> None:  # fmt: skip
    """Each key's readers on each host's API, until the reads served weigh `target`."""
    calls = itertools.cycle(READS)

    async def reader(http: httpx.AsyncClient, name: str) -> None:
        while reads.weight < target:
            func, args, weight = next(calls)
            reads.asked += weight
            try:
                response = await http.post(f"/ccxt/{account_id}/{func}", json={"args": args})
            except httpx.TransportError as exc:
                # no answer at all: a pooled keep-alive connection the API closed just as it
                # was reused (uvicorn's 5 s idle limit) is CCXT's NetworkError, read again;
                # a timeout would be the budget delaying a read past its deadline
                reads.lost.append(exc)
                log.warning("a read got no answer: %s %s %r", name, func, exc)
                continue
            if response.status_code == 200:
                reads.served[name] += 1
                reads.weight += weight
            elif response.status_code == 429:
                reads.throttled_reply(name, response)
                await asyncio.sleep(0.2)  # a greedy bot: back far sooner than Retry-After
            else:
                reads.other.append((response.status_code, response.text[:300]))
                await asyncio.sleep(0.2)

    clients = {(base, name): httpx.AsyncClient(base_url=base, headers={"x-api-key": key},
                                               timeout=600)
               for base in bases for name, key in keys.items()}  # fmt: skip
    try:
        await asyncio.gather(*(reader(http, name) for (_, name), http in clients.items()
                               for _ in range(READERS[name])))  # fmt: skip
    finally:
        for http in clients.values():
            await http.aclose()


@contextlib.contextmanager
def hosts_and_venue(tmp: Path) -> Iterator[tuple[HostStack, WireVenueProcess]]:
    """The database host, app1 and app2 with an API and a worker each, and the venue in the
    root namespace reached through the relay on the bridge."""
    require_host_tools()
    net = host_net("b")
    root = Path(tempfile.mkdtemp(prefix="oms-budget-hosts-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, root, ignore_errors=True)
        net.create(["db", "app1", "app2"])
        cleanup.callback(net.destroy)
        venue = WireVenueProcess(DIALECTS["binance"], tmp)
        cleanup.callback(venue.stop)
        venue.admin("POST", "limits", {"weight_limit": WEIGHT_LIMIT, "window_ms": WINDOW_MS})
        port = int(venue.rest.rsplit(":", 1)[1])
        relay = Relay(net.gateway, port)
        relay.start()
        cleanup.callback(relay.stop)
        venue.line["ccxt_urls"] = json.loads(json.dumps(venue.line["ccxt_urls"]).replace(
            f"127.0.0.1:{port}", f"{net.gateway}:{port}"))  # the accounts go through the relay
        server = Server(root, net, "db")
        cleanup.callback(server.stop)
        server.start()
        name = f"oms_budget_{os.getpid()}_{secrets.token_hex(3)}"
        with server.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        stack = HostStack(name, server.url(name), tmp, net)
        stack.extra_env.update(ENV)
        stack.server = server
        cleanup.callback(stack.stop_all)
        cleanup.callback(stack.client.close)
        upgrade(stack.url)
        stack.seed()
        for host in ("app1", "app2"):
            stack.spawn_on(host, "api")
            stack.spawn_on(host, "worker")
        for host in ("app1", "app2"):
            stack.use_api_of(host)
            stack.wait_api()
        yield stack, venue


def reader_keys(stack: HostStack, account_id: int) -> dict[str, str]:
    """A read-only user and key per reader, granted on the account."""
    keys = {}
    for name in READERS:
        response = stack.client.post("/admin/users-with-api-key", json={
            "name": name, "role": "readonly", "label": name,
            "permissions": [{"account_id": account_id, "can_read": True}]},
            headers={"x-api-key": stack.admin_key})  # fmt: skip
        assert response.status_code == 201, response.text
        keys[name] = str(response.json()["api_key"]["api_key"])
    return keys


def load_through(stack: HostStack, host: str, account_id: int, venue: WireVenueProcess,
                 first_request: int) -> Load:  # fmt: skip
    """The command load on the account through `host`'s API (request ids of its own)."""
    view = copy.copy(stack)
    view.client = httpx.Client(base_url=f"http://{stack.net.address(host)}:{stack.port}",
                               headers={"x-api-key": stack.trader_key}, timeout=600)  # fmt: skip
    load = Load(view, {account_id: "netting"}, seed=first_request, retry=True, timeout=600,
                symbol=venue.dialect.symbol, set_price=venue.set_price)  # fmt: skip
    load.ids = itertools.count(first_request)
    return load


def holders(stack: HostStack) -> list[tuple[str, str, int, Decimal]]:
    """The budget's holder rows: (budget key, holder's host, its latest window, units it
    reserved in that window), the holder `host:pid` mapped to the test host of that pid."""
    return [(str(key), stack.host_of.get(int(str(holder).rsplit(":", 1)[1]), str(holder)),
             int(window), Decimal(reserved)) for key, holder, window, reserved in stack.sql(
        "SELECT budget_key, holder, window_no, reserved FROM request_budget_holders")]  # fmt: skip


def test_the_budget_holds_across_two_app_hosts(tmp_path: Path) -> None:
    with hosts_and_venue(tmp_path) as (stack, venue):
        account_id = venue.gateway_account(stack, "netting")
        keys = reader_keys(stack, account_id)
        bases = [f"http://{stack.net.address(h)}:{stack.port}" for h in ("app1", "app2")]
        loads = [load_through(stack, host, account_id, venue, first)
                 for host, first in (("app1", 1), ("app2", 1_000_000))]  # fmt: skip
        reads = Reads()
        target = READ_WINDOWS * WEIGHT_LIMIT
        readers = threading.Thread(target=reads.guarded, args=(read_until(
            bases, keys, account_id, reads, target),))  # fmt: skip
        started = time.monotonic()
        readers.start()
        threads = [threading.Thread(target=reads.guarded, args=(load.run, 0), kwargs={
            "while_": readers.is_alive, "pause": 1.0}) for load in loads]  # fmt: skip
        for thread in threads:
            thread.start()
        while readers.is_alive():
            readers.join(15)
            log.info("reads served %s (weight %d of %d), throttled %s, other %d; commands %s",
                     dict(reads.served), reads.weight, target, dict(reads.throttled),
                     len(reads.other), [len(load.accepted) for load in loads])  # fmt: skip
        for thread in threads:
            thread.join(1500)
            assert not thread.is_alive()
        assert not reads.errors, reads.errors
        took = time.monotonic() - started
        for load in loads:
            load.stack.client.close()
        accepted = [c for load in loads for c in load.accepted]
        settle(stack.url, accepted)
        counts = check(stack.url, [account_id], accepted, settle_seconds=600, venue=venue.side)
        limits = venue.admin("GET", "limits")
        rows = stack.sql("SELECT budget_key, window_no, reserved FROM request_budgets")
        held = holders(stack)
        kinds = stack.sql("SELECT command_type, status, COUNT(*) FROM commands GROUP BY 1, 2")
        kinds += stack.sql("SELECT status, exchange_order_id IS NULL, order_type, COUNT(*) "
                           "FROM orders GROUP BY 1, 2, 3")  # fmt: skip
        apis = {str(p.pid) for p in stack.api_of.values()}
        api_holders = {str(h) for (h,) in stack.sql("SELECT holder FROM request_budget_holders")
                       if str(h).rsplit(":", 1)[1] in apis}  # fmt: skip
        log.info("two hosts, one budget: %.0f s, %s; reads served %s (weight %d of %d asked),"
                 " throttled %s, without an answer %d; venue %s; budget rows %s, spent by %s;"
                 " commands %s", took, counts, dict(reads.served), reads.weight, reads.asked,
                 dict(reads.throttled), len(reads.lost), limits, rows, held, kinds)  # fmt: skip
        (tmp_path / "budget-hosts.json").write_text(json.dumps({
            "seconds": round(took), "counts": counts, "served": reads.served,
            "read_weight": reads.weight, "asked_weight": reads.asked,
            "throttled": reads.throttled, "lost": len(reads.lost), "venue": limits}))

        assert (limits["limit"], limits["refused"], limits["banned"]) == (WEIGHT_LIMIT, 0, 0)
        assert counts["commands"] > 0
        assert counts["venue_orders"] > 0
        # no command refused or failed for lack of budget (check() allows only the load's own
        # reasons: venue rejects, orders changed by the other host's commands)
        assert not {"failed_rate_limited", "failed_venue_unavailable"} & set(counts), counts
        assert "rate_limited" not in [code for load in loads for code in load.refused]
        assert reads.other == [], reads.other[:5]
        assert not [e for e in reads.lost if isinstance(e, httpx.TimeoutException)], reads.lost
        assert all(reads.served[name] for name in READERS), reads.served
        assert sum(reads.throttled.values()) > 0  # the greedy key was held to its share
        assert reads.weight >= target
        assert len(rows) == 1, rows  # one IP, one limit
        ((key, window, reserved),) = rows
        assert {h[0] for h in held} == {key}
        assert {h[1] for h in held} == {"app1", "app2"}, held  # both hosts spent the one budget
        assert len(api_holders) == 2, held  # both APIs (the readers') among them
        # what the processes hold of the budget's latest window is within the window's row
        assert sum(h[3] for h in held if h[2] == window) <= reserved <= WEIGHT_LIMIT
