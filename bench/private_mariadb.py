"""Run a benchmark on a private MariaDB server, so that the store's CPU it reports is its own and
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
from pathlib import Path

import pymysql

from bench.harness import free_port


def main() -> int:
    command = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
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
         "--innodb-buffer-pool-size=256M", "--max-connections=2000", "--skip-name-resolve"],
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
        env = {**os.environ, "OMS_BENCH_MYSQL": f"127.0.0.1:{port}",
               "OMS_BENCH_DB_PIDS": str(server.pid)}
        return subprocess.run(command, env=env, check=False).returncode
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=120)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
