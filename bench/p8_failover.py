"""P8: failover. Two workers on one paper account (real `ccxt-oms api` + 2 `ccxt-oms worker` on a
fresh MariaDB database). First, under a sustained command load, the largest heartbeat gap of each
worker (how close a busy but healthy worker comes to being declared dead). Then, `--kills` times:
a long position with a resting stop-loss, `kill -9` of the worker owning the account, the price
moved through the stop and one command posted; seconds from the kill until the other worker owns
the account, the command has completed and the stop-loss has closed the position. The killed
worker is replaced before the next round. Prints one JSON line.

    .venv/bin/python -m bench.p8_failover --kills 20 --load-seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pymysql

from bench.harness import ROOT, env_for, machine, stack

SYMBOL = "BTC/USDT:USDT"


class Bench:
    def __init__(self, s: Any, env: dict[str, str]) -> None:
        self.s, self.env = s, env
        self.http = httpx.Client(base_url=s.base, timeout=30,
                                 headers={"x-api-key": s.trader_key})
        self.db = s.url.rsplit("/", 1)[1]
        self.account = s.account_ids[0]

    def sql(self, query: str, *args: object) -> list[tuple[Any, ...]]:
        with pymysql.connect(host="127.0.0.1", user="root", password="", database=self.db,
                             autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(query, args)
            return list(cur.fetchall())

    def workers(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.s.procs[1:] if p.poll() is None]

    def owner_pid(self) -> int | None:
        ((owner,),) = self.sql("SELECT owner FROM account_leases WHERE account_id = %s",
                               self.account)
        return None if owner is None else int(str(owner).rsplit(":", 2)[1])

    def send(self, wait: bool, **payload: Any) -> dict[str, Any]:
        body = {"account_id": self.account, "command": "send_order",
                "payload": {"symbol": SYMBOL, "qty": "0.1", "type": "market", **payload}}
        params = {"wait": "completed"} if wait else {}
        response = self.http.post("/oms/commands", json=body, params=params)
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {response.text}")
        item: dict[str, Any] = response.json()["results"][0]
        return item

    def price(self, value: str) -> None:
        self.http.post("/paper/prices", json={"symbol": SYMBOL, "price": value},
                       headers={"x-api-key": self.s.admin_key}).raise_for_status()

    def get(self, path: str) -> dict[str, Any]:
        items: list[dict[str, Any]] = self.http.get(path).json()["items"]
        return items[0]

    def spawn_worker(self) -> None:
        proc = subprocess.Popen([sys.executable, "-m", "apps.cli", "worker"], env=self.env,
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.s.procs.append(proc)
        until(lambda: self.sql("SELECT 1 FROM workers WHERE id LIKE %s", f"%:{proc.pid}:%"))


def until(check: Callable[[], Any], seconds: float = 120) -> Any:
    deadline = time.monotonic() + seconds
    while not (value := check()):
        if time.monotonic() > deadline:
            raise RuntimeError("deadline passed")
        time.sleep(0.02)
    return value


def heartbeat_gaps(b: Bench, seconds: float) -> dict[str, float]:
    """Largest age of each running worker's heartbeat, sampled every 50 ms under a command load
    (market orders in batches of 20, as fast as the API accepts them)."""
    stop = threading.Event()

    def load() -> None:
        body = [{"account_id": b.account, "command": "send_order",
                 "payload": {"symbol": SYMBOL, "side": side, "type": "market", "qty": "0.001"}}
                for side in ("buy", "sell") * 10]
        while not stop.is_set():
            b.http.post("/oms/commands", json=body)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    worst: dict[str, float] = {}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        now = datetime.now(UTC).replace(tzinfo=None)
        for worker_id, beat in b.sql("SELECT id, heartbeat_at FROM workers"
                                     " WHERE status = 'running'"):
            worst[worker_id] = max(worst.get(worker_id, 0.0), (now - beat).total_seconds())
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join()
    until(lambda: not b.sql("SELECT 1 FROM commands WHERE status IN ('queued', 'running')"))
    return worst


def kill_round(b: Bench) -> dict[str, float]:
    b.price("100")
    buy = b.send(True, side="buy", qty="1", oms_stop_loss="95")
    position_id = b.get(f"/oms/orders/{buy['order_id']}")["position_id"]
    victim = until(b.owner_pid)
    survivors = {p.pid for p in b.workers()} - {victim}
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    b.price("94")
    command_id = b.send(False, side="sell")["command_id"]
    until(lambda: b.owner_pid() in survivors)
    owner = time.monotonic() - killed
    until(lambda: b.get(f"/oms/commands/{command_id}")["status"] == "completed")
    done = time.monotonic() - killed
    until(lambda: b.get(f"/oms/positions/{position_id}")["state"] == "closed")
    fired = time.monotonic() - killed
    for proc in b.s.procs:
        if proc.pid == victim:
            proc.wait()
    b.spawn_worker()
    return {"owner_s": owner, "next_command_s": done, "stop_loss_s": fired}


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "max": round(max(values), 3),
            "min": round(min(values), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--load-seconds", type=float, default=20)
    parser.add_argument("--heartbeat-seconds", type=float, default=0.5)
    parser.add_argument("--missed-heartbeats", type=int, default=7)
    # peers probe the workers' liveness locks this often (docs/worker.md); 0: heartbeats only
    parser.add_argument("--liveness-probe-seconds", type=float, default=0.2)
    args = parser.parse_args()
    extra = {"OMS_WORKER__HEARTBEAT_SECONDS": str(args.heartbeat_seconds),
             "OMS_WORKER__MISSED_HEARTBEATS": str(args.missed_heartbeats),
             "OMS_WORKER__LIVENESS_PROBE_SECONDS": str(args.liveness_probe_seconds)}
    load_before = os.getloadavg()
    with stack(accounts=1, workers=2, extra_env=extra) as s:
        b = Bench(s, env_for(s.url, int(s.base.rsplit(":", 1)[1]), **extra))
        gaps = heartbeat_gaps(b, args.load_seconds) if args.load_seconds > 0 else {}
        rounds = [kill_round(b) for _ in range(args.kills)]
    print(json.dumps({
        "benchmark": "p8_failover", "machine": machine(), "settings": extra,
        "kills": args.kills, "load_avg_before": load_before, "load_avg_after": os.getloadavg(),
        "heartbeat_max_gap_s_under_load": {k: round(v, 3) for k, v in gaps.items()},
        **{key: summary([r[key] for r in rounds]) for key in rounds[0]},
    }))


if __name__ == "__main__":
    main()
