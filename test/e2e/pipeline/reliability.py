"""Shared helpers of the reliability bars R1, R2, R4, R5 of quality.md (one module per bar, so
that `pytest -n --dist loadscope` runs them on different workers at once)."""

from __future__ import annotations

import logging
import random
import subprocess
import threading
import time

import pymysql
from sqlalchemy.engine import make_url

from .conftest import Stack

MODES = ["hedge", "netting", "strategy_netting"]
log = logging.getLogger(__name__)
# what a worker prints when it exits because it could not reach the store (apps/cli/context.py)
STORE_UNREACHABLE = "cannot use the database"


def sql(stack: Stack, query: str, *args: object) -> list[tuple[object, ...]]:
    """One query on the stack's database, on whichever server holds it (the shared one, or a
    test's private one)."""
    url = make_url(stack.url)
    with pymysql.connect(host=url.host or "127.0.0.1", port=url.port or 3306,
                         user=url.username or "root", password=url.password or "",
                         database=stack.name, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(query, args)
        return list(cur.fetchall())


def wait_registered(stack: Stack, proc: subprocess.Popen[bytes], stop: threading.Event) -> None:
    """Until the worker process has registered (it is past its imports and working). A store
    that cannot be reached for now (a test taking the database down) is asked again."""
    deadline = time.monotonic() + 30
    while not stop.is_set() and time.monotonic() < deadline and proc.poll() is None:
        try:
            if sql(stack, "SELECT 1 FROM workers WHERE id LIKE %s", f"%:{proc.pid}:%"):
                return
        except pymysql.err.OperationalError:
            pass
        time.sleep(0.05)


def accounts_of(stack: Stack, n: int, config: dict[str, object] | None = None,
                per_account: bool = False) -> dict[int, str]:
    modes = [MODES[i % 3] for i in range(n)]
    if not per_account:
        return dict(zip(stack.accounts(modes, config), modes, strict=True))
    return {stack.account(mode, {"paper": {"faults": {**(config or {}), "seed": i}}}): mode
            for i, mode in enumerate(modes)}


class WorkerChaos:
    """Start a worker, let it work a random while (`pause`, seconds after it registered),
    SIGKILL it, and again, on a thread, until `stop()`; the last worker stays up to finish the
    work. `stop()` re-raises what went wrong on the thread and returns only with a worker
    running: the checks that follow wait for one. A last worker that exited by itself because it
    could not reach the store (a start under two suites at once can fail to connect) is
    replaced, saying so in the log; one that exited for any other reason fails the test."""

    def __init__(self, stack: Stack, pause: tuple[float, float], seed: int) -> None:
        self.stack, self.pause, self.rng = stack, pause, random.Random(seed)
        self.kills = 0
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run)

    def start(self) -> None:
        self.thread.start()

    def running(self) -> bool:
        return self.thread.is_alive()

    def _run(self) -> None:
        try:
            while not self.stopping.is_set():
                proc = self.stack.start_worker()
                wait_registered(self.stack, proc, self.stopping)
                # random points of the working life: mostly inside a batch transaction
                if self.stopping.wait(self.rng.uniform(*self.pause)):
                    return
                self.stack.kill(proc)
                self.kills += 1
        except BaseException as exc:  # re-raised by stop(), on the test's thread
            self.errors.append(exc)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(120)
        if self.errors:
            raise self.errors[0]
        assert not self.thread.is_alive(), "the chaos thread did not stop"
        if any(proc.poll() is None for proc in self.stack.workers):
            return
        for proc in self.stack.workers:  # exited by itself (killed ones are no longer listed)
            output = self.stack.log_of(proc)
            if STORE_UNREACHABLE not in output:
                raise AssertionError(f"the last worker exited by itself ({proc.returncode}):\n"
                                     f"{output[-4000:]}")
            log.warning("the last worker could not reach the store (%s); starting another",
                        output.strip().splitlines()[-1])
        self.stack.start_worker()  # also when the thread stopped right after a kill
