"""`is_deadlock`: which store errors mean "rolled back whole, run it again" (MySQL/MariaDB 1213)
and which do not (a lock wait timeout, a lost connection, SQLite's busy lock)."""

from __future__ import annotations

import sqlite3

import pymysql
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from apps.oms.store.store import is_deadlock

DEADLOCK = pymysql.err.OperationalError(1213, "Deadlock found when trying to get lock")


def test_a_deadlock_victim_is_recognised() -> None:
    assert is_deadlock(OperationalError("UPDATE …", {}, DEADLOCK))


@pytest.mark.parametrize("orig", [
    pymysql.err.OperationalError(1205, "Lock wait timeout exceeded"),
    pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query"),
    sqlite3.OperationalError("database is locked"),
])  # fmt: skip
def test_other_store_errors_are_not(orig: Exception) -> None:
    assert not is_deadlock(OperationalError("UPDATE …", {}, orig))


def test_only_operational_errors_count() -> None:
    assert not is_deadlock(IntegrityError("INSERT …", {}, pymysql.err.IntegrityError(1213, "x")))
    assert not is_deadlock(RuntimeError(1213))
