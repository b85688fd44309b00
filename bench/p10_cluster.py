"""P10: P1 (throughput) and P2 (accept latency with a worker) through a 3-node MariaDB Galera
cluster behind HAProxy, beside the same benchmarks on the one local MariaDB server, interleaved
in the same hour; reported as ratios (cluster / one node) with where the cluster's CPU goes.

The throughput ratio on one machine charges the cluster's appliers to the writer's cores (all
three nodes share two). What a cluster costs the gateway itself is the writer's cost: the CPU
per command of the writer node, the API and the worker, through the cluster against one node
(`writer_cost` in the summary; the goal is within 1.15x), with the appliers' and the proxy's
beside it, from which a three-host deployment's figure is arithmetic (docs/benchmarks.md, P10).

    .venv/bin/python -m bench.p10_cluster --rounds 3 --driver asyncmy [--direct]

It starts its own cluster (scripts/galera_cluster.py, on free loopback ports, in a temporary
directory; needs root) and stops it at the end. Each round runs, in turn: P1 on one node, P1 on
the cluster, P2 on one node, P2 on the cluster (each benchmark as its own process, with
`OMS_BENCH_MYSQL` pointing it at the server). `--direct` adds P1 straight to the writer node
(no proxy): what a client-side host list would give, against what the proxy costs.

CPU per command is read from /proc for every server process: the single server, or the three
nodes (the writer and the two that apply its write sets) and HAProxy. One JSON line per run,
then one summary line (medians, ratios), and the machine's load before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.harness import ROOT, cpu_seconds, database_pids, load, median_run, report_line

sys.path.insert(0, str(ROOT / "scripts"))
from galera_cluster import Cluster, free_base


def last_json(output: str) -> dict[str, Any]:
    for line in reversed(output.splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    raise RuntimeError(f"no JSON result in:\n{output[-2000:]}")


# the writer's replication counters: write sets, their bytes, time paused by flow control
WSREP_COUNTERS = ("wsrep_replicated", "wsrep_replicated_bytes", "wsrep_flow_control_paused_ns",
                  "wsrep_local_cert_failures", "wsrep_local_bf_aborts")


def wsrep_counters(cluster: Cluster | None) -> dict[str, int]:
    if cluster is None:
        return {}
    status = cluster.status(cluster.writer() or 1)
    return {k: int(status.get(k, 0)) for k in WSREP_COUNTERS}


def run_bench(module: str, args: list[str], endpoint: str, pids: dict[str, int],
              cluster: Cluster | None = None) -> dict[str, Any]:
    env = {**os.environ, "OMS_BENCH_MYSQL": endpoint,
           "OMS_BENCH_DB_PIDS": ",".join(str(p) for n, p in pids.items() if n != "haproxy")}
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    counters = wsrep_counters(cluster)
    done = subprocess.run([sys.executable, "-m", module, *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=1800)
    after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    if done.returncode != 0:
        raise RuntimeError(f"{module} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    result = last_json(done.stdout)
    result["server_cpu_s"] = {name: round(after[name] - before[name], 3) for name in pids}
    if counters:
        result["writer_wsrep"] = {k: v - counters[k] for k, v in wsrep_counters(cluster).items()}
    return result


def cluster_pids(cluster: Cluster) -> dict[str, int]:
    pids = {f"n{i}": cluster.pid(i) for i in (1, 2, 3)}
    assert cluster.haproxy is not None
    return {**{k: v for k, v in pids.items() if v is not None}, "haproxy": cluster.haproxy.pid}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--commands", type=int, default=3000)
    parser.add_argument("--p2-seconds", type=float, default=10)
    parser.add_argument("--driver", choices=["aiomysql", "asyncmy"], default="asyncmy")
    parser.add_argument("--direct", action="store_true", help="also P1 straight to the writer")
    args = parser.parse_args()
    # a SIGTERM (timeout, kill) still stops the cluster: `finally` runs on SystemExit
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    p1 = ["--commands", str(args.commands), "--batch", "50", "--senders", "4", "--workers", "1",
          "--driver", args.driver]
    p2 = ["--seconds", str(args.p2_seconds), "--rate", "100", "--workers", "1", "--runs", "1",
          "--driver", args.driver]
    load_before = load()
    single = {"mariadbd": database_pids()[0]}
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="oms-p10-") as tmp:
        cluster = Cluster(Path(tmp), base=free_base(), name="p10")
        try:
            cluster.up()
            proxy = f"127.0.0.1:{cluster.proxy_port}"
            writer = cluster.node(cluster.writer() or 1)
            plan = [("P1 one node", "bench.p1_throughput", p1, "127.0.0.1:3306", False),
                    ("P1 cluster", "bench.p1_throughput", p1, proxy, True),
                    *([("P1 cluster direct", "bench.p1_throughput", p1,
                        f"{writer.host}:{writer.port}", True)] if args.direct else []),
                    ("P2 one node", "bench.p2_accept_latency", p2, "127.0.0.1:3306", False),
                    ("P2 cluster", "bench.p2_accept_latency", p2, proxy, True)]
            for round_ in range(1, args.rounds + 1):
                for name, module, bench_args, endpoint, on_cluster in plan:
                    pids = cluster_pids(cluster) if on_cluster else single
                    result = run_bench(module, bench_args, endpoint, pids,
                                       cluster if on_cluster else None)
                    if on_cluster:
                        result["writer_node"] = f"n{cluster.writer() or 1}"
                    runs.setdefault(name, []).append(result)
                    report_line(f"P10 {name}", {"round": round_, **result})
        finally:
            cluster.down()
    report_line("P10 summary", {**summary(runs, args.commands), "load_before": load_before,
                                "load_after": load()})


def summary(runs: dict[str, list[dict[str, Any]]], commands: int) -> dict[str, Any]:
    def med(name: str, pick: Any) -> float:
        return float(statistics.median(pick(r) for r in runs[name]))

    def p1(r: dict[str, Any]) -> float:
        return float(r["executed_per_s"])

    def p2(r: dict[str, Any]) -> float:
        return float(r["latency_ms"]["p99"])

    def server_ms(r: dict[str, Any]) -> dict[str, float]:
        n = commands + 200  # the timed commands and P1's untimed warm-up
        return {k: round(v * 1000 / n, 3) for k, v in r["server_cpu_s"].items()}

    out: dict[str, Any] = {
        "p1_one_node_per_s": med("P1 one node", p1), "p1_cluster_per_s": med("P1 cluster", p1),
        "p2_one_node_p99_ms": med("P2 one node", p2), "p2_cluster_p99_ms": med("P2 cluster", p2),
        "p1_all": {name: [p1(r) for r in rs] for name, rs in runs.items() if name.startswith("P1")},
        "p2_all_p99": {name: [p2(r) for r in rs] for name, rs in runs.items()
                       if name.startswith("P2")},
        # of the run with the median throughput
        "p1_server_cpu_ms_per_command": {name: server_ms(median_run(rs, "executed_per_s"))
                                         for name, rs in runs.items() if name.startswith("P1")},
        "p1_cluster_writer_wsrep_per_command": {
            k: round(v / (commands + 200), 1) for k, v in
            median_run(runs["P1 cluster"], "executed_per_s")["writer_wsrep"].items()},
    }
    out["writer_cost"] = writer_cost(runs, commands)
    out["p1_ratio"] = round(out["p1_cluster_per_s"] / out["p1_one_node_per_s"], 3)
    out["p2_p99_ratio"] = round(out["p2_cluster_p99_ms"] / out["p2_one_node_p99_ms"], 3)
    if "P1 cluster direct" in runs:
        out["p1_direct_per_s"] = med("P1 cluster direct", p1)
        out["p1_proxy_over_direct"] = round(out["p1_cluster_per_s"] / out["p1_direct_per_s"], 3)
    return out


def writer_cost(runs: dict[str, list[dict[str, Any]]], commands: int) -> dict[str, Any]:
    """CPU milliseconds per P1 command of the database server that takes the writes and of the
    gateway's processes, one node against the cluster (medians over the rounds), with the
    appliers' and the proxy's: what each host of a three-host cluster would spend."""
    n = commands + 200  # the timed commands and P1's untimed warm-up

    def per_command(r: dict[str, Any], name: str) -> float:
        return float(r["server_cpu_s"][name]) * 1000 / n

    def med(values: list[float]) -> float:
        return round(float(statistics.median(values)), 3)

    single, cluster = runs["P1 one node"], runs["P1 cluster"]
    writer = [per_command(r, r["writer_node"]) for r in cluster]
    appliers = [sum(per_command(r, k) for k in r["server_cpu_s"]
                    if k not in (r["writer_node"], "haproxy")) / 2 for r in cluster]
    out: dict[str, Any] = {
        "database_ms": {"one_node": med([per_command(r, "mariadbd") for r in single]),
                        "cluster_writer": med(writer)},
        "applier_ms_each": med(appliers),
        "haproxy_ms": med([per_command(r, "haproxy") for r in cluster]),
    }
    for process in ("api", "worker"):
        out[f"{process}_ms"] = {
            "one_node": med([r["cpu_ms_per_command"]["total"][process] for r in single]),
            "cluster": med([r["cpu_ms_per_command"]["total"][process] for r in cluster])}
    for part in ("database_ms", "api_ms", "worker_ms"):
        values = list(out[part].values())
        out[part]["ratio"] = round(values[1] / values[0], 3) if values[0] else None
    out["goal"] = "writer, API and worker CPU per command each <= 1.15x one node's"
    return out


if __name__ == "__main__":
    main()
