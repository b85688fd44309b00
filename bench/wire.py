"""P1 and P3 over the wire (`--venue wire:DIALECT`): their 10 accounts are CCXT accounts
(`ccxt.<dialect>`, CCXT's own class, unpatched) of a venue served as a process of its own
(`ccxt-oms venue serve`, over its own SQLite store), instead of paper accounts served in the
worker's process. The figures then cover what an exchange account costs: CCXT building,
signing and rate-limiting requests, HTTP to the venue, the dialect and the engine there, CCXT
parsing the answers, and the worker's order sync polling the fills (`fetch_my_trades`) that an
order's answer does not carry (Binance USDⓈ-M answers a market order without its trades).

Where the CPU goes: the venue's process is measured apart (`stack_cpu`'s `venue`), and inside
the worker a sampling profiler attributes the time to CCXT or to the gateway: `py-spy record
--nonblocking` (`pip install py-spy`; outside the process, which it never pauses) takes the
worker's stacks while they are on the CPU, a sample is CCXT's when a frame of the `ccxt`
package is on its stack or, outside one, aiohttp's (CCXT's HTTP client: the worker uses aiohttp
for nothing else), and `cpu_split` applies that share to the worker's measured CPU. A counter
around the CCXT calls would not do: they are coroutines, and a CPU clock read across an await
counts whatever else the event loop ran meanwhile.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.oms.security.credentials import CredentialCipher, generate_master_key
from apps.oms.service import admin
from apps.oms.store.audit import CLI_ACTOR
from bench.harness import ROOT, TRADER_FLAGS, Stack, stack


@dataclass(frozen=True)
class Dialect:
    """What a benchmark needs to know of a served dialect: the symbol it trades, the options a
    CCXT account sets for what the venue serves (docs/testnet.md), and whether its accounts
    have a position mode (futures: a hedge gateway account needs a hedge venue account)."""

    symbol: str
    options: dict[str, Any]
    modes: bool


DIALECTS = {
    "binance": Dialect("BTC/USDT", {"fetchMarkets": {"types": ["spot"]}}, modes=False),
    "binanceusdm": Dialect("BTC/USDT:USDT", {"fetchCurrencies": False}, modes=True),
}
VENUES = ("paper", *(f"wire:{name}" for name in DIALECTS))
PROFILE_HZ = 100  # samples per second of the worker, over the wire by default


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`--venue` and `--profile-hz` of the benchmarks that run over the wire."""
    parser.add_argument("--venue", choices=VENUES, default="paper",
                        help="paper: paper accounts (in the worker's process); wire:DIALECT: "
                             "CCXT accounts of a venue served in that dialect, its own process")
    parser.add_argument("--profile-hz", type=int, default=None,
                        help=f"py-spy samples per second of the worker, for the CPU split "
                             f"between the gateway and CCXT (default {PROFILE_HZ} over the "
                             f"wire, 0 on paper; 0: none)")  # fmt: skip


def symbol(venue: str, paper: str) -> str:
    """The symbol the benchmark trades: `paper`'s on paper accounts, the dialect's otherwise."""
    return paper if venue == "paper" else DIALECTS[dialect_of(venue)].symbol


def dialect_of(venue: str) -> str:
    return venue.removeprefix("wire:")


@dataclass
class Served:
    """A venue running as a process (`ccxt-oms venue serve`) and funded accounts on it."""

    dialect: str
    proc: subprocess.Popen[bytes]
    announced: dict[str, Any]
    credentials: list[dict[str, str]]
    master_key: str = field(default_factory=generate_master_key)

    @property
    def env(self) -> dict[str, str]:
        """The gateway's processes decrypt the accounts' keys with it."""
        return {"ENCRYPTION_MASTER_KEY": self.master_key}

    async def add_accounts(self, conn: Any, user_id: int, count: int, mode: str) -> list[int]:
        """One `ccxt.<dialect>` testnet account per venue account, pointed at the venue by its
        `config.ccxt` and its keys stored encrypted: what `add-account --ccxt-config` and
        `upsert-account-credentials --encrypt-input` make (harness.AccountMaker)."""
        config = {"urls": self.announced["ccxt_urls"], "options": DIALECTS[self.dialect].options}
        cipher = CredentialCipher(self.master_key)
        ids = []
        for i, creds in enumerate(self.credentials[:count]):
            account_id = await admin.add_account(
                conn, CLI_ACTOR, user_id=user_id, exchange_id=f"ccxt.{self.dialect}",
                label=f"wire{i}", position_mode=mode, testnet=True, live=False,
                flags=TRADER_FLAGS, ccxt_config=config)  # fmt: skip
            await admin.upsert_credentials(
                conn, CLI_ACTOR, cipher, account_id=account_id,
                values={"api_key": creds["api_key"], "secret": creds["secret"],
                        "passphrase": None},
                encrypt_input=True, require_encrypted=True)  # fmt: skip
            ids.append(account_id)
        return ids


def _post(url: str) -> dict[str, Any]:
    request = urllib.request.Request(url, data=b"{}", method="POST",  # noqa: S310 - loopback
                                     headers={"content-type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
        return dict(json.loads(response.read()))


def _hedge(dialect: str, announced: dict[str, Any], creds: dict[str, str]) -> None:
    """The venue account to hedge mode, over the wire with CCXT (`set_position_mode`)."""
    import ccxt

    from apps.oms.exchange.ccxt.instances import merged

    exchange = getattr(ccxt, dialect)({"apiKey": creds["api_key"], "secret": creds["secret"],
                                       "options": DIALECTS[dialect].options})  # fmt: skip
    exchange.urls["api"] = merged(exchange.urls["api"], announced["ccxt_urls"])
    exchange.set_position_mode(True)


@contextlib.contextmanager
def served(dialect: str, accounts: int, hedge: bool) -> Iterator[Served]:
    """`ccxt-oms venue serve --dialect DIALECT` on a free port over a fresh SQLite store, with
    `accounts` funded accounts (in hedge mode when `hedge` and the dialect has modes)."""
    with tempfile.TemporaryDirectory(prefix="oms-wire-") as tmp:
        store = f"sqlite+aiosqlite:///{Path(tmp) / 'venue.sqlite3'}"
        out = Path(tmp) / "announced.json"
        with out.open("wb") as stdout:
            proc = subprocess.Popen(
                [sys.executable, "-m", "apps.cli", "venue", "serve", "--dialect", dialect,
                 "--port", "0", "--store", store],
                cwd=ROOT, stdout=stdout, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while not out.read_text().endswith("\n"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the {dialect} venue did not start (exit {proc.poll()})")
                time.sleep(0.1)
            announced = dict(json.loads(out.read_text().splitlines()[0]))
            creds = [{"api_key": announced["api_key"], "secret": announced["secret"]}]
            creds += [_post(f"{announced['admin']}/account") for _ in range(accounts - 1)]
            if hedge and DIALECTS[dialect].modes:
                for one in creds:
                    _hedge(dialect, announced, one)
            yield Served(dialect, proc, announced, creds)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def stack_on(venue: str, *, accounts: int = 10, mode: str = "hedge",
             extra_env: dict[str, str] | None = None, **kw: Any) -> Iterator[Stack]:  # fmt: skip
    """`harness.stack` on paper accounts, or (`wire:DIALECT`) on CCXT accounts of a served
    venue, whose process's CPU the stack reports as `venue`."""
    if venue == "paper":
        with stack(accounts=accounts, mode=mode, extra_env=extra_env, **kw) as s:
            yield s
        return
    with (
        served(dialect_of(venue), accounts, mode == "hedge") as v,
        stack(accounts=accounts, mode=mode, extra_env={**(extra_env or {}), **v.env},
              make_accounts=v.add_accounts, watched={"venue": v.proc.pid}, **kw) as s,
    ):  # fmt: skip
        yield s


# --- where the worker's CPU goes ------------------------------------------------------------

CCXT_FRAME = "site-packages/ccxt/"
#: CCXT's HTTP client (aiohttp and what it parses URLs and headers with)
HTTP_FRAMES = ("site-packages/aiohttp/", "site-packages/yarl/", "site-packages/multidict/")
ADAPTER_FRAME = "apps/oms/exchange/ccxt/"  # the gateway's adapter over CCXT (`CcxtVenue`)


def attribute(raw: str) -> dict[str, int]:
    """On-CPU samples (py-spy's raw format: `frame;frame;… count` a stack) by whose work they
    are: `ccxt` (a frame of the ccxt package on the stack), `ccxt_http` (aiohttp outside such a
    frame: its transport callbacks), `adapter` (the gateway's CCXT adapter, e.g. its Decimal
    conversion, outside both), `gateway` (the rest: the worker's own work, store, event loop)."""
    counts = {"ccxt": 0, "ccxt_http": 0, "adapter": 0, "gateway": 0}
    for line in raw.splitlines():
        frames, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        if CCXT_FRAME in frames:
            kind = "ccxt"
        elif any(f in frames for f in HTTP_FRAMES):
            kind = "ccxt_http"
        elif ADAPTER_FRAME in frames:
            kind = "adapter"
        else:
            kind = "gateway"
        counts[kind] += int(count)
    return counts


def cpu_split(cpu_ms: dict[str, float], samples: dict[str, int] | None) -> dict[str, float] | None:
    """CPU ms per command of the gateway (API, MariaDB, the worker outside CCXT), CCXT (its
    share of the worker's samples applied to the worker's CPU) and the venue's process."""
    total = sum((samples or {}).values())
    if not samples or not total:
        return None
    worker = cpu_ms["worker"]
    in_ccxt = worker * (samples["ccxt"] + samples["ccxt_http"]) / total
    return {"gateway": round(cpu_ms["api"] + cpu_ms["mariadb"] + worker - in_ccxt, 3),
            "ccxt": round(in_ccxt, 3), "venue": round(cpu_ms.get("venue", 0.0), 3)}  # fmt: skip


def profile_hz(args: argparse.Namespace) -> int:
    if args.profile_hz is not None:
        return int(args.profile_hz)
    return 0 if args.venue == "paper" else PROFILE_HZ


class Profile:
    """`py-spy record` of one process from construction to `stop()` (raw stacks, on-CPU only,
    `--nonblocking`: the process is never paused to be read)."""

    def __init__(self, pid: int, hz: int) -> None:
        found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.hz = hz
        self.path = Path(tempfile.mkstemp(prefix="oms-profile-", suffix=".txt")[1])
        self.proc = subprocess.Popen(
            [found, "record", "-p", str(pid), "-r", str(hz), "-f", "raw", "-o", str(self.path),
             "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

    def stop(self) -> dict[str, Any]:
        """The samples by kind (`attribute`), what they add up to in CPU seconds (compare with
        the worker's measured CPU) and the method."""
        self.proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            self.proc.wait(timeout=60)
            samples = attribute(self.path.read_text())
        finally:
            self.path.unlink(missing_ok=True)
        total = sum(samples.values())
        return {"method": f"py-spy record --nonblocking -r {self.hz}, on-CPU samples",
                "samples": samples, "sampled_cpu_s": round(total / self.hz, 2),
                "ccxt_share": round((samples["ccxt"] + samples["ccxt_http"]) / max(total, 1),
                                    3)}  # fmt: skip


def profile(pid: int, hz: int) -> Profile | None:
    """A profile of the worker `pid`, or None (`hz` 0, or py-spy not installed)."""
    installed = shutil.which("py-spy") or (Path(sys.executable).parent / "py-spy").exists()
    return Profile(pid, hz) if hz > 0 and installed else None
