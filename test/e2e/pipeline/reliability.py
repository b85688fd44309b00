"""Shared helpers of the reliability bars R1, R2, R4, R5 of quality.md (one module per bar, so
that `pytest -n --dist loadscope` runs them on different workers at once)."""

from __future__ import annotations

import subprocess
import threading
import time

import pymysql

from .conftest import Stack

MODES = ["hedge", "netting", "strategy_netting"]


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
