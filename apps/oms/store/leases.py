"""Account leases: which worker may run an account's commands, fenced by `lease_epoch`.

A lease row exists per account. Taking one locks free, expired or **orphaned** rows (owner's
heartbeat older than `dead_after`: liveness comes from heartbeats, the expiry is a backstop) with
`FOR UPDATE SKIP LOCKED` (named dialect branch: SQLite has no row locks and serialises writers
instead), sets the owner and expiry and increments the epoch; taking a dead worker's lease writes
a `system/account_owner_changed` event. Every record transaction first locks its lease row with
`hold()`, so a lease cannot change hands while a result is being recorded.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    Executable,
    Select,
    Update,
    bindparam,
    case,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from apps.oms.domain.events import ACCOUNT_OWNER_CHANGED, AccountOwnerChanged
from apps.oms.store import direct
from apps.oms.store.outbox import append_events, event_row
from apps.oms.store.tables import (
    account_leases,
    commands,
    held_orders,
    orders,
    positions,
    workers,
)

L = account_leases.c
# `hold`, once per batch: built once, bound by name (see the note in `store/queue.py`); the
# row lock is part of the constant (SQLite renders no FOR UPDATE: it serialises writers)
HOLD = select(L.account_id).where(
    L.account_id == bindparam("b_account"), L.owner == bindparam("b_owner"),
    L.lease_epoch == bindparam("b_epoch"), L.expires_at >= bindparam("b_now")).with_for_update()
HOLD_ALL = select(L.account_id, L.lease_epoch).where(
    L.account_id.in_(bindparam("b_accounts", expanding=True)), L.owner == bindparam("b_owner"),
    L.expires_at >= bindparam("b_now")).order_by(L.account_id).with_for_update()
RENEW_CHUNK = 500  # leases renewed per statement (SQLite allows 32,766 bound values)


@dataclass(frozen=True, slots=True)
class Lease:
    account_id: int
    epoch: int


class LeaseLost(Exception):
    """The lease row no longer names this owner and epoch: stop, record nothing."""


def skip_locked(query: Any, dialect: str) -> Any:
    """Dialect branch `skip_locked`: MySQL/MariaDB lock and skip; SQLite's BEGIN IMMEDIATE has
    already serialised the whole write transaction, so a plain select is equivalent."""
    if dialect == "sqlite":
        return query
    return query.with_for_update(skip_locked=True)


def lock(query: Any, dialect: str) -> Any:
    """Dialect branch `lock`: a blocking row lock on MySQL; SQLite serialises writers."""
    if dialect == "sqlite":
        return query
    return query.with_for_update()


def live_workers(now: datetime, dead_after: float) -> Any:
    """Ids of running workers whose last heartbeat is at most `dead_after` seconds old."""
    W = workers.c
    return select(W.id).where(
        W.status == "running", W.heartbeat_at >= now - timedelta(seconds=dead_after)
    )


def _takeable(
    owner: str, now: datetime, dead_after: float | None, dead: Collection[str] = ()
) -> Any:
    """Free, expired, already ours, or (with `dead_after`) owned by a worker without a recent
    heartbeat or one in `dead` (its liveness lock was found free: store/liveness.py)."""
    free = or_(L.owner.is_(None), L.expires_at.is_(None), L.expires_at < now, L.owner == owner)
    if dead_after is None:
        return free
    gone = L.owner.not_in(live_workers(now, dead_after))
    return or_(free, gone, L.owner.in_(sorted(dead))) if dead else or_(free, gone)


def _with_work() -> tuple[Select[Any], ...]:
    c, o, p, h = commands.c, orders.c, positions.c, held_orders.c
    queries = (
        select(c.account_id).where(c.status.in_(("queued", "running"))),
        select(o.account_id).where(o.is_open.is_(True), o.exchange_order_id.is_not(None)),
        select(p.account_id).where(
            p.is_open.is_(True), or_(p.stop_loss.is_not(None), p.stop_gain.is_not(None))
        ),
        # orders the gateway holds: armed ones watch prices, firing ones wait for a resting
        # sibling's cancel, fired ones follow their child
        select(h.account_id).where(h.state.in_(("armed", "firing", "fired"))),
    )
    return tuple(query.group_by(query.selected_columns[0]).order_by(query.selected_columns[0])
                 .limit(bindparam("b_limit")) for query in queries)  # fmt: skip


# a worker's housekeeping reads, several times a second: built once
WITH_WORK = _with_work()


async def accounts_with_work(conn: AsyncConnection, limit: int) -> list[int]:
    """Accounts with unfinished commands, open orders (order sync) or watched targets."""
    found: list[int] = []
    for query in WITH_WORK:
        for row in await direct.fetch(conn, query, {"b_limit": limit}):
            if (account_id := int(row["account_id"])) not in found:
                found.append(account_id)
    return found


async def acquire(
    conn: AsyncConnection,
    *,
    owner: str,
    now: datetime,
    lease_seconds: float,
    limit: int,
    exclude: Iterable[int] = (),
    dialect: str,
    workers: int = 1,
    overdue: Collection[int] = (),
    dead_after: float | None = None,
    with_work: list[int] | None = None,
    dead: Collection[str] = (),
) -> tuple[list[Lease], set[int]]:
    """Take free or expired leases of accounts that have work: at most `limit`, and no more
    than this worker's fair share (accounts with work / `workers` alive, less the ones it holds
    that have work), so that under sustained load a second worker process gets accounts too. `overdue`
    accounts (this worker left them to its peers a while ago and they are still free) are
    taken regardless of the share: a peer that is alive but full or slow cannot starve them.
    With `dead_after`, leases whose owner is not a running worker with a heartbeat younger than
    that are free too (the worker passes it; without it only the expiry frees a lease), and so
    are those of the workers in `dead` (found dead by the liveness probe, whatever their
    heartbeats say: same takeover, same event, same fencing).
    `with_work`: what `accounts_with_work(conn, 1000)` answered in this transaction, if the
    caller read it already. Returns the leases taken and the free accounts left to others."""
    if limit <= 0:
        return [], set()
    held = set(exclude)
    every = await accounts_with_work(conn, 1000) if with_work is None else with_work
    wanted = [a for a in every if a not in held]
    if not wanted:
        return [], set()
    query = select(L.account_id, L.owner).where(
        _takeable(owner, now, dead_after, dead), L.account_id.in_(wanted)
    )
    rows = (await conn.execute(skip_locked(query.order_by(L.account_id), dialect))).all()
    free = [int(r.account_id) for r in rows]
    previous = {int(r.account_id): r.owner for r in rows if r.owner not in (None, owner)}
    # only held accounts that have work count against the share: an idle one still leased
    # (its task keeps the lease a while after its queue drains) costs nothing, and counting it
    # left a new account waiting the grace period (~1 s) "for a peer", even with no peer
    share = -(-len(every) // max(1, workers)) - len(held & set(every))
    late = [a for a in free if a in overdue]
    count = min(limit, max(share, len(late)))
    chosen = (late + [a for a in free if a not in overdue])[: max(0, count)]
    taken = await _take(conn, chosen, owner, now, lease_seconds)
    await _announce_takeovers(conn, [t for t in taken if t.account_id in previous], previous, owner)
    return taken, set(free) - set(chosen)


async def _announce_takeovers(
    conn: AsyncConnection, taken: list[Lease], previous: dict[int, str], owner: str
) -> None:
    """One `system/account_owner_changed` event per lease taken from another (dead) owner."""
    events = []
    for lease in taken:
        payload: AccountOwnerChanged = {
            "account_id": lease.account_id, "previous_owner": previous[lease.account_id],
            "owner": owner, "lease_epoch": lease.epoch, "reason": "takeover"}  # fmt: skip
        events.append(event_row(ACCOUNT_OWNER_CHANGED, payload, account_id=lease.account_id))
    await append_events(conn, events)


async def orphaned_accounts(conn: AsyncConnection, now: datetime, dead_after: float) -> list[int]:
    """Accounts with work whose lease has no live owner (free, expired or held by a worker
    that missed its heartbeats): what `/readyz` reports while a takeover is pending."""
    wanted = await accounts_with_work(conn, 1000)
    if not wanted:
        return []
    query = select(L.account_id).where(
        L.account_id.in_(wanted), _takeable("", now, dead_after)
    )
    return sorted(int(row[0]) for row in await conn.execute(query))


async def _take(
    conn: AsyncConnection, account_ids: list[int], owner: str, now: datetime, seconds: float
) -> list[Lease]:
    if not account_ids:
        return []
    await conn.execute(
        update(account_leases)
        .where(L.account_id.in_(account_ids))
        .values(
            owner=owner,
            expires_at=now + timedelta(seconds=seconds),
            heartbeat_at=now,
            lease_epoch=L.lease_epoch + 1,
        )
    )
    rows = await conn.execute(
        select(L.account_id, L.lease_epoch).where(L.account_id.in_(account_ids))
    )
    return [Lease(int(r.account_id), int(r.lease_epoch)) for r in rows]


async def renew(
    conn: AsyncConnection, leases: Iterable[Lease], *, owner: str, now: datetime, seconds: float
) -> set[int]:
    """Extend the leases still held (same owner and epoch); returns the account ids renewed.
    A few hundred rows per statement, in account order, as a group commit locks them (`hold`
    per account in account order): two transactions that lock several lease rows cannot
    deadlock. A worker renews its running and its parked leases together (thousands of them
    with many accounts: one statement per row was one round trip per account)."""
    renewed: set[int] = set()
    until = now + timedelta(seconds=seconds)
    held = sorted(leases, key=lambda lease: lease.account_id)
    for start in range(0, len(held), RENEW_CHUNK):
        chunk = held[start:start + RENEW_CHUNK]
        ids = [lease.account_id for lease in chunk]
        pairs = [(lease.account_id, lease.epoch) for lease in chunk]
        ours = (L.account_id.in_(ids), tuple_(L.account_id, L.lease_epoch).in_(pairs),
                L.owner == owner)
        done = await conn.execute(update(account_leases).where(*ours, L.expires_at >= now)
                                  .values(expires_at=until, heartbeat_at=now))
        if done.rowcount == len(chunk):
            renewed.update(ids)
            continue
        rows = await conn.execute(select(L.account_id).where(*ours, L.expires_at == until))
        renewed.update(int(r[0]) for r in rows)
    return renewed


async def release(conn: AsyncConnection, leases: Iterable[Lease], *, owner: str) -> None:
    """Give leases back (SIGTERM, idle): expire them now, keep the epoch (the next taker bumps it).
    In account order, like `renew`."""
    for lease in sorted(leases, key=lambda held: held.account_id):
        await conn.execute(
            update(account_leases)
            .where(L.account_id == lease.account_id, L.owner == owner, L.lease_epoch == lease.epoch)
            .values(owner=None, expires_at=None)
        )


async def hold(
    conn: AsyncConnection, lease: Lease, *, owner: str, now: datetime
) -> None:
    """Lock the lease row for this transaction; `LeaseLost` unless still ours and unexpired."""
    params = {"b_account": lease.account_id, "b_owner": owner, "b_epoch": lease.epoch,
              "b_now": now}  # fmt: skip
    if await direct.fetch_one(conn, HOLD, params) is None:
        raise LeaseLost(f"lease of account {lease.account_id} epoch {lease.epoch} lost")


async def hold_all(
    conn: AsyncConnection, held: list[Lease], *, owner: str, now: datetime
) -> None:
    """`hold` for several leases in one statement (a group commit): every row locked, in
    account order; `LeaseLost` for the first that is no longer ours, unexpired, same epoch."""
    held_or_lost(held, await direct.fetch(conn, *hold_all_read(held, owner=owner, now=now)))


def hold_all_read(
    held: list[Lease], *, owner: str, now: datetime
) -> tuple[Executable, dict[str, Any]]:
    """The statement of `hold_all` and its parameters (sent with other reads: a group
    commit's first round trip); `held_or_lost` checks its rows."""
    return HOLD_ALL, {"b_accounts": sorted(lease.account_id for lease in held), "b_owner": owner,
                      "b_now": now}  # fmt: skip


#: `hold_later`'s statements by the number of leases held (a worker's group holds a few)
_HOLD_LATER: dict[int, Update] = {}
HOLD_LATER_KEPT = 64
#: the lease rows locked by key alone, whoever holds them: the ownership check that follows
#: then waits for a transaction holding them instead of skipping a row it does not match (a
#: locking read in READ COMMITTED passes over a locked row whose last committed version does
#: not match), so a worker that lost a lease queues behind the new owner's transaction rather
#: than locking, in the rest of its round trip, rows the new owner goes on to lock
LOCK_BY_KEY = select(L.account_id).where(
    L.account_id.in_(bindparam("b_accounts", expanding=True))
).order_by(L.account_id).with_for_update()


def _hold_later_of(count: int) -> Update:
    """Lock `count` lease rows, each still ours under its own epoch and unexpired, by an UPDATE
    that changes nothing: its rows matched tell whether every lease is still held."""
    statement = _HOLD_LATER.get(count)
    if statement is None:
        accounts: list[BindParameter[Any]] = [bindparam(f"a{k}") for k in range(count)]
        epoch = case({accounts[k]: bindparam(f"e{k}") for k in range(count)}, value=L.account_id)
        statement = update(account_leases).where(
            L.account_id.in_(accounts), L.owner == bindparam("b_owner"),
            L.expires_at >= bindparam("b_now"), L.lease_epoch == epoch,
        ).values(lease_epoch=L.lease_epoch)  # fmt: skip
        if len(_HOLD_LATER) < HOLD_LATER_KEPT:
            _HOLD_LATER[count] = statement
    return statement


async def hold_later(
    conn: AsyncConnection, held: list[Lease], *, owner: str, now: datetime
) -> None:
    """`hold_all` held back to the transaction's next statement (`direct.later`): the lease
    rows are locked by key first thing in that round trip (`LOCK_BY_KEY`, waiting for whoever
    holds them), before anything the transaction reads or writes after them, then checked,
    and `LeaseLost` is raised there (the transaction can then only roll back) unless every
    lease is still ours. A record transaction whose first statement needs no
    answer of its own saves the round trip its lease hold took alone."""
    ordered = sorted(held, key=lambda lease: lease.account_id)
    params: dict[str, Any] = {"b_owner": owner, "b_now": now}
    for k, lease in enumerate(ordered):
        params |= {f"a{k}": lease.account_id, f"e{k}": lease.epoch}

    def all_held(matched: int) -> None:
        if matched != len(ordered):
            accounts = ", ".join(str(lease.account_id) for lease in ordered)
            raise LeaseLost(f"{len(ordered) - matched} of the leases of accounts {accounts} lost")

    await direct.later(conn, LOCK_BY_KEY, {"b_accounts": [lease.account_id for lease in ordered]})
    await direct.later(conn, _hold_later_of(len(ordered)), params, check=all_held)


def held_or_lost(held: list[Lease], rows: list[dict[str, Any]]) -> None:
    """`LeaseLost` for the first of `held` that `hold_all`'s rows do not show as still ours."""
    epochs = {int(r["account_id"]): int(r["lease_epoch"]) for r in rows}
    for lease in held:
        if epochs.get(lease.account_id) != lease.epoch:
            raise LeaseLost(f"lease of account {lease.account_id} epoch {lease.epoch} lost")
