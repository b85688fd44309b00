"""Run a benchmark on a private MariaDB server, so that the store CPU it reports is its own and
not that of other sessions' tests on the shared server: starts `mariadbd` (own data directory
under /tmp, own port on 127.0.0.1, 256 MB buffer pool), runs the given command with
`OMS_BENCH_MYSQL` and `OMS_BENCH_DB_PIDS` pointing at it (bench/harness.py), stops it. Root.

    .venv/bin/python -m bench.private_mariadb -- .venv/bin/python -m bench.p5b_fanout_scale ...
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pymysql

from bench.harness import free_port


@dataclass(frozen=True)
class PrivateServer:
    root: Path  # the temporary directory: data directory `db/`, socket, logs
    port: int
    pid: int


@contextlib.contextmanager
def private_server(extra_args: tuple[str, ...] = ()) -> Iterator[PrivateServer]:
    """A fresh `mariadbd` on its own port and data directory, given `extra_args` (e.g. a binary
    log); stopped and deleted on exit."""
    root = Path(tempfile.mkdtemp(prefix="bench-mariadb-"))
    datadir, port = root / "db", free_port()
    datadir.mkdir()
    shutil.chown(root, "mysql", "mysql")
    shutil.chown(datadir, "mysql", "mysql")
    subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={datadir}", "--user=mysql",
                    "--auth-root-authentication-method=normal", "--skip-test-db"],
                   check=True, capture_output=True)  # fmt: skip
    server = subprocess.Popen(
        ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={datadir}", f"--port={port}",
         "--bind-address=127.0.0.1", f"--socket={root / 'db.sock'}", "--user=mysql",
         f"--pid-file={root / 'db.pid'}", f"--log-error={root / 'db.err'}",
         "--innodb-buffer-pool-size=256M", "--max-connections=2000", "--skip-name-resolve",
         *extra_args],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                pymysql.connect(host="127.0.0.1", port=port, user="root", password="").close()
                break
            except pymysql.err.MySQLError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield PrivateServer(root, port, server.pid)
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=120)
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    """`[--performance-schema] -- COMMAND...`: the option turns the server's statement digests
    on (`performance_schema`), for a benchmark that counts statements by kind."""
    ours = sys.argv[1:sys.argv.index("--")] if "--" in sys.argv else []
    command = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    extra = ("--performance-schema=ON",) if "--performance-schema" in ours else ()
    with private_server(extra) as server:
        env = {**os.environ, "OMS_BENCH_MYSQL": f"127.0.0.1:{server.port}",
               "OMS_BENCH_DB_PIDS": str(server.pid)}
        return subprocess.run(command, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
