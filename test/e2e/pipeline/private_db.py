"""A MariaDB server of a test's own (its own datadir, port and socket), so that the test can take
the database down and bring it back mid-run without touching the shared server other suites use.

`mariadb-install-db` once, then `mariadbd` started, SIGKILLed (`down()`: an outage, InnoDB
recovers on the next start) and started again on the same datadir and port (`up()`). Run as root
it runs as the `mysql` user (MariaDB refuses root), its files under a directory of `/tmp` that
user owns; run as anyone else, as that user. Skips the test when MariaDB's binaries are not
installed, fails it in CI.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pymysql
import pytest

from .conftest import free_port

MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
INSTALL_DB = shutil.which("mariadb-install-db")


class PrivateMariaDB:
    def __init__(self) -> None:
        if not Path(MARIADBD).exists() or INSTALL_DB is None:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail("mariadbd and mariadb-install-db are required in CI")
            pytest.skip("mariadbd / mariadb-install-db not installed")
        self.root = Path(tempfile.mkdtemp(prefix="oms-private-db-"))
        self.datadir = self.root / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.as_root = os.geteuid() == 0

    def _user(self) -> list[str]:
        return ["--user=mysql"] if self.as_root else []

    def _own(self) -> None:
        if self.as_root:
            for path in (self.root, *self.root.rglob("*")):
                shutil.chown(path, "mysql", "mysql")

    def install(self) -> None:
        self.datadir.mkdir()
        self._own()
        subprocess.run([str(INSTALL_DB), "--no-defaults", f"--datadir={self.datadir}",
                        *self._user(), "--auth-root-authentication-method=normal",
                        "--skip-test-db"], check=True, capture_output=True)
        self._own()

    def up(self) -> None:
        """Start the server and wait until root can connect over TCP."""
        args = [MARIADBD, "--no-defaults", f"--datadir={self.datadir}", f"--port={self.port}",
                "--bind-address=127.0.0.1", f"--socket={self.root / 'db.sock'}",
                f"--pid-file={self.root / 'db.pid'}", *self._user(),
                f"--log-error={self.root / 'db.err'}", "--innodb-buffer-pool-size=64M",
                "--max-connections=500", "--skip-log-bin"]
        with (self.root / "db.out").open("ab") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with contextlib.suppress(pymysql.err.Error), self.socket_connect() as conn, \
                    conn.cursor() as cur:
                # root may connect only over the socket until it is granted TCP too
                cur.execute("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''")
                cur.execute("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' "
                            "WITH GRANT OPTION")
                return
            if self.proc.poll() is not None:
                raise RuntimeError(self.error_log())
            time.sleep(0.2)
        raise AssertionError("the private MariaDB server did not start:\n" + self.error_log())

    def down(self) -> None:
        """SIGKILL the server: connections break at once, nothing is flushed."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=60)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)

    def socket_connect(self) -> Any:
        """Root over the unix socket. The socket is opened here: PyMySQL leaves the socket of a
        refused unix-socket connect open (a server that is down or starting)."""
        path = str(self.root / "db.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(2)
            sock.connect(path)
        except OSError as exc:
            sock.close()
            raise pymysql.err.OperationalError(2002, f"cannot connect to {path}: {exc}") from exc
        conn = pymysql.connect(unix_socket=path, user="root", password="", autocommit=True,
                               connect_timeout=2, read_timeout=10, defer_connect=True)
        conn.connect(sock)
        return conn

    def error_log(self) -> str:
        path = self.root / "db.err"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def create_database(self, prefix: str) -> tuple[str, str]:
        """An empty database on this server: (name, SQLAlchemy URL)."""
        name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
        with self.socket_connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        return name, f"mysql+aiomysql://root@127.0.0.1:{self.port}/{name}"
