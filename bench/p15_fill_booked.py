"""P15: fill → booked, through the exchange's private stream and through polling (issue #51).

Ten CCXT accounts of a venue served as its own process (`ccxt-oms venue serve`, bench/wire.py):
`ccxtpro.<dialect>` accounts (`--engine ccxtpro`: the worker books fills as the private stream,
CCXT Pro's `watch_my_trades` / `watch_orders`, delivers them, REST only repairs) or
`ccxt.<dialect>` ones (`--engine ccxt`: the worker's order sync polls REST about once a second);
`--both` runs the two in interleaved pairs (each run on a fresh stack and venue). `--venue`:
the dialect served, `wire:binance` (spot, BTC/USDT, the default), `wire:binanceusdm` or
`wire:bybit` (linear BTC/USDT:USDT) or `wire:okx` (spot BTC/USDT).

The load: `(--warmup + --seconds) × --fills-per-second` resting buy limits are placed through
the gateway (`POST /oms/commands`, untimed), one limit price step (`--step`) apart, spread over
the accounts in turn; then the venue's price (`/admin/price`) walks down `--hz` times a second
so that the orders it crosses fill at `--fills-per-second` (one fill per account per step at
the defaults). The first `--warmup` seconds are left out of the figures.

Measured per fill (`fill_to_booked`), from the trade's time on the venue
(`paper_fills.executed_at` in the venue's own store, the clock of the trade's timestamp on the
stream) to the moment a reader polling the gateway's `deals` every `--poll-ms` (10) first saw
its deal: after the booking committed, up to one interval and a query later. Beside it
(`fill_to_transaction_start`), to the deal row's `created_at`, the time its booking transaction
began: a lower bound, since one transaction books every trade a drain took, one after the
other. And the worker's own histogram `oms_fill_booked_seconds{path}` (observed after the
commit, bucketed: quantiles interpolated within the buckets, as PromQL's
`histogram_quantile`), which says how each fill was learned of (stream, poll or repair).
`p50_ms_by_quarter`: the p50 of the fills of each quarter of the timed seconds (the resting
orders per account go from all to none through the run). Fills missed: venue fills with no
deal after the run settled; booked twice: deals of one venue trade beyond the first, and deals
of no venue trade.

Where the worker's time goes: `main_threads` is the share of the timed seconds the main thread
(the event loop) of the API, the worker and the venue ran and waited runnable for a CPU
(`/proc/<pid>/schedstat`); `worker_functions`, the functions on the worker's stack by their
share of its on-CPU samples (inclusive; bench/cpu_sampling's ITIMER_PROF
sampler with each frame's function counted), and `worker_profile` / `cpu_split_ms_per_fill`
as bench/wire.py's (CCXT's share).

REST calls per fill: the order sync's `oms_sync_rest_calls_total` (poll + repair; the worker's
metrics endpoint) over the timed seconds divided by the fills in them; the CPU of the API, the
worker, MariaDB and the venue per fill over the same seconds.

`--drops N`: N stream drops injected over the timed seconds (`POST /admin/faults`
`{"kind": "stream_drop", "count": 1}`, one at a time, evenly spaced: the next private event of
any account closes that account's streams instead of being sent); fills missed and booked twice
are counted after the run settles (every venue fill booked, or `--settle` seconds).

    nice -n 19 flock /tmp/bench.lock .venv/bin/python -m bench.private_mariadb -- \
        .venv/bin/python -m bench.p15_fill_booked --both --runs 3 --seconds 20
    nice -n 19 flock /tmp/bench.lock .venv/bin/python -m bench.private_mariadb -- \
        .venv/bin/python -m bench.p15_fill_booked --engine ccxtpro --seconds 40 \
        --fills-per-second 50 --drops 100 --settle 90
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from bench import wire
from bench.harness import (
    ROOT,
    AccountMaker,
    Stack,
    cpu_per_command,
    free_port,
    load,
    mysql_connect,
    percentile,
    report,
    stack,
    stack_cpu,
)
from bench.p1_throughput import wait_done

ENGINES = ("ccxtpro", "ccxt")
#: bench/cpu_sampling's worker hook, and each function's inclusive samples beside it
SAMPLING_HOOK = ROOT / "bench" / "cpu_sampling"
PATH_OF = {"ccxtpro": "stream", "ccxt": "poll"}


@dataclass(frozen=True)
class Dialect:
    """What the benchmark needs of a served dialect: the symbol it trades, the quantity of an
    order (above the market's minimum notional at the run's prices), the options a CCXT account
    sets for what the venue serves (docs/testnet.md), and whether the dialect shows an engine
    trade id (`<account>-T<n>`) as Binance's number `n` (else as it is)."""

    symbol: str
    qty: str
    options: dict[str, Any]
    numbered: bool


DIALECTS = {
    "binance": Dialect("BTC/USDT", "0.001", wire.DIALECTS["binance"].options, numbered=True),
    "binanceusdm": Dialect(
        "BTC/USDT:USDT", "0.003", wire.DIALECTS["binanceusdm"].options, numbered=True
    ),
    "bybit": Dialect(
        "BTC/USDT:USDT", "0.001", {"fetchMarkets": {"types": ["linear"]}}, numbered=False
    ),
    "okx": Dialect(
        "BTC/USDT", "0.001", {"fetchMarkets": {"types": ["spot", "swap"]}}, numbered=False
    ),
}
VENUES = tuple(f"wire:{name}" for name in DIALECTS)
START_PRICE = Decimal(50_000)
#: the deals reader reads again this many ids below the newest it saw (late commits)
LOOK_BACK_IDS = 300
BUCKET = re.compile(r"^oms_fill_booked_seconds_bucket\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
LABEL = re.compile(r'(\w+)="([^"]*)"')


# --- the accounts -----------------------------------------------------------------------------


def account_maker(v: wire.Served, engine: str) -> AccountMaker:
    """`Served.add_accounts` with the engine chosen: `ccxtpro.<dialect>` (the private stream)
    or `ccxt.<dialect>` (polling), each pointed at the venue, its keys stored encrypted."""
    v.engine, v.options = engine, DIALECTS[v.dialect].options
    return v.add_accounts


def venue_account_ids(v: wire.Served) -> list[int]:
    """The venue's account id of each of `v.credentials` (the first is the announced one)."""
    return [int(v.announced["account_id"])] + [int(c["account_id"]) for c in v.credentials[1:]]


@contextlib.contextmanager
def fill_stack(args: argparse.Namespace, engine: str) -> Iterator[tuple[Stack, wire.Served, str]]:
    """A served venue with 10 funded accounts, and the gateway's stack on them; yields the
    stack, the venue and the worker's metrics URL."""
    port = free_port()
    env = {"OMS_WORKER__METRICS_PORT": str(port)}
    with contextlib.ExitStack() as stack_of:
        samples = stack_of.enter_context(tempfile.TemporaryDirectory())
        env |= {
            "PYTHONPATH": f"{SAMPLING_HOOK}{os.pathsep}{ROOT}",
            "OMS_BENCH_CPU_SAMPLES": samples,
        }
        v = stack_of.enter_context(wire.served(wire.dialect_of(args.venue), args.accounts,
                                               hedge=False))  # fmt: skip
        s = stack_of.enter_context(stack(
            accounts=args.accounts, mode="netting", extra_env={**env, **v.env},
            make_accounts=account_maker(v, engine), watched={"venue": v.proc.pid},
            driver=args.driver))  # fmt: skip
        yield s, v, f"http://127.0.0.1:{port}/metrics"


# --- the worker's metrics ---------------------------------------------------------------------


@dataclass
class Scrape:
    """What the benchmark reads of the worker's metrics at one moment."""

    rest_calls: dict[str, float]
    buckets: dict[str, dict[float, float]]  # path -> le -> cumulative count
    streams_up: float
    reconnects: float
    #: the worker's `fetch_open_orders` requests, every page (`oms_venue_call_seconds_count`):
    #: the sync counts one per listing, and an exchange that pages (OKX) may take more
    listings: float = 0.0


async def scrape(session: aiohttp.ClientSession, url: str) -> Scrape:
    async with session.get(url) as response:
        text = await response.text()
    rest: dict[str, float] = {}
    buckets: dict[str, dict[float, float]] = {}
    up = reconnects = listings = 0.0
    for line in text.splitlines():
        if line.startswith("oms_sync_rest_calls_total{"):
            labels = dict(LABEL.findall(line))
            rest[labels["purpose"]] = float(line.rsplit(" ", 1)[1])
        elif (m := BUCKET.match(line)) is not None:
            labels = dict(LABEL.findall(m["labels"]))
            buckets.setdefault(labels["path"], {})[float(labels["le"])] = float(m["value"])
        elif line.startswith("oms_order_stream_up{"):
            up += float(line.rsplit(" ", 1)[1])
        elif line.startswith("oms_order_stream_reconnects_total{"):
            reconnects += float(line.rsplit(" ", 1)[1])
        elif line.startswith("oms_venue_call_seconds_count{") and \
                'method="fetch_open_orders"' in line:  # fmt: skip
            listings += float(line.rsplit(" ", 1)[1])
    return Scrape(rest, buckets, up, reconnects, listings)


def histogram_quantile(q: float, cumulative: dict[float, float]) -> float | None:
    """PromQL's `histogram_quantile` over cumulative bucket counts (seconds), None if empty."""
    bounds = sorted(cumulative)
    total = cumulative[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for le in bounds:
        if cumulative[le] >= rank:
            if le == float("inf"):
                return lower
            span = cumulative[le] - below
            return lower + (le - lower) * ((rank - below) / span if span else 1.0)
        lower, below = le, cumulative[le]
    return lower


def worker_histogram(before: Scrape, after: Scrape) -> dict[str, Any]:
    """Per path, the fills the worker observed between two scrapes and their p50 / p99 (ms)."""
    out: dict[str, Any] = {}
    for path, buckets in after.buckets.items():
        old = before.buckets.get(path, {})
        delta = {le: n - old.get(le, 0.0) for le, n in buckets.items()}
        count = delta.get(float("inf"), 0.0)
        if count <= 0:
            continue
        p50, p99 = histogram_quantile(0.5, delta), histogram_quantile(0.99, delta)
        out[path] = {"count": int(count),
                     "p50_ms": None if p50 is None else round(p50 * 1000, 1),
                     "p99_ms": None if p99 is None else round(p99 * 1000, 1)}  # fmt: skip
    return out


def rest_delta(before: Scrape, after: Scrape) -> dict[str, float]:
    return {k: after.rest_calls.get(k, 0.0) - before.rest_calls.get(k, 0.0)
            for k in sorted(set(after.rest_calls) | set(before.rest_calls))}  # fmt: skip


# --- the load ---------------------------------------------------------------------------------


async def post(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> None:
    async with session.post(url, json=body) as response:
        if response.status != 200:
            raise RuntimeError(f"{url}: {response.status} {await response.text()}")


async def place(s: Stack, dialect: Dialect, total: int, step: Decimal, batch: int = 50,
                senders: int = 4) -> None:  # fmt: skip
    """`total` resting buy limits through the gateway, order j on account j mod 10 at
    START_PRICE - (j + 1) × step."""
    items = [{"account_id": s.account_ids[j % len(s.account_ids)], "command": "send_order",
              "payload": {"symbol": dialect.symbol, "side": "buy", "type": "limit", "qty": dialect.qty,
                          "price": str(START_PRICE - (j + 1) * step)}}
             for j in range(total)]  # fmt: skip
    queue = [items[i : i + batch] for i in range(0, total, batch)]
    async with aiohttp.ClientSession(s.base, headers={"x-api-key": s.trader_key}) as session:

        async def sender() -> None:
            while queue:
                chunk = queue.pop(0)
                async with session.post("/oms/commands", json=chunk) as response:
                    if response.status != 200:
                        raise RuntimeError(await response.text())

        await asyncio.gather(*(sender() for _ in range(senders)))


async def until_streams_up(session: aiohttp.ClientSession, url: str, want: int,
                           within_s: float = 120) -> None:  # fmt: skip
    deadline = time.monotonic() + within_s
    while (await scrape(session, url)).streams_up < want:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the {want} private streams did not come up")
        await asyncio.sleep(0.2)


async def move(session: aiohttp.ClientSession, admin_url: str, symbol: str, step: Decimal,
               rate: float, hz: float, seconds: float, done: int) -> int:  # fmt: skip
    """Walk the price down for `seconds` so that `rate` more orders a second fill (after
    `done` filled already); returns how many the walk has crossed in all."""
    begin = time.monotonic()
    crossed = done
    while (elapsed := time.monotonic() - begin) < seconds:
        crossed = done + round(rate * elapsed)
        await post(
            session,
            f"{admin_url}/price",
            {"symbol": symbol, "price": str(START_PRICE - (crossed + Decimal("0.5")) * step)},
        )
        await asyncio.sleep(max(0.0, (int(elapsed * hz) + 1) / hz - (time.monotonic() - begin)))
    crossed = done + round(rate * seconds)
    await post(
        session,
        f"{admin_url}/price",
        {"symbol": symbol, "price": str(START_PRICE - (crossed + Decimal("0.5")) * step)},
    )
    return crossed


async def drops(session: aiohttp.ClientSession, admin_url: str, count: int,
                seconds: float) -> int:  # fmt: skip
    """`count` stream drops, one set at a time, evenly over `seconds`; returns how many hit."""
    hits = 0
    for i in range(count):
        await asyncio.sleep(seconds / count if i else seconds / count / 2)
        async with session.get(f"{admin_url}/faults") as response:
            shown = await response.json()
        hits += sum(int(f.get("hits", 0)) for f in shown.get("faults", []))
        await post(
            session, f"{admin_url}/faults", {"faults": [{"kind": "stream_drop", "count": 1}]}
        )
    await asyncio.sleep(seconds / count / 2)
    async with session.get(f"{admin_url}/faults") as response:
        shown = await response.json()
    return hits + sum(int(f.get("hits", 0)) for f in shown.get("faults", []))


# --- what the venue filled and the gateway booked ---------------------------------------------


def venue_fills(v: wire.Served) -> list[tuple[int, str, datetime]]:
    """(venue account, trade id as the dialect shows it, executed at) of every venue fill."""
    path = str(v.announced["store"]).removeprefix("sqlite+aiosqlite:///")
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
        rows = conn.execute("SELECT account_id, trade_id, executed_at FROM paper_fills").fetchall()
    numbered = DIALECTS[v.dialect].numbered
    return [(int(a), str(int(t.rsplit("-", 1)[1].lstrip("T"))) if numbered else str(t),
             datetime.fromisoformat(str(e)).replace(tzinfo=UTC)) for a, t, e in rows]  # fmt: skip


def gateway_deals(s: Stack) -> list[tuple[int, str, datetime]]:
    """(gateway account, exchange trade id, created at) of every deal booked."""
    database = s.url.rsplit("/", 1)[1].split("?", 1)[0]
    with mysql_connect(database=database) as conn, conn.cursor() as cur:
        cur.execute("SELECT account_id, exchange_trade_id, created_at FROM deals")
        rows = cur.fetchall()
    return [(int(a), str(t), c.replace(tzinfo=UTC)) for a, t, c in rows]


class DealWatch:
    """A reader polling the gateway's deals every `interval` seconds (a thread, its own
    connection): when each deal became visible to a reader, i.e. after its booking committed
    (up to one interval and a query later)."""

    def __init__(self, s: Stack, interval: float) -> None:
        self.database = s.url.rsplit("/", 1)[1].split("?", 1)[0]
        self.interval = interval
        self.seen: dict[tuple[int, str], datetime] = {}
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> DealWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        last = 0
        with mysql_connect(database=self.database, autocommit=True) as conn, conn.cursor() as cur:
            while not self._stop.is_set():
                # from a little below the newest id seen: a transaction that took an id
                # first may commit after one that took a later id
                cur.execute("SELECT id, account_id, exchange_trade_id FROM deals WHERE id > %s",
                            (last - LOOK_BACK_IDS,))  # fmt: skip
                rows = cur.fetchall()
                now = datetime.now(UTC)
                self.polls += 1
                for deal_id, account, trade in rows:
                    self.seen.setdefault((int(account), str(trade)), now)
                    last = max(last, int(deal_id))
                self._stop.wait(self.interval)


def schedstat(pid: int) -> tuple[int, int]:
    """(ns on the CPU, ns runnable but waiting for one) of a process's main thread so far
    (`/proc/<pid>/schedstat`): for the worker, its event loop."""
    on_cpu, waiting, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
    return int(on_cpu), int(waiting)


def run_queue(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]],
              seconds: float) -> dict[str, dict[str, float]]:  # fmt: skip
    """Per process, the share of the wall seconds its main thread ran and waited runnable."""
    return {name: {"ran": round((after[name][0] - before[name][0]) / 1e9 / seconds, 3),
                   "waited_runnable": round((after[name][1] - before[name][1]) / 1e9 / seconds, 3)}
            for name in after}  # fmt: skip


def threads(s: Stack) -> dict[str, tuple[int, int]]:
    return {"api": schedstat(s.procs[0].pid), "worker": schedstat(s.procs[1].pid),
            **{name: schedstat(pid) for name, pid in s.watched.items()}}  # fmt: skip


def functions(s: Stack) -> dict[str, int]:
    """The worker's inclusive samples per function so far (written with its kinds' samples)."""
    path = Path(s.env["OMS_BENCH_CPU_SAMPLES"]) / f"{s.procs[1].pid}.functions.json"
    return {k: int(v) for k, v in json.loads(path.read_text()).items()}


def top_functions(before: dict[str, int], after: dict[str, int], top: int = 45
                  ) -> dict[str, float]:  # fmt: skip
    """The `top` functions by their share of the worker's CPU samples between two readings."""
    delta = {k: n - before.get(k, 0) for k, n in after.items()}
    total = max(delta.pop("<all>", 0), 1)
    ranked = sorted(delta.items(), key=lambda kv: -kv[1])[:top]
    return {"samples": total, **{k: round(n / total, 3) for k, n in ranked}}


def count_deals(s: Stack) -> int:
    database = s.url.rsplit("/", 1)[1].split("?", 1)[0]
    with mysql_connect(database=database) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM deals")
        row = cur.fetchone()
    return int(row[0]) if row else 0


def settle(s: Stack, v: wire.Served, timeout: float) -> float:
    """Until every venue fill has a deal (or `timeout`); returns the seconds it took."""
    begin = time.monotonic()
    while time.monotonic() - begin < timeout:
        if count_deals(s) >= len(venue_fills(v)):
            break
        time.sleep(0.25)
    return time.monotonic() - begin


def ms_figures(values: list[float]) -> dict[str, Any]:
    return {"count": len(values),
            "p50_ms": round(percentile(values, 50), 1) if values else None,
            "p99_ms": round(percentile(values, 99), 1) if values else None,
            "max_ms": round(max(values), 1) if values else None}  # fmt: skip


# --- one run ----------------------------------------------------------------------------------


async def timed(s: Stack, v: wire.Served, metrics_url: str, args: argparse.Namespace,
                engine: str) -> dict[str, Any]:  # fmt: skip
    dialect = DIALECTS[wire.dialect_of(args.venue)]
    symbol = dialect.symbol
    admin_url = str(v.announced["admin"])
    step = Decimal(args.step)
    total = round(args.fills_per_second * (args.warmup + args.seconds))
    async with aiohttp.ClientSession() as session:
        await post(session, f"{admin_url}/price", {"symbol": symbol, "price": str(START_PRICE)})
        begin = time.monotonic()
        await place(s, dialect, total, step)
        _, statuses, _ = await wait_done(s.url, total, 600)
        placed_s = time.monotonic() - begin
        if engine == "ccxtpro":
            await until_streams_up(session, metrics_url, len(s.account_ids))
        await asyncio.sleep(2.0)  # the repairs after the streams' connects, the last syncs
        watch = DealWatch(s, args.poll_ms / 1000).start()
        try:
            crossed = await move(session, admin_url, symbol, step, args.fills_per_second,
                                 args.hz, args.warmup, 0)  # fmt: skip
            before, cpu_before = await scrape(session, metrics_url), stack_cpu(s)
            sampling = wire.Sampling.start(s, s.procs[1].pid)
            functions_before = functions(s)
            sched_before = threads(s)
            window_start = datetime.now(UTC)
            mover = move(session, admin_url, symbol, step, args.fills_per_second, args.hz,
                         args.seconds, crossed)  # fmt: skip
            if args.drops:
                crossed, hit = await asyncio.gather(mover, drops(session, admin_url, args.drops,
                                                                 args.seconds))  # fmt: skip
            else:
                crossed, hit = await mover, 0
            window_end = datetime.now(UTC)
            after, cpu_after = await scrape(session, metrics_url), stack_cpu(s)
            sched_after = threads(s)
            profile = sampling.stop()
            functions_after = functions(s)
            settle_s = await asyncio.to_thread(settle, s, v, args.settle)
            await asyncio.sleep(0.1)
            settled = await scrape(session, metrics_url)
        finally:
            watch.stop()
    fills, deals = venue_fills(v), gateway_deals(s)
    to_gateway = dict(zip(venue_account_ids(v), s.account_ids, strict=False))
    booked: dict[tuple[int, str], list[datetime]] = {}
    for account, trade, created in deals:
        booked.setdefault((account, trade), []).append(created)
    seen_ms, began_ms, unseen = [], [], 0
    quarters: list[list[float]] = [[], [], [], []]
    seconds = (window_end - window_start).total_seconds()
    in_window = [f for f in fills if window_start <= f[2] < window_end]
    for account, trade, executed in in_window:
        key = (to_gateway[account], trade)
        if key not in booked:
            continue
        began_ms.append((min(booked[key]) - executed).total_seconds() * 1000)
        if key not in watch.seen:
            unseen += 1
            continue
        seen_ms.append((watch.seen[key] - executed).total_seconds() * 1000)
        quarter = int(4 * (executed - window_start).total_seconds() / seconds)
        quarters[min(quarter, 3)].append(seen_ms[-1])
    venue_keys = {(to_gateway[a], t) for a, t, _ in fills}
    rest = rest_delta(before, after)
    n = max(len(in_window), 1)
    cpu = cpu_per_command(cpu_before, cpu_after, n)
    return {
        "engine": engine,
        "path": PATH_OF[engine],
        "orders_placed": total,
        "place_seconds": round(placed_s, 1),
        "place_statuses": statuses,
        "timed_seconds": round(seconds, 2),
        "fills_per_s": round(len(in_window) / seconds, 1),
        "fill_to_booked": ms_figures(seen_ms),
        "measured": f"venue paper_fills.executed_at -> the deal first read by a reader polling "
        f"the gateway's deals every {args.poll_ms} ms (after its commit)",
        "p50_ms_by_quarter": [round(percentile(q, 50), 1) if q else None for q in quarters],
        "unseen_by_reader": unseen,
        "fill_to_transaction_start": ms_figures(began_ms),
        "reader_polls": watch.polls,
        "worker_histogram": worker_histogram(before, after),
        "worker_histogram_until_settled": worker_histogram(before, settled),
        "venue_fills": len(fills),
        "deals": len(deals),
        "missed": sum(1 for a, t, _ in fills if (to_gateway[a], t) not in booked),
        "booked_twice": sum(len(v_) - 1 for v_ in booked.values())
        + sum(1 for k in booked if k not in venue_keys),
        "settle_seconds": round(settle_s, 1),
        "rest_calls": rest,
        "rest_calls_per_fill": round(sum(rest.values()) / n, 4),
        "rest_calls_until_settled": rest_delta(before, settled),
        "open_order_requests": after.listings - before.listings,
        "drops_set": args.drops,
        "drops_hit": hit,
        "stream_reconnects": settled.reconnects - before.reconnects,
        "cpu_ms_per_fill": cpu,
        "worker_cpu_share_of_a_core": round(cpu["worker"] * len(in_window) / seconds / 1000, 3),
        "main_threads": run_queue(sched_before, sched_after, seconds),
        "worker_profile": profile,
        "worker_functions": top_functions(functions_before, functions_after),
        "cpu_split_ms_per_fill": wire.cpu_split(cpu, profile["samples"] if profile else None),
    }


def run_once(args: argparse.Namespace, engine: str) -> dict[str, Any]:
    with fill_stack(args, engine) as (s, v, metrics_url):
        load_before = load()
        result = asyncio.run(timed(s, v, metrics_url, args, engine))
        result["load"] = [load_before, load()]
    return {"venue": args.venue, "accounts": args.accounts, "driver": args.driver,
            "target_fills_per_s": args.fills_per_second, "hz": args.hz,
            "warmup_seconds": args.warmup, **result}  # fmt: skip


MEDIAN_KEYS = ("fills_per_s", "rest_calls_per_fill")


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The medians of a path's runs (each figure's own median)."""
    out: dict[str, Any] = {k: statistics.median(float(r[k]) for r in runs) for k in MEDIAN_KEYS}
    for key in ("p50_ms", "p99_ms", "max_ms"):
        got = [float(r["fill_to_booked"][key]) for r in runs
               if r["fill_to_booked"][key] is not None]  # fmt: skip
        out[key] = statistics.median(got) if got else None
    out["missed"] = sum(int(r["missed"]) for r in runs)
    out["booked_twice"] = sum(int(r["booked_twice"]) for r in runs)
    out["fills"] = sum(int(r["fill_to_booked"]["count"]) for r in runs)
    out["p99_each"] = [r["fill_to_booked"]["p99_ms"] for r in runs]
    out["rest_calls_per_fill_each"] = [r["rest_calls_per_fill"] for r in runs]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--venue", choices=VENUES, default="wire:binance")
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="ccxtpro",
        help="ccxtpro: the private stream; ccxt: polling",
    )
    parser.add_argument(
        "--both", action="store_true", help="both engines, in interleaved pairs (--runs pairs)"
    )
    parser.add_argument("--runs", type=int, default=1, help="runs (pairs with --both)")
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--fills-per-second", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=20, help="the timed seconds")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of fills left out")
    parser.add_argument("--hz", type=float, default=10, help="price steps a second")
    parser.add_argument("--step", default="1", help="between two orders' limits (USDT)")
    parser.add_argument("--drops", type=int, default=0, help="stream drops over the run")
    parser.add_argument(
        "--settle",
        type=float,
        default=60,
        help="seconds at most for every venue fill to be booked after the run",
    )
    parser.add_argument("--poll-ms", type=float, default=10,
                        help="the deals reader's interval (ms)")  # fmt: skip
    parser.add_argument("--driver", choices=("aiomysql", "asyncmy"), default="aiomysql")
    args = parser.parse_args()
    engines = list(ENGINES) if args.both else [args.engine]
    runs: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
    for i in range(args.runs):
        for engine in engines if i % 2 == 0 else engines[::-1]:
            runs[engine].append(run_once(args, engine))
            report("P15 fill booked", runs[engine][-1])
    if args.runs > 1:
        report("P15 fill booked median", {"runs": args.runs, "seconds": args.seconds,
                                          "target_fills_per_s": args.fills_per_second,
                                          "accounts": args.accounts, "drops": args.drops,
                                          **{PATH_OF[e]: medians(r) for e, r in runs.items()},
                                          "load": load()})  # fmt: skip


if __name__ == "__main__":
    main()
