"""What one paper send writes: bytes and row events per command, by table and statement kind,
read from a binary log (what Galera replicates as write sets is built from the same row events).

    .venv/bin/python -m bench.write_set_bytes --commands 2000

A private `mariadbd` with `--log-bin --binlog-format=ROW --binlog-row-image=MINIMAL` (the
cluster's settings, docs/deployment-ha.md → Node settings) in a temporary directory on its own
port; P1's stack and load on it (10 hedge accounts, market sends in batches of 50 from 4
senders, one worker); the untimed warm-up first, then `FLUSH BINARY LOGS`, the N commands, a
second of quiet for the sequencer and the last heartbeats, `FLUSH BINARY LOGS` again; the binary
logs written in between are decoded (`mariadb-binlog --verbose --base64-output=DECODE-ROWS`)
and every event's bytes (its `end_log_pos` − the previous one's) counted against its table and
kind:

- row events (`Write_rows`, `Update_rows`, `Delete_rows`, compressed or not) and the
  `Table_map` before them: their table; `Annotate_rows` (the statement's SQL text,
  `binlog_annotate_row_events`) the table of the statement it annotates; `Gtid` / `Xid` /
  `Query` as per transaction overhead;
- rows: one `###` INSERT / UPDATE / DELETE line each; "again" counts the updates of a row that
  the same transaction had already inserted or updated (a separate row event each time);
- columns: the text of each `@N=` value (≈ its share of the bytes; binary sizes differ).

The figures are per command, load-independent except for what runs by the clock (worker
heartbeats and lease renewals: their rows are reported by table like the rest). One JSON line
with everything, then a readable table (`--top` columns). `--annotate ON` logs each
statement's SQL text too (`Annotate_rows`: MariaDB's default, which Galera replicates with
every write set); `--compress ON` zlib-compresses the row events as the cluster's nodes do
(the sizes are then the compressed ones). `--endpoint HOST:PORT` runs the same load on a
running server instead (a Galera cluster's writer: the bytes it replicated,
`wsrep_replicated_bytes`, per command; no binary log to decode).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench import harness
from bench.private_mariadb import private_server

BINLOG_ARGS = ("--log-bin=binlog", "--server-id=1", "--binlog-format=ROW",
               "--binlog-row-image=MINIMAL")  # fmt: skip
_AT = re.compile(r"^# at (\d+)$")
_HEADER = re.compile(r"^#\d{6} +\d+:\d+:\d+ server id \d+ +end_log_pos (\d+) .*?\t(\w+)")
_TABLE_MAP = re.compile(r"Table_map: `[^`]+`\.`([^`]+)` mapped to number (\d+)")
_ROWS = re.compile(r"(Write|Update|Delete)_(?:compressed_)?rows\w*: table id (\d+)")
_ROW = re.compile(r"^### (INSERT INTO|UPDATE|DELETE FROM) `[^`]+`\.`([^`]+)`")
_VALUE = re.compile(r"^###   @(\d+)=(.*)$")
_KIND = {"INSERT INTO": "insert", "UPDATE": "update", "DELETE FROM": "delete",
         "Write": "insert", "Update": "update", "Delete": "delete"}  # fmt: skip


class Tally:
    """Bytes, events and rows by (table, kind); value text by (table, column)."""

    def __init__(self, columns: dict[str, list[str]]) -> None:
        self.columns = columns
        self.bytes: dict[tuple[str, str], int] = defaultdict(int)
        self.events: dict[tuple[str, str], int] = defaultdict(int)
        self.rows: dict[tuple[str, str], int] = defaultdict(int)
        self.again: dict[str, int] = defaultdict(int)
        self.column_bytes: dict[tuple[str, str], int] = defaultdict(int)
        self.transactions = 0

    def column(self, table: str, index: int) -> str:
        names = self.columns.get(table, [])
        return names[index - 1] if 0 < index <= len(names) else f"@{index}"

    def feed(self, text: str) -> None:
        """Count one decoded binary log (its events are contiguous: an event's size is its
        end position minus the previous one's)."""
        self._tables: dict[str, str] = {}  # table id -> name, from the Table_map events
        self._previous_end: int | None = None
        self._annotate = 0  # an Annotate_rows' bytes wait for the table its statement writes
        self._row: tuple[str, str] | None = None  # (table, kind) of the row being read
        self._part = ""  # "SET" or "WHERE" of that row
        self._key: list[str] = []
        self._seen: set[tuple[str, str]] = set()  # rows written by the current transaction
        for line in text.splitlines():
            if self._previous_end is None and (m := _AT.match(line)):
                self._previous_end = int(m.group(1))
            elif m := _HEADER.match(line):
                self._event(line, int(m.group(1)), m.group(2))
            elif m := _ROW.match(line):
                self._end_row()
                self._row, self._part, self._key = (m.group(2), _KIND[m.group(1)]), "", []
                self.rows[self._row] += 1
            elif self._row is not None:
                self._value(line)
        self._end_row()

    def _event(self, line: str, end: int, kind: str) -> None:
        size, self._previous_end = end - (self._previous_end or end), end
        if kind == "Annotate_rows":
            self._annotate += size
        elif tm := _TABLE_MAP.search(line):
            self._tables[tm.group(2)] = tm.group(1)
            self.bytes[(tm.group(1), "table_map")] += size
            self.bytes[(tm.group(1), "annotate")] += self._annotate
            self._annotate = 0
        elif rm := _ROWS.search(line):
            table = self._tables.get(rm.group(2), "?")
            self.bytes[(table, _KIND[rm.group(1)])] += size
            self.events[(table, _KIND[rm.group(1)])] += 1
        elif kind in ("Gtid", "Xid", "Query"):
            self.bytes[("(transaction)", kind.lower())] += size
            if kind == "Xid":
                self._end_row()
                self._row = None
                self.transactions += 1
                self._seen.clear()

    def _value(self, line: str) -> None:
        assert self._row is not None
        if line in ("### SET", "### WHERE"):
            self._part = line[4:]
        elif m := _VALUE.match(line):
            table, kind = self._row
            if self._part == "WHERE" or (kind == "insert" and m.group(1) == "1"):
                self._key.append(m.group(2))
            if self._part == "SET":
                value = m.group(2).split(" /* ")[0]
                self.column_bytes[(table, self.column(table, int(m.group(1))))] += len(value)

    def _end_row(self) -> None:
        if self._row is None or not self._key:
            return
        ident = (self._row[0], "|".join(self._key))
        if self._row[1] == "update" and ident in self._seen:
            self.again[self._row[0]] += 1
        self._seen.add(ident)
        self._key = []

    def report(self, commands: int, top: int) -> dict[str, Any]:
        per = max(commands, 1)
        by_table: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for (table, kind), n in self.bytes.items():
            by_table[table]["bytes"] += n / per
            by_table[table][f"bytes_{kind}"] += n / per
        for (table, kind), n in self.rows.items():
            by_table[table][f"rows_{kind}"] += n / per
        for (table, kind), n in self.events.items():
            by_table[table][f"events_{kind}"] += n / per
        for table, n in self.again.items():
            by_table[table]["updates_of_a_row_written_before_in_tx"] += n / per
        total = sum(self.bytes.values()) / per
        columns = sorted(self.column_bytes.items(), key=lambda kv: -kv[1])[:top]
        return {
            "bytes_per_command": round(total, 1),
            "row_events_per_command": round(sum(self.events.values()) / per, 3),
            "rows_per_command": round(sum(self.rows.values()) / per, 3),
            "transactions_per_command": round(self.transactions / per, 4),
            "by_table": {t: {k: round(v, 3) for k, v in sorted(d.items())}
                         for t, d in sorted(by_table.items(), key=lambda kv: -kv[1]["bytes"])},
            "top_columns_value_text_per_command": {f"{t}.{c}": round(n / per, 1)
                                                   for (t, c), n in columns},
        }


def table_columns(database: str) -> dict[str, list[str]]:
    with harness.mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = %s ORDER BY table_name, ordinal_position", (database,))
        out: dict[str, list[str]] = defaultdict(list)
        for table, column in cur.fetchall():
            out[table].append(column)
    return dict(out)


def flush(database: str) -> str:
    """Start a new binary log; returns its name ("" on a server without one)."""
    with harness.mysql_connect(database=database) as conn, conn.cursor() as cur:
        cur.execute("SELECT @@log_bin")
        if not int((cur.fetchone() or (0,))[0]):
            return ""
        cur.execute("FLUSH BINARY LOGS")
        cur.execute("SHOW MASTER STATUS")
        row = cur.fetchone()
    return str(row[0])


def wsrep_replicated() -> dict[str, int]:
    """The server's Galera counters of what it replicated (none on a server without Galera)."""
    with harness.mysql_connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS WHERE variable_name IN "
                    "('wsrep_replicated', 'wsrep_replicated_bytes')")
        return {str(k).lower(): int(v) for k, v in cur.fetchall()}


def measure(args: argparse.Namespace, datadir: Path | None) -> dict[str, Any]:
    from bench.p1_throughput import send_all, wait_done

    with harness.stack(accounts=10, workers=1, driver=args.driver, mode=args.mode) as s:
        database = s.url.rsplit("/", 1)[1].split("?", 1)[0]
        asyncio.run(send_all(s.base, s.trader_key, s.account_ids, args.warmup, 50, 4))
        asyncio.run(wait_done(s.url, args.warmup, 300))
        time.sleep(1.0)
        first = flush(database)
        wsrep_before = wsrep_replicated()
        begin = time.perf_counter()
        asyncio.run(send_all(s.base, s.trader_key, s.account_ids, args.commands, 50, 4))
        asyncio.run(wait_done(s.url, args.warmup + args.commands, 900))
        seconds = time.perf_counter() - begin
        time.sleep(1.0)
        wsrep = {k: v - wsrep_before[k] for k, v in wsrep_replicated().items()}
        last = flush(database)
        columns = table_columns(database)
    tally = Tally(columns)
    index = (datadir / "binlog.index").read_text().split() if datadir and first else []
    names = [Path(n).name for n in index]
    for name in names[names.index(first):names.index(last)] if names else []:
        decoded = subprocess.run(["mariadb-binlog", "--verbose", "--base64-output=DECODE-ROWS",
                                  str(datadir / name)], capture_output=True, text=True,
                                 check=True).stdout  # fmt: skip
        if args.keep:
            Path(args.keep, name + ".txt").write_text(decoded)
        tally.feed(decoded)
    return {"commands": args.commands, "mode": args.mode, "seconds": round(seconds, 2),
            "binlog_args": [] if datadir is None else list(args.binlog_args),
            # what a Galera node replicated meanwhile (`--endpoint` at a cluster's writer)
            **({"wsrep_replicated_bytes_per_command": round(
                wsrep["wsrep_replicated_bytes"] / args.commands, 1),
                "wsrep_write_sets_per_command": round(
                    wsrep["wsrep_replicated"] / args.commands, 4)} if wsrep else {}),
            **tally.report(args.commands, args.top)}


def print_table(result: dict[str, Any]) -> None:
    print(f"{result['bytes_per_command']:.0f} bytes, {result['row_events_per_command']} row "
          f"events, {result['rows_per_command']} rows per command; "
          f"{result['transactions_per_command']} transactions per command")
    print(f"{'table':<28}{'bytes':>9}{'annot':>8}{'ins':>7}{'upd':>7}{'del':>7}  rows i/u/d"
          "   again")
    for table, d in result["by_table"].items():
        print(f"{table:<28}{d['bytes']:>9.1f}{d.get('bytes_annotate', 0):>8.1f}"
              f"{d.get('bytes_insert', 0):>7.0f}{d.get('bytes_update', 0):>7.0f}"
              f"{d.get('bytes_delete', 0):>7.0f}  {d.get('rows_insert', 0):.2f}/"
              f"{d.get('rows_update', 0):.2f}/{d.get('rows_delete', 0):.2f}"
              f"  {d.get('updates_of_a_row_written_before_in_tx', 0):.2f}")
    print("value text per command by column (top):")
    for column, n in result["top_columns_value_text_per_command"].items():
        print(f"  {column:<40}{n:>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--mode", choices=["hedge", "netting"], default="hedge")
    parser.add_argument("--driver", choices=["aiomysql", "asyncmy"], default="asyncmy")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--keep", help="a directory to keep the decoded binary logs in")
    parser.add_argument("--compress", choices=["ON", "OFF"], default="OFF",
                        help="log_bin_compress: ON zlib-compresses the row events (as the nodes "
                        "do): the bytes are then the compressed ones")
    parser.add_argument("--annotate", choices=["ON", "OFF"], default="OFF",
                        help="binlog_annotate_row_events: ON adds each statement's SQL text "
                        "(what Galera replicates with the default ON; the nodes run with OFF)")
    parser.add_argument("--endpoint", help="HOST:PORT of a running server to use instead of a "
                        "private one (a Galera writer: its wsrep_replicated_bytes are read)")
    args = parser.parse_args()
    if args.endpoint:
        host, _, port = args.endpoint.rpartition(":")
        harness.MYSQL_HOST, harness.MYSQL_PORT = host, int(port)
        os.environ["OMS_BENCH_MYSQL"] = args.endpoint
        result = measure(args, None)
        print(json.dumps({"benchmark": "write_set_bytes", **result}, separators=(",", ":")))
        print(json.dumps({k: v for k, v in result.items() if k.startswith("wsrep")}))
        return
    args.binlog_args = [*BINLOG_ARGS, f"--binlog-annotate-row-events={args.annotate}",
                        f"--log-bin-compress={args.compress}"]
    with private_server(tuple(args.binlog_args)) as server:
        # the harness's server: this one (its module globals are read at each call)
        harness.MYSQL_HOST, harness.MYSQL_PORT = "127.0.0.1", server.port
        os.environ["OMS_BENCH_MYSQL"] = f"127.0.0.1:{server.port}"
        os.environ["OMS_BENCH_DB_PIDS"] = str(server.pid)
        result = measure(args, server.root / "db")
    print(json.dumps({"benchmark": "write_set_bytes", **result}, separators=(",", ":")))
    print_table(result)


if __name__ == "__main__":
    sys.exit(main())
