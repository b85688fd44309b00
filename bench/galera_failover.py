"""How long a Galera cluster takes no write after the node taking the writes is SIGKILLed, seen
by a bare client that inserts through HAProxy every 20 ms: Galera's failure detection as
scripts/galera_cluster.py tunes it, beside Galera's defaults (docs/deployment-ha.md).

    .venv/bin/python -m bench.galera_failover --kills 5 [--detection tuned|defaults|both]

Needs root (it starts its own cluster on free loopback ports, in a temporary directory). One JSON
line per detection setting: each kill's gap (from the last insert that succeeded before the
kill to the first that succeeded after it), median, max, and the machine's load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pymysql

from bench.harness import ROOT, load, report_line

sys.path.insert(0, str(ROOT / "scripts"))
from galera_cluster import FAILURE_DETECTION, Cluster, free_base

SETTINGS = {"tuned": FAILURE_DETECTION, "defaults": ""}


def gap_after_kill(cluster: Cluster) -> float:
    def connect() -> Any:
        return pymysql.connect(host="127.0.0.1", port=cluster.proxy_port, user="root",
                               password="", autocommit=True, connect_timeout=2,
                               read_timeout=20, write_timeout=20)

    results: list[tuple[float, float, bool]] = []  # sent, answered, ok
    stop = threading.Event()

    def insert_loop() -> None:
        conn = None
        while not stop.is_set():
            sent = time.monotonic()
            try:
                if conn is None:
                    conn = connect()
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO probe.t (v) VALUES (1)")
                results.append((sent, time.monotonic(), True))
            except pymysql.MySQLError:
                results.append((sent, time.monotonic(), False))
                conn = None
            time.sleep(0.02)

    thread = threading.Thread(target=insert_loop)
    thread.start()
    time.sleep(1)
    writer = cluster.writer() or 1
    killed = time.monotonic()
    cluster.kill_node(writer)
    time.sleep(10)
    stop.set()
    thread.join()
    before = max(answered for _, answered, ok in results if ok and answered <= killed)
    after = min(answered for sent, answered, ok in results if ok and sent >= killed)
    cluster.start_node(writer)  # rejoins by IST before the next kill
    return round(after - before, 2)


def measure(detection: str, kills: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="oms-failover-") as tmp:
        cluster = Cluster(Path(tmp), base=free_base(), detection=detection, name="failover")
        try:
            cluster.up()
            with pymysql.connect(host="127.0.0.1", port=cluster.proxy_port, user="root",
                                 password="", autocommit=True) as conn, conn.cursor() as cur:
                cur.execute("CREATE DATABASE probe")
                cur.execute("CREATE TABLE probe.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT)")
            return [gap_after_kill(cluster) for _ in range(kills)]
        finally:
            cluster.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--detection", choices=["tuned", "defaults", "both"], default="both")
    args = parser.parse_args()
    for name in ("tuned", "defaults") if args.detection == "both" else (args.detection,):
        before = load()
        gaps = measure(SETTINGS[name], args.kills)
        report_line("Galera writer failover", {
            "detection": name, "gaps_s": gaps, "median_s": statistics.median(gaps),
            "max_s": max(gaps), "load_before": before, "load_after": load()})


if __name__ == "__main__":
    main()
