"""The command queue seen from a worker: claim the oldest unfinished command of a held account,
and the fenced status writes of the record step.

Strict per-account order: the next command is the account's oldest `queued` or `running` one; a
`running` command under an older epoch belonged to a worker whose lease expired and is
re-attempted (its unknown venue outcome is resolved before anything is re-sent).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, cast

from sqlalchemy import (
    CompoundSelect,
    Executable,
    Update,
    bindparam,
    case,
    func,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.store import direct
from apps.oms.store.many import update_by_id_later
from apps.oms.store.records import CommandPayload
from apps.oms.store.tables import accounts, commands

C = commands.c
UNFINISHED = ("queued", "running")


@dataclass(frozen=True, slots=True)
class Claimed:
    """A command marked `running` under `epoch`; `retry` = it was running under a dead lease."""

    command_id: int
    account_id: int
    command_type: str
    payload: CommandPayload
    order_id: int | None
    request_id: str | None
    epoch: int
    attempts: int
    retry: bool
    # what acceptance already decided (cancel_order: items for orders cancelled before sending)
    result: dict[str, Any] | None = None
    # the rest of the row, so that finishing can build the command's event without a re-read
    client_order_id: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None


class Fenced(Exception):
    """The command is no longer `running` under this epoch: the record step must roll back."""


PEEK_COLUMNS = (C.id, C.account_id, C.command_type, C.payload, C.order_id, C.request_id,
                C.status, C.attempts, C.result, C.client_order_id, C.created_at)  # fmt: skip


class Peeked(TypedDict):
    """An unfinished command as a peek reads it (`PEEK_COLUMNS`), before it is claimed; a
    `TypedDict` for the same reason as `order_rows.OrderRow` (read per command on the hot
    path). `payload` and `result` are the wire's free-form JSON."""

    id: int
    account_id: int
    command_type: str
    payload: dict[str, Any] | None
    order_id: int | None
    request_id: str | None
    status: str
    attempts: int | None
    result: dict[str, Any] | None
    client_order_id: str | None
    created_at: datetime


def _unfinished_ranges(account_id: Any, limit: Any, *, wrapped: bool) -> list[Any]:
    """An account's oldest commands of each unfinished status (claim columns), each status its
    own ordered, limited range of the `(account_id, status, id)` index: at most `limit` rows
    each, which `peeked` merges by id and cuts to `limit`.

    One `status IN ('queued', 'running') ORDER BY id LIMIT n` made MariaDB read every
    unfinished command of the account (or walk the primary key) before the sort: ~1,000 rows
    examined per claim in P1, growing with the backlog (1.6 ms per peek of a 1,000-command
    backlog against 0.15 ms). Wrapping the union in a derived table to sort it there costs
    MariaDB ~0.3 ms per peek in temporary tables, so on MySQL the ranges are a plain
    `(…) UNION ALL (…)`; SQLite accepts a LIMIT in a compound member only in a subquery
    (`wrapped`), where it costs nothing (docs/benchmarks-history.md, twenty-first round)."""
    parts = [select(*PEEK_COLUMNS).where(C.account_id == account_id, C.status == status)
             .order_by(C.id).limit(limit) for status in UNFINISHED]  # fmt: skip
    return [select(p.subquery()) for p in parts] if wrapped else parts


# The hot statements of one account's batch, built once: a statement built per call costs more
# client CPU in SQLAlchemy's construction and cache key than the round trip itself
# (docs/benchmarks-history.md, seventh round). Values are bound by name at execution (the queue peek:
# `_peeks`, once per number of accounts).
# an idle account task's timed poll: a plain read, before any batch transaction is opened
HAS_UNFINISHED = select(C.id).where(
    C.account_id == bindparam("b_account"), C.status.in_(UNFINISHED)).limit(1)
UNFINISHED_AMONG = select(accounts.c.id).where(
    accounts.c.id.in_(bindparam("b_accounts", expanding=True)),
    select(C.id).where(C.account_id == accounts.c.id, C.status.in_(UNFINISHED)).exists(),
).order_by(accounts.c.id)
_CLAIMS: dict[int, Update] = {}


def _claim(count: int) -> Update:
    """One account's claim of `count` commands (ids bound as `i0`, `i1`…), built once per count
    (an expanding `IN` would be rendered per call)."""
    built = _CLAIMS.get(count)
    if built is None:
        ids = [bindparam(f"i{k}", type_=C.id.type) for k in range(count)]
        built = _CLAIMS[count] = update(commands).where(C.id.in_(ids)).values(
            status="running", lease_epoch=bindparam("b_epoch"),
            attempts=func.coalesce(C.attempts, 0) + 1,
            updated_at=bindparam("b_now"), started_at=bindparam("b_now"))  # fmt: skip
    return built


FINISH = update(commands).where(
    C.id == bindparam("b_id"), C.status == "running", C.lease_epoch == bindparam("b_epoch"))
FENCE = select(C.status).where(C.id == bindparam("b_id"), C.lease_epoch == bindparam("b_epoch"))


async def has_unfinished(conn: AsyncConnection, account_id: int) -> bool:
    """Whether the account has a queued or running command."""
    return (await conn.execute(HAS_UNFINISHED, {"b_account": account_id})).first() is not None


async def unfinished_among(conn: AsyncConnection, account_ids: list[int]) -> list[int]:
    """Which of these accounts have a queued or running command: one statement, each account
    an index lookup of its first unfinished row (as `has_unfinished`), however long its queue."""
    if not account_ids:
        return []
    rows = await conn.execute(UNFINISHED_AMONG, {"b_accounts": account_ids})
    return [int(row[0]) for row in rows]


async def claim_next(
    conn: AsyncConnection, account_id: int, epoch: int, now: datetime
) -> Claimed | None:
    """Mark the account's oldest unfinished command `running` with `epoch` (the caller holds the
    lease row lock in this transaction)."""
    head = await peek_batch(conn, account_id, 1)
    if not head:
        return None
    row = head[0]
    retry = row["status"] == "running"
    attempts = int(row["attempts"] or 0) + 1
    await conn.execute(
        update(commands)
        .where(C.id == row["id"])
        .values(
            status="running", lease_epoch=epoch, attempts=attempts, updated_at=now, started_at=now
        )
    )
    payload = row["payload"] if isinstance(row["payload"], dict) else {}
    return Claimed(
        int(row["id"]),
        account_id,
        str(row["command_type"]),
        payload,
        None if row["order_id"] is None else int(row["order_id"]),
        row["request_id"],
        epoch,
        attempts,
        retry,
        row["result"] if isinstance(row["result"], dict) else None,
        row["client_order_id"],
        row["created_at"],
        now,
    )


async def peek_batch(conn: AsyncConnection, account_id: int, limit: int) -> list[Peeked]:
    """The account's oldest unfinished commands, up to `limit`, in acceptance order (the caller
    holds the lease row lock in this transaction)."""
    return (await peek_batches(conn, {account_id: limit}))[account_id]


async def peek_batches(conn: AsyncConnection, limits: dict[int, int]) -> dict[int, list[Peeked]]:
    """`peek_batch` of several accounts in one statement (a group commit): each account's oldest
    unfinished commands up to its limit, in acceptance order; every account is a key."""
    return peeked(limits, await direct.fetch(conn, *peek_read(conn, limits)))


def peek_read(
    conn: AsyncConnection, limits: dict[int, int]
) -> tuple[Executable, dict[str, Any]]:
    """The statement of `peek_batches` and its parameters (sent with other reads: a group
    commit's first round trip); `peeked` makes its answer of the rows."""
    params: dict[str, int] = {}
    for n, (account_id, limit) in enumerate(limits.items()):
        params |= {f"a{n}": account_id, f"l{n}": limit}
    return _peeks(len(limits), wrapped=conn.dialect.name == "sqlite"), params


def peeked(limits: dict[int, int], rows: list[dict[str, Any]]) -> dict[int, list[Peeked]]:
    """Each account's peeked rows (fresh dicts of `PEEK_COLUMNS`) merged by id and cut to its
    limit (each unfinished status was read up to the limit)."""
    found: dict[int, list[Peeked]] = {account_id: [] for account_id in limits}
    for row in rows:
        found[int(row["account_id"])].append(cast(Peeked, row))
    return {
        account_id: sorted(rows, key=lambda r: int(r["id"]))[: limits[account_id]]
        for account_id, rows in found.items()
    }


_CLAIMS_EACH: dict[tuple[int, int], Update] = {}


def _claim_each(accounts: int, count: int) -> Update:
    """The claim of `count` commands of `accounts` accounts, each under its own lease epoch
    (`a<k>` account, `e<k>` its epoch, `i<k>` ids), built once per shape."""
    built = _CLAIMS_EACH.get((accounts, count))
    if built is None:
        ids = [bindparam(f"i{k}", type_=C.id.type) for k in range(count)]
        epochs: dict[Any, Any] = {bindparam(f"a{k}", type_=C.account_id.type): bindparam(f"e{k}")
                                  for k in range(accounts)}  # fmt: skip
        built = update(commands).where(C.id.in_(ids)).values(
            status="running", lease_epoch=case(epochs, value=C.account_id),
            attempts=func.coalesce(C.attempts, 0) + 1, updated_at=bindparam("b_now"),
            started_at=bindparam("b_now"))  # fmt: skip
        if len(_CLAIMS_EACH) < 256:
            _CLAIMS_EACH[(accounts, count)] = built
    return built


_PEEKS: dict[tuple[int, bool], CompoundSelect[Any]] = {}


def _peeks(count: int, *, wrapped: bool) -> CompoundSelect[Any]:
    """The unfinished ranges of `count` accounts as one UNION ALL (accounts and limits bound as
    `a<n>`, `l<n>`), built once per count and form."""
    built = _PEEKS.get((count, wrapped))
    if built is None:
        parts = [part for n in range(count) for part in
                 _unfinished_ranges(bindparam(f"a{n}"), bindparam(f"l{n}"), wrapped=wrapped)]  # fmt: skip
        built = _PEEKS[(count, wrapped)] = union_all(*parts)
    return built


async def claim_rows(
    conn: AsyncConnection, account_id: int, rows: list[Peeked], epoch: int, now: datetime
) -> list[Claimed]:
    """Mark the peeked `rows` `running` under `epoch` in one statement (`attempts + 1` each)."""
    return (await claim_many(conn, {account_id: (rows, epoch)}, now)).get(account_id, [])


async def claim_many(
    conn: AsyncConnection, wanted: dict[int, tuple[list[Peeked], int]], now: datetime
) -> dict[int, list[Claimed]]:
    """`claim_rows` of several accounts, each under its own lease epoch, in one statement (a
    group commit); accounts with no rows are left out."""
    wanted = {account_id: (rows, epoch) for account_id, (rows, epoch) in wanted.items() if rows}
    if not wanted:
        return {}
    epochs = {account_id: epoch for account_id, (_rows, epoch) in wanted.items()}
    ids = [r["id"] for rows, _epoch in wanted.values() for r in rows]
    # held back to the next statement (`direct.later`): nothing reads its result, and the
    # rows are taken in this transaction whichever statement sends it
    if len(epochs) == 1:
        (epoch,) = epochs.values()
        await direct.later(conn, _claim(len(ids)), {
            **{f"i{k}": command_id for k, command_id in enumerate(ids)},
            "b_epoch": epoch, "b_now": now})  # fmt: skip
    else:
        params: dict[str, Any] = {f"i{k}": command_id for k, command_id in enumerate(ids)}
        for k, (account_id, epoch) in enumerate(epochs.items()):
            params |= {f"a{k}": account_id, f"e{k}": epoch}
        await direct.later(conn, _claim_each(len(epochs), len(ids)), {**params, "b_now": now})
    return {account_id: _claimed(account_id, rows, epoch, now)
            for account_id, (rows, epoch) in wanted.items()}  # fmt: skip


def _claimed(account_id: int, rows: list[Peeked], epoch: int, now: datetime) -> list[Claimed]:
    return [
        Claimed(
            int(r["id"]),
            account_id,
            str(r["command_type"]),
            r["payload"] if isinstance(r["payload"], dict) else {},
            None if r["order_id"] is None else int(r["order_id"]),
            r["request_id"],
            epoch,
            int(r["attempts"] or 0) + 1,
            r["status"] == "running",
            r["result"] if isinstance(r["result"], dict) else None,
            r["client_order_id"],
            r["created_at"],
            now,
        )
        for r in rows
    ]


async def fence(conn: AsyncConnection, command_id: int, epoch: int) -> None:
    """Raise `Fenced` unless the command is still `running` under `epoch` (checked inside the
    record transaction, after the lease row lock)."""
    status = (await conn.execute(FENCE, {"b_id": command_id, "b_epoch": epoch})).scalar()
    if status != "running":
        raise Fenced(f"command {command_id} is not running under epoch {epoch}")


@dataclass(frozen=True, slots=True)
class Finish:
    """A command's finish, held back to be written with others (`finish_many`)."""

    command_id: int
    epoch: int
    values: dict[str, Any]  # status, result, error_code, error_message, finished_at, updated_at


def finish_values(
    now: datetime,
    *,
    status: str,
    result: Mapping[str, object] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
) -> dict[str, Any]:
    return {"status": status, "result": result, "error_code": error_code,
            "error_message": error_message, "finished_at": now, "updated_at": now}  # fmt: skip


async def finish_many(conn: AsyncConnection, finishes: list[Finish]) -> None:
    """`finish` of several commands in one statement, each conditional on `running` under its
    epoch; `Fenced` (the whole transaction rolls back) unless every one of them still is."""
    if not finishes:
        return

    def fenced(done: int) -> None:
        if done != len(finishes):
            raise Fenced(f"{len(finishes) - done} of {len(finishes)} commands are no "
                         "longer running under their lease epoch")  # fmt: skip

    if len(finishes) == 1:  # held back to the next statement or the commit (`direct.later`)
        (one,) = finishes
        await direct.later(conn, FINISH, {**one.values, "b_id": one.command_id,
                                          "b_epoch": one.epoch}, check=fenced)  # fmt: skip
        return
    await update_by_id_later(
        conn, commands, {f.command_id: f.values for f in finishes},
        where_equal={"status": "running"},
        where_each={"lease_epoch": {f.command_id: f.epoch for f in finishes}},
        check=fenced,
    )  # fmt: skip


async def finish(
    conn: AsyncConnection,
    command_id: int,
    epoch: int,
    now: datetime,
    *,
    status: str,
    result: dict[str, Any] | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
) -> None:
    """`completed` / `failed`, conditional on `running` under `epoch` (else `Fenced`)."""
    # the SET list comes from the parameter names (`finish_values`)
    done = await direct.execute(conn, FINISH, {
        **finish_values(now, status=status, result=result, error_code=error_code,
                        error_message=error_message), "b_id": command_id, "b_epoch": epoch})  # fmt: skip
    if done != 1:
        raise Fenced(f"command {command_id} is not running under epoch {epoch}")
