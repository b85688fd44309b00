"""Reliability bars R1, R2, R4, R5 of quality.md on real processes and a fresh MariaDB database
each; every test ends with the invariants of `invariants.py`. Bounded: the load is fixed, every
wait has a deadline, and the stack is torn down (processes killed, database dropped) on failure.
"""

from __future__ import annotations

import itertools
import logging
import random
import subprocess
import threading
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pymysql
import pytest

from apps.oms.domain.paper.faults import REJECT, TIMEOUT, FaultConfig, decide

from .conftest import Stack, make_stack
from .invariants import check
from .load import Load

# generous: these tests assert what happens, never how fast (speed belongs to bench/)
pytestmark = [pytest.mark.mysql, pytest.mark.slow, pytest.mark.timeout(1800)]
MODES = ["hedge", "netting", "strategy_netting"]
log = logging.getLogger(__name__)


def sql(stack: Stack, query: str, *args: object) -> list[tuple[object, ...]]:
    with pymysql.connect(host="127.0.0.1", user="root", password="", database=stack.name,
                         autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(query, args)
        return list(cur.fetchall())


def wait_registered(stack: Stack, proc: subprocess.Popen[bytes], stop: threading.Event) -> None:
    """Until the worker process has registered (it is past its imports and working)."""
    deadline = time.monotonic() + 30
    while not stop.is_set() and time.monotonic() < deadline and proc.poll() is None:
        if sql(stack, "SELECT 1 FROM workers WHERE id LIKE %s", f"%:{proc.pid}:%"):
            return
        time.sleep(0.05)


def accounts_of(stack: Stack, n: int, config: dict[str, object] | None = None,
                per_account: bool = False) -> dict[int, str]:
    modes = [MODES[i % 3] for i in range(n)]
    if not per_account:
        return dict(zip(stack.accounts(modes, config), modes, strict=True))
    return {stack.account(mode, {"paper": {"faults": {**(config or {}), "seed": i}}}): mode
            for i, mode in enumerate(modes)}


def test_r1_kill_9_worker_repeatedly(tmp_path: Path) -> None:
    """R1: 1,000 mixed commands over 10 accounts while the worker is SIGKILLed every 1-2 s of
    its working life and restarted."""
    with make_stack(tmp_path, workers=0) as stack:
        modes = accounts_of(stack, 10)
        load = Load(stack, modes, seed=1)
        stop, kills, rng = threading.Event(), [0], random.Random(7)

        def chaos() -> None:
            while not stop.is_set():
                proc = stack.start_worker()
                wait_registered(stack, proc, stop)
                if stop.wait(rng.uniform(1.0, 2.0)):
                    return  # the last worker stays up to finish the work
                stack.kill(proc)
                kills[0] += 1

        killer = threading.Thread(target=chaos)
        killer.start()
        try:
            load.run(1000)
            while kills[0] < 6:  # keep killing while the queue drains
                time.sleep(0.2)
        finally:
            stop.set()
            killer.join(60)
        # a command whose worker was killed under it more than 5 times fails `internal_error`
        # (the poison-command cap); a send that may be on the venue is exempt and looked up
        counts = check(stack.url, list(modes), load.accepted, settle_seconds=600,
                       also_failing=frozenset({"internal_error"}))
        ((retried,),) = sql(stack, "SELECT COUNT(*) FROM commands WHERE attempts > 1")
        log.info("R1: %s, worker kills %d, re-attempted commands %s", counts, kills[0], retried)
        assert counts["commands"] >= 1000
        assert kills[0] >= 6


def test_r2_kill_9_api_under_load(tmp_path: Path) -> None:
    """R2: the API is SIGKILLed and restarted during load; the client re-sends after connection
    errors with the same request ids. Every acknowledged command is stored once and executes."""
    with make_stack(tmp_path, workers=1) as stack:
        modes = accounts_of(stack, 5)
        load = Load(stack, modes, seed=2, retry=True)
        stop, kills = threading.Event(), [0]

        def chaos() -> None:  # kill 1-2 s after each (re)started API answers, 4 times
            while kills[0] < 4 and not stop.wait(random.uniform(1.0, 2.0)):
                assert stack.api is not None
                stack.kill(stack.api)
                kills[0] += 1
                stack.start_api()

        killer = threading.Thread(target=chaos)
        killer.start()
        try:
            load.run(200, while_=killer.is_alive)  # the load outlasts all 4 kills
        finally:
            stop.set()
            killer.join(60)
        stack.wait_api()
        stored = {(int(a), str(r)): int(i) for i, a, r in sql(
            stack, "SELECT id, account_id, request_id FROM commands WHERE request_id LIKE 'r%%'")}
        assert stored == load.acked  # every acked command stored, nothing unacknowledged
        counts = check(stack.url, list(modes), load.accepted)
        log.info("R2: %s, API kills %d, client retries %d", counts, kills[0], load.retries)
        assert kills[0] == 4
        assert load.retries > 0


def test_r4_paper_venue_with_timeouts_and_rejects(tmp_path: Path) -> None:
    """R4: 10 % timeouts (the order IS placed, the answer is lost) and 10 % rejects on every
    account. The fault draws are replayed to count them: every timed-out placement was adopted
    by looking it up (the only way its exchange id reached the books), every reject failed."""
    with make_stack(tmp_path, workers=1) as stack:
        faults = {"timeout_rate": "0.1", "reject_rate": "0.1"}
        modes = accounts_of(stack, 5, faults, per_account=True)
        seeds = {account_id: i for i, account_id in enumerate(modes)}
        load = Load(stack, modes, seed=4)
        load.run(300)
        counts = check(stack.url, list(modes), load.accepted)
        drawn: dict[str, int] = defaultdict(int)
        for account_id, calls in sql(stack, "SELECT account_id, fault_seq FROM paper_accounts"):
            config = FaultConfig(timeout_rate=Decimal("0.1"), reject_rate=Decimal("0.1"),
                                 seed=seeds[int(str(account_id))])
            for n in range(1, int(str(calls)) + 1):
                drawn[decide(config, int(str(account_id)), n)] += 1
        placed = sum(drawn.values()) - drawn[REJECT]
        ((venue_orders,),) = sql(stack, "SELECT COUNT(*) FROM paper_orders")
        ((adopted,),) = sql(stack, "SELECT COUNT(*) FROM orders WHERE exchange_order_id IS NOT NULL")
        ((rejected,),) = sql(stack, "SELECT COUNT(*) FROM orders WHERE error_code = 'venue_rejected'")
        log.info("R4: %s, fault draws %s", counts, dict(drawn))
        assert drawn[TIMEOUT] >= 5
        assert drawn[REJECT] >= 5
        assert venue_orders == adopted == placed  # each timed-out order found and adopted once
        assert rejected == drawn[REJECT]


def test_r5_two_workers_racing(tmp_path: Path) -> None:
    """R5: two worker processes on the same 10 accounts: per-account order, nothing twice."""
    with make_stack(tmp_path, workers=2) as stack:
        modes = accounts_of(stack, 10)
        load = Load(stack, modes, seed=5)
        load.run(300)
        counts = check(stack.url, list(modes), load.accepted)
        assert all(w.poll() is None for w in stack.workers)
        rows = sql(stack, "SELECT account_id, id, started_at, finished_at, attempts FROM commands"
                          " WHERE started_at IS NOT NULL ORDER BY account_id, id")
        # A command is claimed again when an attempt's transaction was rolled back (a transient
        # store error such as a deadlock between the two workers) or its worker's lease ran out
        # (a worker starved of CPU on a loaded machine misses its heartbeats): how often depends
        # on the machine's load, so it is logged, not bounded. What must hold is asserted:
        # check() above proves nothing was executed twice (one venue order per send, one
        # completion event per command), and below, each account's commands ran one at a time.
        retried = [r for r in rows if r[4] != 1]
        log.info("R5: re-claimed commands %d of %d", len(retried), len(rows))
        by_account: dict[object, list[tuple[object, ...]]] = defaultdict(list)
        for row in rows:
            by_account[row[0]].append(row)
        for runs in by_account.values():
            for before, after in itertools.pairwise(runs):
                assert after[2] >= before[3], (before, after)  # strictly one after the other
        ((running,),) = sql(stack, "SELECT COUNT(*) FROM workers WHERE status = 'running'")
        assert running == 2
        log.info("R5: %s, commands run by the two workers %d", counts, len(rows))
