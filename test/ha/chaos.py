"""What the HA tests do to a running cluster and how they watch the gateway meanwhile:

- `Probe`: one small write through the API every 100 ms (`cancel_all_orders` on an account of
  its own), recording when the API answered and how (200, or 503 while no node takes writes);
  `gap_after(t)` is how long the API took writes again after `t`.
- `kill_in_commit`: SIGKILL the writer while one of its sessions is inside COMMIT (its process
  list shows a `COMMIT` statement), or after a while at a random moment.
- `books`: a digest of every table of the database on one node, to compare the nodes.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from galera_cluster import Cluster

from ..e2e.pipeline.conftest import Stack


@dataclass
class Probe:
    stack: Stack
    account_id: int
    answers: list[tuple[float, float, int]] = field(default_factory=list)  # sent, answered, status
    accepted: list[int] = field(default_factory=list)  # command ids
    no_answer: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with httpx.Client(base_url=self.stack.base, timeout=60,
                          headers={"x-api-key": self.stack.trader_key}) as client:
            while not self.stop.is_set():
                sent = time.monotonic()
                try:
                    response = client.post("/oms/commands", json={
                        "account_id": self.account_id, "command": "cancel_all_orders",
                        "payload": {}})
                    self.answers.append((sent, time.monotonic(), response.status_code))
                    if response.status_code == 200:
                        self.accepted += [int(item["command_id"])
                                          for item in response.json()["results"]
                                          if item["command_id"] is not None]
                except httpx.TransportError as exc:  # no HTTP answer: a hang or a crash
                    self.no_answer.append(repr(exc))
                self.stop.wait(0.1)

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(120)

    def outage_at(self, moment: float) -> float | None:
        """How long the API took no write around `moment`: from the last write it accepted
        before `moment` to the first accepted of those sent after it (None: none yet)."""
        before = [answered for _, answered, status in self.answers
                  if answered <= moment and status == 200]
        after = [answered for sent, answered, status in self.answers
                 if sent >= moment and status == 200]
        if not after:
            return None
        return min(after) - (max(before) if before else moment)

    def statuses(self) -> set[int]:
        return {status for _, _, status in self.answers}

    def slowest(self) -> float:
        return max((answered - sent for sent, answered, _ in self.answers), default=0.0)


IN_COMMIT = ("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
             "WHERE INFO = 'COMMIT' AND ID != CONNECTION_ID()")


def kill_in_commit(cluster: Cluster, node: int, *, within: float = 10.0) -> tuple[bool, float]:
    """SIGKILL `node` the moment a session of it is inside COMMIT (its process list polled on
    one connection); after `within` seconds without one, at once. Returns whether it was
    inside a commit, and when it died."""
    deadline = time.monotonic() + within
    caught = False
    with contextlib.suppress(Exception), cluster.connect(node, timeout=2) as conn, \
            conn.cursor() as cur:  # (an error: the node went away meanwhile)
        while not caught and time.monotonic() < deadline:
            cur.execute(IN_COMMIT)
            row = cur.fetchone()
            caught = bool(row and int(row[0]))
    at = time.monotonic()
    cluster.kill_node(node)
    return caught, at


def wait_applied(cluster: Cluster, seconds: float = 300) -> None:
    """Until every node has applied the same last write set, twice in a row."""
    deadline = time.monotonic() + seconds
    last: tuple[str, ...] = ()
    while time.monotonic() < deadline:
        now = tuple(cluster.status(i).get("wsrep_last_committed", "?") for i in (1, 2, 3))
        if "?" not in now and len(set(now)) == 1 and now == last:
            return
        last = now
        time.sleep(0.5)
    raise AssertionError(f"the nodes did not converge: {last}")


def books(cluster: Cluster, node: int, database: str) -> dict[str, str]:
    """Each table's rows in primary-key order, digested, as node `node` has them."""
    digests: dict[str, str] = {}
    with cluster.connect(node, database=database) as conn, conn.cursor() as cur:
        cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                    "ORDER BY TABLE_NAME", (database,))
        tables = [str(row[0]) for row in cur.fetchall()]
        for table in tables:
            cur.execute("SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
                        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
                        "AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
                        (database, table))
            key = ", ".join(f"`{row[0]}`" for row in cur.fetchall()) or "1"
            cur.execute(f"SELECT * FROM `{table}` ORDER BY {key}")  # noqa: S608 - our names
            digest = hashlib.sha256()
            rows = 0
            for row in cur.fetchall():
                digest.update(repr(row).encode())
                rows += 1
            digests[table] = f"{rows}:{digest.hexdigest()[:16]}"
    return digests


def direct_write_refused(cluster: Cluster, node: int, database: str) -> Any:
    """Try a write on `node` itself (by its socket, past the proxy); the error it answered, or
    None when it took the write."""
    try:
        with cluster.connect(node, database=database, timeout=2) as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO market_quotes (venue, symbol, quoted_at) "
                        "VALUES ('minority', 'X/Y', NOW(6))")
    except Exception as exc:
        return exc
    return None
