"""Health endpoint of one MariaDB Galera node for HAProxy's `option httpchk` (what Percona's
`clustercheck` does): `GET /` answers 200 while the node is Synced (`wsrep_local_state` = 4) and
ready (`wsrep_ready` = ON), else 503. One persistent connection to the node, re-opened after a
failure, so a check costs one query rather than a client process (an `external-check` forks the
`mariadb` client at every check: ~5 ms of CPU each).

    python scripts/galera_health.py --listen 127.0.0.1:9201 --node 127.0.0.1:3341
"""

from __future__ import annotations

import argparse
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pymysql

QUERY = ("SHOW GLOBAL STATUS WHERE Variable_name IN "
         "('wsrep_local_state', 'wsrep_ready', 'wsrep_cluster_status')")


class NodeProbe:
    def __init__(self, host: str, port: int, user: str = "root", password: str = "") -> None:
        self.host, self.port, self.user, self.password = host, port, user, password
        self.conn: Any = None
        self.lock = threading.Lock()

    def state(self) -> dict[str, str]:
        with self.lock:
            for attempt in (1, 2):  # a stale connection (the node restarted) is re-opened once
                try:
                    if self.conn is None:
                        self.conn = pymysql.connect(host=self.host, port=self.port,
                                                    user=self.user, password=self.password,
                                                    connect_timeout=1, read_timeout=1,
                                                    autocommit=True)
                    with self.conn.cursor() as cur:
                        cur.execute(QUERY)
                        return {str(k): str(v) for k, v in cur.fetchall()}
                except Exception:
                    self.conn = None
                    if attempt == 2:
                        return {}
            return {}

    def healthy(self) -> bool:
        state = self.state()
        return (state.get("wsrep_local_state") == "4" and state.get("wsrep_ready") == "ON"
                and state.get("wsrep_cluster_status") == "Primary")


def serve(listen: tuple[str, int], probe: NodeProbe) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            ok = probe.healthy()
            body = b"synced\n" if ok else b"not synced\n"
            self.send_response(200 if ok else 503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:  # quiet: HAProxy checks several times a second
            return

    ThreadingHTTPServer(listen, Handler).serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="host:port to answer on")
    parser.add_argument("--node", required=True, help="host:port of the MariaDB node")
    parser.add_argument("--user", default="root", help="a user that may read global status")
    parser.add_argument("--password-env", default="",
                        help="the environment variable that holds its password (default: none)")
    args = parser.parse_args()
    lhost, lport = args.listen.rsplit(":", 1)
    nhost, nport = args.node.rsplit(":", 1)
    password = os.environ.get(args.password_env, "") if args.password_env else ""
    serve((lhost, int(lport)), NodeProbe(nhost, int(nport), args.user, password))


if __name__ == "__main__":
    main()
