"""P1 and P3 over the wire (`--venue wire:DIALECT`): their 10 accounts are CCXT accounts
(`ccxt.<dialect>`, CCXT's own class, unpatched) of a venue served as a process of its own
(`ccxt-oms venue serve`, over its own SQLite store), instead of paper accounts served in the
worker's process. The figures then cover what an exchange account costs: CCXT building,
signing and rate-limiting requests, HTTP to the venue, the dialect and the engine there, CCXT
parsing the answers, and the worker's order sync polling the fills (`fetch_my_trades`) that an
order's answer does not carry (Binance USDⓈ-M answers a market order without its trades).

Where the CPU goes: the venue's process is measured apart (`stack_cpu`'s `venue`), and inside
the worker a sampler counts, every 10 ms of the worker's CPU time (`ITIMER_PROF`), whose work
was running: CCXT's (a frame of the `ccxt` package on the stack, or aiohttp outside one, CCXT's
HTTP client) or the gateway's (bench/cpu_kind.py; the hook is bench/cpu_sampling/
sitecustomize.py, loaded by the worker only when the benchmark puts it first on PYTHONPATH);
`cpu_split` applies that share to the worker's measured CPU. Neither simpler way is honest: a
CPU clock read around a CCXT call counts whatever else the event loop ran during its awaits,
and a wall-clock sampler (py-spy) on a loaded machine counts the time the worker held the GIL
while preempted, which piles up on its socket writes (measured: 3.2 times the worker's CPU,
27 % of it on one `StreamWriter.write` line).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`--venue` and `--no-cpu-split` of the benchmarks that run over the wire."""
    parser.add_argument("--venue", choices=VENUES, default="paper",
                        help="paper: paper accounts (in the worker's process); wire:DIALECT: "
                             "CCXT accounts of a venue served in that dialect, its own process")
    parser.add_argument("--no-cpu-split", action="store_true",
                        help="the worker does not sample its CPU (no split between the gateway "
                             "and CCXT)")  # fmt: skip


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
    #: the accounts' CCXT engine: `ccxt` (REST, polled) or `ccxtpro` (the private stream)
    engine: str = "ccxt"
    #: the accounts' CCXT options (None: this module's dialect's own; a dialect only P15 serves,
    #: Bybit or OKX, comes with its options from there)
    options: dict[str, Any] | None = None

    @property
    def env(self) -> dict[str, str]:
        """The gateway's processes decrypt the accounts' keys with it."""
        return {"ENCRYPTION_MASTER_KEY": self.master_key}

    async def add_accounts(self, conn: Any, user_id: int, count: int, mode: str) -> list[int]:
        """One `<engine>.<dialect>` testnet account per venue account, pointed at the venue by
        its `config.ccxt` and its keys stored encrypted: what `add-account --ccxt-config` and
        `upsert-account-credentials --encrypt-input` make (harness.AccountMaker)."""
        options = self.options if self.options is not None else DIALECTS[self.dialect].options
        config = {"urls": self.announced["ccxt_urls"], "options": options}
        cipher = CredentialCipher(self.master_key)
        # OKX's passphrase (CCXT's `password`): the announced account's, then each new one's
        passphrases = [self.announced.get("password")] + [c.get("password")
                                                           for c in self.credentials[1:]]  # fmt: skip
        ids = []
        for i, creds in enumerate(self.credentials[:count]):
            account_id = await admin.add_account(
                conn, CLI_ACTOR, user_id=user_id, exchange_id=f"{self.engine}.{self.dialect}",
                label=f"wire{i}", position_mode=mode, testnet=True, live=False,
                flags=TRADER_FLAGS, ccxt_config=config)  # fmt: skip
            await admin.upsert_credentials(
                conn, CLI_ACTOR, cipher, account_id=account_id,
                values={"api_key": creds["api_key"], "secret": creds["secret"],
                        "passphrase": passphrases[i]},
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
             extra_env: dict[str, str] | None = None, cpu_split: bool = True,
             **kw: Any) -> Iterator[Stack]:  # fmt: skip
    """`harness.stack` on paper accounts, or (`wire:DIALECT`) on CCXT accounts of a served
    venue, whose process's CPU the stack reports as `venue`; with `cpu_split`, its worker
    samples its CPU (`Sampling`)."""
    with contextlib.ExitStack() as stack_of:
        env = dict(extra_env or {})
        if cpu_split:
            env |= sampling_env(stack_of.enter_context(tempfile.TemporaryDirectory()))
        if venue == "paper":
            yield stack_of.enter_context(stack(accounts=accounts, mode=mode, extra_env=env, **kw))
            return
        v = stack_of.enter_context(served(dialect_of(venue), accounts, mode == "hedge"))
        yield stack_of.enter_context(stack(
            accounts=accounts, mode=mode, extra_env={**env, **v.env},
            make_accounts=v.add_accounts, watched={"venue": v.proc.pid}, **kw))  # fmt: skip


# --- where the worker's CPU goes ------------------------------------------------------------

SAMPLING_HOOK = ROOT / "bench" / "cpu_sampling"


def sampling_env(directory: str) -> dict[str, str]:
    """The environment that makes the stack's worker sample its CPU (bench/cpu_sampling)."""
    return {"PYTHONPATH": f"{SAMPLING_HOOK}{os.pathsep}{ROOT}", "OMS_BENCH_CPU_SAMPLES": directory}


def read_samples(s: Stack, pid: int, timeout: float = 30.0) -> dict[str, int] | None:
    """The worker `pid`'s samples so far by kind (SIGUSR2 asks it to write them), or None when
    the stack does not sample."""
    directory = s.env.get("OMS_BENCH_CPU_SAMPLES")
    if not directory:
        return None
    path = Path(directory) / f"{pid}.json"
    before = path.stat().st_mtime_ns if path.exists() else None
    os.kill(pid, signal.SIGUSR2)
    deadline = time.monotonic() + timeout
    while not path.exists() or path.stat().st_mtime_ns == before:
        if time.monotonic() > deadline:
            raise RuntimeError(f"worker {pid} wrote no CPU samples")
        time.sleep(0.05)
    return {k: int(v) for k, v in json.loads(path.read_text()).items()}


@dataclass
class Sampling:
    """The worker's CPU samples between `start` and `stop`."""

    s: Stack
    pid: int
    before: dict[str, int] | None

    @classmethod
    def start(cls, s: Stack, pid: int) -> Sampling:
        return cls(s, pid, read_samples(s, pid))

    def stop(self) -> dict[str, Any] | None:
        after = read_samples(self.s, self.pid)
        if after is None or self.before is None:
            return None
        samples = {k: after[k] - self.before.get(k, 0) for k in after}
        total = max(sum(samples.values()), 1)
        return {"method": "ITIMER_PROF every 10 ms of the worker's CPU (bench/cpu_sampling)",
                "samples": samples, "sampled_cpu_s": round(sum(samples.values()) / 100, 2),
                "ccxt_share": round((samples["ccxt"] + samples["ccxt_http"]) / total, 3)}  # fmt: skip


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
