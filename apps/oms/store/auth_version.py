"""The identity version: how a change to keys, users or grants reaches every API process's
principal cache without a store read per request (docs/architecture.md → Authentication per
request).

- A writer of an **existing** key, user or grant marks its transaction (`mark_changed`);
  `Store.transaction` then bumps `auth_state.version` as the transaction's **last** statement (so
  the row is the last lock any transaction takes and cannot close a deadlock cycle) and, after the
  commit, waits `LEASE_SECONDS` before returning to the caller.
- Each API process reads the version every `REFRESH_SECONDS`; a cached principal is used without
  a read only while it was checked at the current version and the last successful version read
  **started** less than `LEASE_SECONDS` ago. A read that started before a change's commit ends
  its lease before the writer's wait does: once the change's transaction has returned, no process
  answers from a principal older than it.
- A key or user created in the transaction (and the grants and settings given to it there) is in
  nobody's cache, so it needs neither a bump nor a wait; nor does a password (no principal has it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store.tables import auth_state

#: how long a version read vouches for the cache, and how long a changing writer waits
LEASE_SECONDS = 0.5
#: how often each API process reads the version (several reads per lease: a late one is harmless)
REFRESH_SECONDS = 0.1
#: a cached principal is read again at least this often even when the version did not move, so a
#: change made by hand in SQL (no bump) takes effect within it
RECHECK_SECONDS = 30.0

_CHANGED = "oms_auth_changed"
_NEW = "oms_auth_created"

BUMP = update(auth_state).where(auth_state.c.id == 1).values(version=auth_state.c.version + 1)
VERSION = select(auth_state.c.version).where(auth_state.c.id == 1)


def _info(conn: AsyncConnection) -> dict[Any, Any]:
    info: dict[Any, Any] = conn.info
    return info


def created(conn: AsyncConnection, *, api_key_id: int = 0, user_id: int = 0) -> None:
    """A key or user inserted in this transaction: changes to it here need no bump."""
    _info(conn).setdefault(_NEW, set()).add((api_key_id, user_id))


def mark_changed(conn: AsyncConnection, *, api_key_id: int = 0, user_id: int = 0) -> None:
    """This transaction changed a key (`api_key_id`, or a grant of it), a user (`user_id`), or
    something unnamed (neither given) that may be cached somewhere."""
    named = api_key_id or user_id
    if named and (api_key_id, user_id) in _info(conn).get(_NEW, ()):
        return
    _info(conn)[_CHANGED] = True


def begin(conn: AsyncConnection) -> dict[Any, Any]:
    """At a transaction's start: no marks left over from an earlier use of the pooled connection
    (the connection's `info` outlives transactions); the dictionary the marks will be in."""
    info = _info(conn)
    info.pop(_NEW, None)
    info.pop(_CHANGED, None)
    return info


def take_marks(info: dict[Any, Any]) -> bool:
    """Whether the transaction changed a cached identity; forgets the marks."""
    info.pop(_NEW, None)
    return bool(info.pop(_CHANGED, False))


async def bump(conn: AsyncConnection) -> None:
    await conn.execute(BUMP)


async def read_version(conn: AsyncConnection) -> int | None:
    """The current version, or None when the row is missing (then no cache entry is trusted)."""
    value = (await conn.execute(VERSION)).scalar()
    return None if value is None else int(value)
