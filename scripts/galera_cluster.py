"""A MariaDB Galera cluster of three nodes and its one write endpoint (HAProxy), on this machine,
for development, tests and benchmarks (docs/deployment-ha.md).

    python scripts/galera_cluster.py up        # ./data/ha: nodes on 127.0.0.1:3341-3343,
                                               # the write endpoint on 127.0.0.1:3340
    python scripts/galera_cluster.py status
    python scripts/galera_cluster.py kill 1    # SIGKILL node 1;  start 1: it rejoins by IST
    python scripts/galera_cluster.py restart   # the whole cluster, one node bootstrapping
    python scripts/galera_cluster.py down      # stop everything (the data stays; --wipe drops it)

`make ha-up` / `make ha-down` run the same. Tests use `Cluster` directly, on their own ports and
directory, optionally with each node on its own test host (`scripts/testnet.py`) so that a node
can be cut off from the others (a partition).

Every node runs `mariadbd` with the options of docs/deployment-ha.md → Node settings; node 1
gets `mariadb-install-db` and bootstraps (`--wsrep-new-cluster`), the others start empty and
take a full copy (rsync SST). A killed node restarts from the position `--wsrep-recover` prints,
so it rejoins by incremental transfer (IST). HAProxy sends every connection to one node at a
time (n1, then the backups n2, n3), checks each node's `galera_health.py` agent (Synced, ready,
Primary), shuts the sessions of a node marked down, and keeps the writes where they went (a
one-entry stick table) when a node comes back.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from testnet import HostNet

GALERA = next((p for p in ("/usr/lib/galera/libgalera_smm.so", "/usr/lib/libgalera_smm.so")
               if Path(p).exists()), "/usr/lib/galera/libgalera_smm.so")
HEALTH = Path(__file__).resolve().parent / "galera_health.py"
# Galera's failure detection, shortened from its defaults (keepalive 1 s, suspect 5 s,
# inactive 15 s, install 7.5 s): a dead node is evicted in ~1-1.5 s instead of ~6 s, so the
# survivors commit again within the API's 3 s promise. The cost: a node that cannot answer
# for `suspect_timeout` (a stall, a loaded host) is evicted too and rejoins by IST.
FAILURE_DETECTION = ("evs.keepalive_period=PT0.2S;evs.suspect_timeout=PT1S;"
                     "evs.inactive_timeout=PT2S;evs.inactive_check_period=PT0.2S;"
                     "evs.install_timeout=PT2S;evs.join_retrans_period=PT0.2S")
SYNCED = "4"
# HAProxy's view of each node: checked every 500 ms (200 ms while changing state), down after
# two failed checks or at once when a connection to it fails, up after two good ones; a node
# marked down has its sessions shut, so no client keeps talking to it
DEFAULT_SERVER = ("inter 500ms fastinter 200ms downinter 1s rise 2 fall 2 "
                  "on-marked-down shutdown-sessions observe layer4 error-limit 1 on-error mark-down")


def socket_connect(path: Path, database: str | None = None, timeout: float = 2) -> Any:
    """A root connection over a node's unix socket. The socket is opened here: PyMySQL leaves
    the socket of a refused unix-socket connect open (a node that is down or starting)."""
    import pymysql

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(str(path))
    except OSError as exc:
        sock.close()
        raise pymysql.err.OperationalError(2002, f"cannot connect to {path}: {exc}") from exc
    conn = pymysql.connect(unix_socket=str(path), user="root", password="", database=database,
                           autocommit=True, connect_timeout=timeout,
                           read_timeout=max(timeout, 10), defer_connect=True)
    conn.connect(sock)
    return conn


def free_base(start: int = 20000, step: int = 50) -> int:
    """A base port whose whole block (base .. base+49) is free on 127.0.0.1."""
    for base in range(start, 60000, step):
        try:
            for port in range(base, base + step):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port block")


@dataclass
class Node:
    index: int
    host: str  # the address it binds and the others reach it at
    port: int
    gcomm: int
    ist: int
    sst: int
    health: int
    datadir: Path
    netns: str | None = None
    proc: subprocess.Popen[Any] | None = None
    agent: subprocess.Popen[Any] | None = None

    @property
    def name(self) -> str:
        return f"n{self.index}"

    @property
    def log(self) -> Path:
        return self.datadir.parent / f"{self.name}.err"


class Cluster:
    """Three Galera nodes and HAProxy. Ports (loopback): proxy `base`, node i `base + i`, gcomm
    `base + 10 + i`, IST `base + 20 + i`, SST `base + 30 + i`, health agent `base + 40 + i`.
    With `net` (a `HostNet`), node i is the test host `db<i>` on its own address."""

    def __init__(self, root: Path, *, base: int = 3340, net: HostNet | None = None,
                 name: str = "oms", detection: str = FAILURE_DETECTION) -> None:
        self.root, self.base, self.net, self.name = root, base, net, name
        self.detection = detection
        self.proxy_port = base
        self.nodes: list[Node] = []
        for i in (1, 2, 3):
            host = net.address(f"db{i}") if net else "127.0.0.1"
            self.nodes.append(Node(
                i, host, base + i, base + 10 + i, base + 20 + i, base + 30 + i, base + 40 + i,
                root / f"n{i}", netns=net.netns(f"db{i}") if net else None))
        self.haproxy: subprocess.Popen[Any] | None = None

    # -- addresses ----------------------------------------------------------------------------
    @property
    def proxy_hosts(self) -> list[str]:
        """Where the write endpoint listens: loopback, and the bridge when nodes are test hosts
        (so processes on other test hosts reach it)."""
        return ["127.0.0.1", *([self.net.gateway] if self.net else [])]

    def url(self, database: str, driver: str = "asyncmy", host: str = "127.0.0.1") -> str:
        return f"mysql+{driver}://root@{host}:{self.proxy_port}/{database}"

    def node(self, i: int) -> Node:
        return self.nodes[i - 1]

    # -- nodes --------------------------------------------------------------------------------
    def _args(self, node: Node) -> list[str]:
        peers = ",".join(f"{n.host}:{n.gcomm}" for n in self.nodes)
        options = (f"gmcast.listen_addr=tcp://{node.host}:{node.gcomm};"
                   f"ist.recv_addr={node.host}:{node.ist};gcache.size=512M;gcache.recover=yes;"
                   f"{self.detection}")
        return [
            "/usr/sbin/mariadbd", "--no-defaults", f"--datadir={node.datadir}",
            f"--port={node.port}", f"--bind-address={node.host}",
            f"--socket={node.datadir.parent / (node.name + '.sock')}",
            f"--pid-file={node.datadir.parent / (node.name + '.pid')}", "--user=mysql",
            f"--log-error={node.log}", "--innodb-buffer-pool-size=256M",
            "--innodb-log-file-size=256M", "--max-connections=2000",
            "--binlog-format=ROW", "--default-storage-engine=InnoDB",
            "--innodb-autoinc-lock-mode=2", "--skip-name-resolve",
            # durability comes from the other nodes holding every commit (docs/deployment-ha.md)
            "--innodb-flush-log-at-trx-commit=2",
            # a write set carries the key and the changed columns of an update, not two full
            # copies of the row (the outbox's JSON payloads made updates ~2 KB each)
            "--binlog-row-image=MINIMAL",
            # a write set is built from the binary log's events: without this it carries every
            # statement's SQL text too (`Annotate_rows`, values and all: 22.4 -> 10.5 KB per
            # P1 command), and with the next one its row events are zlib-compressed (-> 2.7 KB)
            "--binlog-annotate-row-events=OFF", "--log-bin-compress=ON",
            # one node takes the writes: ids stay dense (the outbox sequencer numbers runs of
            # consecutive ids; per-node offsets made every row a run of its own). Two writers
            # at once would give one id twice: certification aborts the second (1213, retried)
            "--wsrep-auto-increment-control=OFF",
            "--wsrep-on=ON", f"--wsrep-provider={GALERA}", f"--wsrep-cluster-name={self.name}",
            f"--wsrep-cluster-address=gcomm://{peers}", f"--wsrep-node-name={node.name}",
            f"--wsrep-node-address={node.host}:{node.gcomm}",
            f"--wsrep-node-incoming-address={node.host}:{node.port}",
            "--wsrep-sst-method=rsync", f"--wsrep-sst-receive-address={node.host}:{node.sst}",
            f"--wsrep-provider-options={options}",
        ]

    def _wrap(self, node: Node, argv: list[str]) -> list[str]:
        return self.net.command(f"db{node.index}", argv) if self.net else argv

    def _prepare(self, node: Node, *, install: bool) -> None:
        node.datadir.mkdir(parents=True, exist_ok=True)
        shutil.chown(node.datadir.parent, "mysql", "mysql")
        if install and not (node.datadir / "mysql").exists():
            subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={node.datadir}",
                            "--user=mysql", "--auth-root-authentication-method=normal",
                            "--skip-test-db"], check=True, capture_output=True)
        for path in (node.datadir, *node.datadir.rglob("*")):
            shutil.chown(path, "mysql", "mysql")

    def start_node(self, i: int, *, bootstrap: bool = False, wait: bool = True) -> None:
        node = self.node(i)
        self._prepare(node, install=bootstrap)
        args = self._args(node)
        if bootstrap:
            args.append("--wsrep-new-cluster")
        else:
            position = self.recover_position(i)
            if position:
                args.append(f"--wsrep-start-position={position}")
        with (self.root / f"{node.name}.out").open("ab") as out:
            node.proc = subprocess.Popen(self._wrap(node, args), stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self._start_agent(node)
        if wait:
            self.wait_synced(i)

    def recover_position(self, i: int) -> str | None:
        """The last committed position in node i's data (`--wsrep-recover`), so a restart
        rejoins by IST; None for an empty node (it takes a full copy)."""
        node = self.node(i)
        if not (node.datadir / "mysql").exists():
            return None
        log = node.datadir.parent / f"{node.name}.recover"
        log.unlink(missing_ok=True)
        args = [a if not a.startswith("--log-error=") else f"--log-error={log}"
                for a in self._args(node)]
        subprocess.run(self._wrap(node, [*args, "--wsrep-recover"]), check=False,
                       capture_output=True, timeout=300)
        found = re.findall(r"Recovered position:\s*(\S+:-?\d+)", log.read_text(errors="replace"))
        return found[-1] if found else None

    def _start_agent(self, node: Node) -> None:
        if node.agent is not None and node.agent.poll() is None:
            return
        argv = [sys.executable, str(HEALTH), "--listen", f"{node.host}:{node.health}",
                "--node", f"{node.host}:{node.port}"]
        node.agent = subprocess.Popen(self._wrap(node, argv), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True)

    def pid(self, i: int) -> int | None:
        node = self.node(i)
        if node.proc is not None and node.proc.poll() is None:
            return node.proc.pid
        pidfile = node.datadir.parent / f"{node.name}.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pidfile.read_text().strip())
            os.kill(pid, 0)
            return pid
        return None

    def kill_node(self, i: int, sig: int = signal.SIGKILL) -> None:
        pid = self.pid(i)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        node = self.node(i)
        if node.proc is not None:
            node.proc.wait(timeout=300)
            node.proc = None
        elif pid is not None:
            self._wait_gone(pid)

    def stop_node(self, i: int) -> None:
        """A clean shutdown (SIGTERM): the node saves its position (`grastate.dat`)."""
        self.kill_node(i, signal.SIGTERM)

    @staticmethod
    def _wait_gone(pid: int, seconds: float = 300) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        raise TimeoutError(f"process {pid} did not exit")

    # -- state --------------------------------------------------------------------------------
    def connect(self, i: int, database: str | None = None, timeout: float = 2) -> Any:
        node = self.node(i)  # by its socket: root may connect only locally until `up` grants more
        return socket_connect(node.datadir.parent / f"{node.name}.sock", database, timeout)

    def status(self, i: int) -> dict[str, str]:
        try:
            with self.connect(i) as conn, conn.cursor() as cur:
                cur.execute("SHOW GLOBAL STATUS LIKE 'wsrep_%'")
                return {str(k): str(v) for k, v in cur.fetchall()}
        except Exception:
            return {}

    def synced(self, i: int) -> bool:
        state = self.status(i)
        return state.get("wsrep_local_state") == SYNCED and state.get("wsrep_ready") == "ON"

    def wait_synced(self, i: int, seconds: float = 300) -> None:
        deadline = time.monotonic() + seconds
        node = self.node(i)
        while time.monotonic() < deadline:
            if self.synced(i):
                return
            if node.proc is not None and node.proc.poll() is not None:
                raise RuntimeError(f"{node.name} exited:\n{self.tail(i)}")
            time.sleep(0.2)
        raise TimeoutError(f"{node.name} not synced in {seconds} s:\n{self.tail(i)}")

    def tail(self, i: int, lines: int = 40) -> str:
        log = self.node(i).log
        text = log.read_text(errors="replace") if log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    # -- the write endpoint ---------------------------------------------------------------------
    def haproxy_config(self) -> str:
        binds = "\n".join(f"  bind {h}:{self.proxy_port}" for h in self.proxy_hosts)
        servers = "\n".join(
            f"  server {n.name} {n.host}:{n.port} check port {n.health}"
            + ("" if n.index == 1 else " backup") for n in self.nodes)
        return f"""global
  maxconn 4000
  stats socket {self.root / 'haproxy.sock'} mode 600 level admin

defaults
  mode tcp
  timeout connect 1s
  timeout client 24h
  timeout server 24h
  timeout check 1s
  retries 2
  option redispatch

listen galera
{binds}
  balance first
  # one entry: every connection goes where the writes went, also after the old node rejoins
  stick-table type integer size 1
  stick on int(1)
  option httpchk GET /
  default-server {DEFAULT_SERVER}
{servers}
"""

    def start_proxy(self) -> None:
        config = self.root / "haproxy.cfg"
        config.write_text(self.haproxy_config())
        with (self.root / "haproxy.out").open("ab") as out:
            self.haproxy = subprocess.Popen(
                ["haproxy", "-f", str(config)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        # HAProxy writes no pid file in the foreground: `down` from another process reads ours
        (self.root / "haproxy.pid").write_text(f"{self.haproxy.pid}\n")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.proxy_port), timeout=1):
                return
            if self.haproxy.poll() is not None:
                raise RuntimeError((self.root / "haproxy.out").read_text())
            time.sleep(0.1)
        raise TimeoutError("haproxy did not listen")

    def proxy_state(self) -> dict[str, str]:
        """Each server's state as HAProxy sees it (UP, DOWN, ...)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self.root / "haproxy.sock"))
            sock.sendall(b"show stat\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        states = {}
        for line in data.decode().splitlines():
            cols = line.split(",")
            if len(cols) > 17 and cols[0] == "galera" and cols[1] not in ("FRONTEND", "BACKEND"):
                states[cols[1]] = cols[17]
        return states

    def writer(self) -> int | None:
        """The node the write endpoint sends connections to now (asked through it)."""
        import pymysql

        try:
            with pymysql.connect(host="127.0.0.1", port=self.proxy_port, user="root",
                                 password="", connect_timeout=2, read_timeout=5) as conn, \
                    conn.cursor() as cur:
                cur.execute("SELECT @@wsrep_node_name")
                row = cur.fetchone()
        except Exception:
            return None
        return int(str(row[0])[1:]) if row else None

    # -- the whole cluster --------------------------------------------------------------------
    def up(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fresh = not (self.node(1).datadir / "mysql").exists()
        if fresh:
            self.start_node(1, bootstrap=True)
            with self.connect(1) as conn, conn.cursor() as cur:
                # the write endpoint connects from other addresses than localhost (proxy, test hosts)
                cur.execute("CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY ''")
                cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION")
            for i in (2, 3):
                self.start_node(i)
        else:
            self.bootstrap_existing()
        self.start_proxy()

    def bootstrap_existing(self) -> None:
        """Start a cluster whose nodes all stopped: the node with the newest data bootstraps
        (marked safe to), the others join it."""
        positions = {i: self.recover_position(i) for i in (1, 2, 3)}
        seqno = {i: int(p.rsplit(":", 1)[1]) if p else -1 for i, p in positions.items()}
        first = max(seqno, key=lambda i: (seqno[i], -i))
        state = self.node(first).datadir / "grastate.dat"
        if state.exists():
            state.write_text(re.sub(r"safe_to_bootstrap:\s*\d", "safe_to_bootstrap: 1",
                                    state.read_text()))
        self.start_node(first, bootstrap=True)
        for i in (1, 2, 3):
            if i != first:
                self.start_node(i)

    def restart(self) -> None:
        """Every node stops (cleanly, one after another), then the cluster starts again."""
        for i in (3, 2, 1):
            self.stop_node(i)
        self.bootstrap_existing()

    def down(self, *, wipe: bool = False) -> None:
        if self.haproxy is not None and self.haproxy.poll() is None:
            self.haproxy.terminate()
            self.haproxy.wait(timeout=30)
        else:
            with contextlib.suppress(OSError, ValueError, ProcessLookupError):
                os.kill(int((self.root / "haproxy.pid").read_text().split()[0]), signal.SIGTERM)
        for i in (3, 2, 1):
            with contextlib.suppress(TimeoutError):
                self.stop_node(i)
        for node in self.nodes:
            if node.agent is not None and node.agent.poll() is None:
                node.agent.terminate()
                node.agent.wait(timeout=30)
        _kill_agents({f"{n.host}:{n.port}" for n in self.nodes})
        if wipe:
            shutil.rmtree(self.root, ignore_errors=True)


def _kill_agents(nodes: set[str]) -> None:
    """Health agents started by an earlier `up` (another process): found by their node."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            args = [a.decode() for a in (proc / "cmdline").read_bytes().split(b"\0")]
            if str(HEALTH) in args and nodes & set(args):
                os.kill(int(proc.name), signal.SIGTERM)


class Server:
    """One plain MariaDB server (no Galera) on a test host: the database of tests whose subject
    is the hosts above it (test/ha/test_r9_hosts.py)."""

    def __init__(self, root: Path, net: HostNet, host: str, port: int = 3306) -> None:
        self.root, self.net, self.host_name, self.port = root, net, host, port
        self.host = net.address(host)
        self.datadir = root / "db"
        self.proc: subprocess.Popen[Any] | None = None

    def start(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)
        for path in (self.root, self.datadir):
            shutil.chown(path, "mysql", "mysql")
        if not (self.datadir / "mysql").exists():
            subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}",
                            "--user=mysql", "--auth-root-authentication-method=normal",
                            "--skip-test-db"], check=True, capture_output=True)
        for path in (self.root, self.datadir, *self.datadir.rglob("*")):
            shutil.chown(path, "mysql", "mysql")
        args = ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={self.datadir}",
                f"--port={self.port}", f"--bind-address={self.host}",
                f"--socket={self.root / 'db.sock'}", f"--pid-file={self.root / 'db.pid'}",
                "--user=mysql", f"--log-error={self.root / 'db.err'}",
                "--innodb-buffer-pool-size=256M", "--max-connections=2000", "--skip-name-resolve"]
        with (self.root / "db.out").open("ab") as out:
            self.proc = self.net.popen(self.host_name, args, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception), self.connect() as conn, conn.cursor() as cur:
                cur.execute("CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY ''")
                cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION")
                return
            if self.proc.poll() is not None:
                raise RuntimeError((self.root / "db.err").read_text(errors="replace")[-3000:])
            time.sleep(0.2)
        raise TimeoutError("the server did not start")

    def connect(self, database: str | None = None) -> Any:
        return socket_connect(self.root / "db.sock", database)

    def url(self, database: str, driver: str = "asyncmy") -> str:
        return f"mysql+{driver}://root@{self.host}:{self.port}/{database}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=300)


def main() -> None:
    parser = argparse.ArgumentParser(description="a local 3-node MariaDB Galera cluster + HAProxy")
    parser.add_argument("action", choices=["up", "down", "status", "kill", "start", "restart"])
    parser.add_argument("node", nargs="?", type=int, help="1, 2 or 3 (kill, start)")
    parser.add_argument("--dir", default="data/ha", help="data directory (default ./data/ha)")
    parser.add_argument("--base-port", type=int, default=3340,
                        help="write endpoint port; node i listens on base + i (default 3340)")
    parser.add_argument("--wipe", action="store_true", help="down: delete the data as well")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("galera_cluster: needs root (mariadbd runs as the mysql user)")
    for tool in ("mariadbd", "haproxy", "rsync"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"galera_cluster: {tool} is missing: run scripts/ensure-galera")
    run(Cluster(Path(args.dir).resolve(), base=args.base_port), args)


def run(cluster: Cluster, args: argparse.Namespace) -> None:
    if args.action == "up":
        cluster.up()
        print(f"Galera cluster up: write endpoint {cluster.url('oms')}")
        print("  nodes: " + ", ".join(f"{n.name} {n.host}:{n.port}" for n in cluster.nodes))
    elif args.action == "down":
        cluster.down(wipe=args.wipe)
    elif args.action == "status":
        for i in (1, 2, 3):
            s = cluster.status(i)
            print(f"n{i}: " + (f"{s.get('wsrep_local_state_comment')} size="
                               f"{s.get('wsrep_cluster_size')} {s.get('wsrep_cluster_status')}"
                               if s else "down"))
        with contextlib.suppress(OSError):
            print("write endpoint:", cluster.proxy_state(), "-> writer n", cluster.writer())
    elif args.action == "kill":
        cluster.kill_node(args.node)
    elif args.action == "start":
        cluster.start_node(args.node)
    elif args.action == "restart":
        cluster.restart()


if __name__ == "__main__":
    main()
