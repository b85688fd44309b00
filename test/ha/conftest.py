"""A real MariaDB Galera cluster for the HA tests (`make test-ha`; docs/deployment-ha.md): three
`mariadbd` nodes, each on its own test host (a network namespace on a test bridge,
`scripts/testnet.py`, so a node can be partitioned off), HAProxy as the one write endpoint on
127.0.0.1, and the gateway's real API and worker processes on it (`cluster_stack`).

Needs root, galera-4, haproxy and rsync (`scripts/ensure-galera` installs them); the tests of
test hosts over one plain MariaDB server need only root, mariadbd and `ip`
(`require_host_tools`). Without them the tests skip locally; with `CI=true` they fail instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from ..e2e.pipeline.conftest import Stack, make_stack

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from galera_cluster import Cluster, free_base  # noqa: E402 - the scripts' own module
from testnet import HostNet  # noqa: E402

pytestmark = [pytest.mark.ha, pytest.mark.mysql]
logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request of the load


def missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, mariadbd as the mysql user)"
    for tool in ("/usr/sbin/mariadbd", "/usr/sbin/haproxy", "/usr/bin/rsync", "/usr/sbin/ip"):
        if not Path(tool).exists() and not shutil.which(Path(tool).name):
            return f"{tool} is missing (scripts/ensure-galera installs it)"
    if not any(Path(p).exists() for p in ("/usr/lib/galera/libgalera_smm.so",
                                          "/usr/lib/libgalera_smm.so")):
        return "galera-4 is missing (scripts/ensure-galera installs it)"
    return None


def missing_for_hosts() -> str | None:
    """What test hosts with a plain MariaDB server on one of them need (no Galera, no HAProxy)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, mariadbd as the mysql user)"
    for tool in ("/usr/sbin/mariadbd", "/usr/bin/mariadb-install-db", "/usr/sbin/ip"):
        if not Path(tool).exists() and not shutil.which(Path(tool).name):
            return f"{tool} is missing (scripts/ensure-galera installs it)"
    return None


def require_cluster_tools() -> None:
    _require(missing())


def require_host_tools() -> None:
    _require(missing_for_hosts())


def _require(problem: str | None) -> None:
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the HA tests must run in CI: {problem}")
    pytest.skip(problem)


def host_net(tag: str) -> HostNet:
    """A test network whose names and /24 are this process's own."""
    return HostNet(f"{tag}{os.getpid() % 1000:03d}", net=os.getpid() % 250 + 2)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """Three Galera nodes on test hosts db1..db3 and HAProxy on 127.0.0.1 (module scope: a
    cluster takes ~15 s to start)."""
    require_cluster_tools()
    net = host_net("g")
    # not under pytest's tmp_path: mariadbd runs as `mysql`, which may not enter root's 0700 dirs
    root = Path(tempfile.mkdtemp(prefix="oms-galera-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, root, ignore_errors=True)
        net.create(["db1", "db2", "db3"])
        cleanup.callback(net.destroy)
        c = Cluster(root, base=free_base(), net=net, name=f"oms{secrets.token_hex(2)}")
        cleanup.callback(c.down)
        c.up()
        yield c


def create_database(cluster: Cluster, prefix: str) -> str:
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    with pymysql.connect(host="127.0.0.1", port=cluster.proxy_port, user="root", password="",
                         autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    return name


@contextlib.contextmanager
def cluster_stack(cluster: Cluster, tmp: Path, *, workers: int = 2,
                  env: dict[str, str] | None = None) -> Iterator[Stack]:
    """A fresh database on the cluster, migrated and seeded; one API and `workers` workers on
    the write endpoint; all torn down even when the test fails."""
    name = create_database(cluster, "oms_ha")
    with make_stack(tmp, workers=workers, env=env, database=(name, cluster.url(name))) as stack:
        yield stack
