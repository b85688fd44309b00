"""The embedded store's file, watched: deleting `./data` (or replacing the SQLite file) under a
running process used to go unnoticed — open connections kept writing into the unlinked file and
the next start had lost everything. A guarded engine remembers which file it opened; once that
file is gone or replaced it refuses every write transaction (`StoreFileGone`: a store outage, so
HTTP 503 and the workers' outage handling), `/readyz` turns not ready, and one CRITICAL log line
says what happened. It stays refused until the process is restarted."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from apps.oms.errors import OmsError
from apps.oms.store.engine import READ_ONLY

log = logging.getLogger("apps.store")


class StoreFileGone(OmsError, ConnectionError):
    """The SQLite file this process writes to was deleted or replaced (503, never retried into
    the lost file: the process must be restarted)."""

    status = 503
    code = "store_unavailable"


@dataclass
class FileGuard:
    path: str
    identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the file first opened
    problem: str | None = None  # set once, for good

    def remember(self) -> None:
        if self.identity is None:
            try:
                stat = os.stat(self.path)
            except OSError:
                return
            self.identity = (stat.st_dev, stat.st_ino)

    def check(self) -> str | None:
        """What is wrong with the file now (None: it is the file first opened)."""
        if self.problem is not None or self.identity is None:
            return self.problem
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return self._trip("deleted")
        except OSError:
            return None  # not decidable now (e.g. permissions): the database reports it
        if (stat.st_dev, stat.st_ino) != self.identity:
            return self._trip("replaced by another file")
        return None

    def _trip(self, what: str) -> str:
        self.problem = (f"the store file {self.path} was {what} while the gateway was running; "
                        "writes are refused and what was written since the start may be lost. "
                        "Stop the gateway, then start it again")  # fmt: skip
        if self.path not in _REPORTED:  # once per file, whichever of its engines saw it first
            _REPORTED.add(self.path)
            log.critical("%s", self.problem)
        return self.problem


_GUARDS: WeakKeyDictionary[Engine, FileGuard] = WeakKeyDictionary()
_REPORTED: set[str] = set()


def guard_store_file(engine: AsyncEngine) -> None:
    """Watch the file of a SQLite `engine` (other stores and `:memory:` have none)."""
    sync = engine.sync_engine
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or sync in _GUARDS:
        return
    guard = _GUARDS[sync] = FileGuard(os.path.abspath(path))

    @event.listens_for(sync, "connect")
    def _opened(_dbapi_connection: Any, _record: Any) -> None:
        guard.remember()

    @event.listens_for(sync, "begin", insert=True)  # before BEGIN IMMEDIATE is sent
    def _writing(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY, False):
            return
        problem = guard.check()
        if problem is not None:
            raise StoreFileGone(problem)

    guard.remember()


def store_file_problem(engine: AsyncEngine) -> str | None:
    """Why the engine's store file cannot be used any more, or None."""
    guard = _GUARDS.get(engine.sync_engine)
    return None if guard is None else guard.check()
