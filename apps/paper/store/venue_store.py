"""Persistence of the paper venue: account state, order and fill history, shared prices.

Reads run in short connections that end at once (no read transaction left open on MySQL).
`save` writes one matching Outcome in one transaction, conditional on the account row's
`version`, so two writers of the same account can never both apply (the loser reloads).

**Joined mode** (`PaperStore.join(conn)`): the worker's record transaction can carry the venue's
writes, so that placing, matching and booking commit (or roll back) together. Inside the block
every read and write of this store goes through that connection: the account row is locked
(`FOR UPDATE`) when first loaded, saves only update an in-memory overlay, and `Joined.flush()`
(called by the caller before its commit) writes the overlay's net change of every account at
once: the accounts' version bumps in one statement (each conditional on its own version), their
changed balances in one upsert, new orders and fills in one insert each, changed positions and
resting orders row by row.
The process-wide state cache learns the new state only through `Joined.publish()`, after the
caller's commit; a rolled-back transaction leaves it as it was.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Insert, Row, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from apps.oms.store import direct, many
from apps.oms.store.engine import reading
from apps.oms.store.tables import accounts
from apps.paper.domain.book import Quote
from apps.paper.domain.candles import Candle, Window
from apps.paper.domain.matching import Outcome
from apps.paper.domain.state import (
    BOTH,
    ONE_WAY,
    OPEN,
    FundingMark,
    PaperOrder,
    VenueAccount,
    VenueFill,
    VenuePosition,
)
from apps.paper.store import candles as paper_candles
from apps.paper.store.tables import (
    paper_accounts,
    paper_balances,
    paper_fills,
    paper_orders,
    paper_positions,
    paper_price_ticks,
    paper_prices,
)

#: How many recent price changes per symbol are kept for matching (`get_path`).
PATH_LIMIT = 2000

# The statements of a placement, built once and bound by name at execution (see the note in
# `store/queue.py`); an UPDATE's SET list comes from its parameter names.
A, B, PO, PP = paper_accounts.c, paper_balances.c, paper_orders.c, paper_positions.c
_ACCOUNT: Any = bindparam("b_account")
LOAD_HEAD_LOCKED = select(paper_accounts).where(A.account_id == _ACCOUNT).with_for_update()
LOAD_HEAD = select(paper_accounts).where(A.account_id == _ACCOUNT).add_columns(
    select(accounts.c.config).where(accounts.c.id == _ACCOUNT).scalar_subquery()
    .label("account_config"))  # fmt: skip
# a batch of placements locks the account's row with its first read: nothing can move the
# version until its commit, so its writes need no row-count check and go with the COMMIT.
# `of=`: MySQL 8 locks only that table's rows; MariaDB renders a plain FOR UPDATE, which locks
# no row of the scalar subquery either (measured); SQLite renders none (writers serialised)
LOAD_HEAD_FOR_BATCH = LOAD_HEAD.with_for_update(of=paper_accounts)
LOAD_BALANCES = select(paper_balances).where(B.account_id == _ACCOUNT)
LOAD_POSITIONS = select(paper_positions).where(PP.account_id == _ACCOUNT)
LOAD_OPEN_ORDERS = select(paper_orders).where(PO.account_id == _ACCOUNT, PO.status == OPEN)
PRELOAD_LOCKED = (
    select(A.account_id, A.version)
    .where(A.account_id.in_(bindparam("b_accounts", expanding=True)))
    .order_by(A.account_id)
    .with_for_update()  # SQLite renders none: it serialises writers
)
BUMP = update(paper_accounts).where(A.account_id == _ACCOUNT, A.version == bindparam("b_version"))
# a balance written whether it exists or not (new currencies and changed ones, one statement)
_MYSQL_BALANCES = mysql_insert(paper_balances)
_ON_DUPLICATE = _MYSQL_BALANCES.on_duplicate_key_update(total=_MYSQL_BALANCES.inserted.total)
UPSERT_BALANCES: dict[str, Insert] = {  # by dialect name
    "mysql": _ON_DUPLICATE,
    "mariadb": _ON_DUPLICATE,
    "sqlite": (_SQLITE_BALANCES := sqlite_insert(paper_balances)).on_conflict_do_update(
        index_elements=[B.account_id, B.currency], set_={"total": _SQLITE_BALANCES.excluded.total}),
}
INSERT_ORDERS = insert(paper_orders)
INSERT_FILLS = insert(paper_fills)
INSERT_POSITION = insert(paper_positions)
UPDATE_POSITION = update(paper_positions).where(
    PP.account_id == _ACCOUNT, PP.symbol == bindparam("b_symbol"),
    PP.position_side == bindparam("b_side"))
DELETE_POSITION = delete(paper_positions).where(
    PP.account_id == _ACCOUNT, PP.symbol == bindparam("b_symbol"),
    PP.position_side == bindparam("b_side"))
UPDATE_ORDER = update(paper_orders).where(PO.order_id == bindparam("b_order"))
CLIENT_IDS = select(PO.account_id, PO.client_order_id).where(
    PO.account_id.in_(bindparam("b_accounts", expanding=True)),
    PO.client_order_id.in_(bindparam("b_clients", expanding=True)))
ORDER_BY_ID = select(paper_orders).where(PO.account_id == _ACCOUNT,
                                         PO.order_id == bindparam("b_order"))  # fmt: skip
ORDER_BY_CLIENT_ID = select(paper_orders).where(
    PO.account_id == _ACCOUNT, PO.client_order_id == bindparam("b_client"))
CLIENT_IDS_TAKEN = select(PO.client_order_id).where(
    PO.account_id == _ACCOUNT, PO.client_order_id.in_(bindparam("b_clients", expanding=True)))
QUOTES = select(paper_prices).where(paper_prices.c.symbol.in_(bindparam("b_symbols",
                                                                        expanding=True)))
ALL_QUOTES = select(paper_prices)
PRICE_VERSION = select(func.sum(paper_prices.c.seq))


class VersionConflict(Exception):
    """The account changed since it was loaded; reload and re-apply."""


def to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms // 1000, tz=UTC).replace(microsecond=(ms % 1000) * 1000)


def to_ms(value: datetime) -> int:
    return int(value.timestamp()) * 1000 + value.microsecond // 1000


def _opt_dt(ms: int | None) -> datetime | None:
    return None if ms is None else to_dt(ms)


def _opt_ms(value: datetime | None) -> int | None:
    return None if value is None else to_ms(value)


@dataclass(slots=True)
class _Pending:
    """One account's writes held back in joined mode, flushed once before the commit."""

    version: int  # the stored version the overlay started from (row locked by us)
    stored: VenueAccount  # the state as stored at that version
    state: VenueAccount  # the state after this transaction's saves
    orders: dict[str, PaperOrder] = field(default_factory=dict)  # latest of each written order
    fills: list[VenueFill] = field(default_factory=list)
    now_ms: int = 0  # time of the last save (the account row's updated_at)


@dataclass(slots=True)
class Joined:
    """A caller's transaction the store writes through (see the module docstring)."""

    store: PaperStore
    conn: AsyncConnection
    pending: dict[int, _Pending] = field(default_factory=dict)
    quotes: dict[str, Quote] = field(default_factory=dict)  # one price snapshot per transaction
    flushed: dict[int, tuple[int, VenueAccount]] = field(default_factory=dict)
    ensured: set[int] = field(default_factory=set)  # accounts known to exist once committed
    # client order ids known absent from the stored orders of an account (`expect_client_ids`)
    absent_client_ids: dict[int, set[str]] = field(default_factory=dict)
    failed: bool = False  # a flush raised: this transaction must not commit (`flush`)

    async def expect_client_ids(self, account_id: int, client_ids: list[str]) -> None:
        """The caller is about to place orders with these client ids: answer their duplicate
        checks with one read instead of one per order. An id found here still goes the normal
        lookup; one stored by another writer after this read is caught by the unique key at
        flush (the caller's transaction rolls back and retries)."""
        await self.expect_client_ids_of({account_id: client_ids})

    async def expect_client_ids_of(self, client_ids: dict[int, list[str]]) -> None:
        """`expect_client_ids` of several accounts in one read (a group commit)."""
        await self.prepare([], client_ids, [])

    async def preload(self, account_ids: list[int]) -> None:
        """Lock the paper rows of several accounts in one statement (account order) and start
        each one whose committed state the store already knows at that version (a group
        commit); any other account loads as usual on its first call."""
        await self.prepare(account_ids, {}, [])

    async def prepare(
        self, account_ids: list[int], client_ids: dict[int, list[str]], symbols: list[str]
    ) -> None:
        """`preload` of these accounts, `expect_client_ids_of` these client ids and this
        transaction's price snapshot of these symbols, in one round trip (a group commit)."""
        reads: list[tuple[Any, dict[str, Any]]] = []
        handlers: list[Callable[[list[dict[str, Any]]], None]] = []
        ids = sorted(set(account_ids) - set(self.pending))
        if ids:
            reads.append((PRELOAD_LOCKED, {"b_accounts": ids}))
            handlers.append(self._preloaded)
        wanted = {(a, c) for a, found in client_ids.items() for c in found if c}
        if wanted:
            reads.append((CLIENT_IDS, {"b_accounts": sorted({a for a, _c in wanted}),
                                       "b_clients": sorted({c for _a, c in wanted})}))  # fmt: skip
            handlers.append(lambda rows: self._absent(wanted, rows))
        unquoted = sorted({s for s in symbols if s not in self.quotes})
        if unquoted:
            reads.append((QUOTES, {"b_symbols": unquoted}))
            handlers.append(self._quoted)
        if reads:
            for handle, rows in zip(handlers, await direct.fetch_each(self.conn, reads),
                                    strict=True):  # fmt: skip
                handle(rows)

    def _preloaded(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            account_id, version = row["account_id"], row["version"]
            known = self.store._states.get(int(account_id))
            if known is not None and known[0] == version:
                self.pending[int(account_id)] = _Pending(int(version), known[1], known[1])

    def _absent(self, wanted: set[tuple[int, str]], rows: list[dict[str, Any]]) -> None:
        found = {(int(r["account_id"]), str(r["client_order_id"])) for r in rows}
        for account_id, client_id in wanted - found:
            self.absent_client_ids.setdefault(account_id, set()).add(client_id)

    def _quoted(self, rows: list[dict[str, Any]]) -> None:
        self.quotes.update({r["symbol"]: quote_from_row(r) for r in rows})

    async def flush(self) -> None:
        """Write every account's held-back change (the caller commits right after); the new
        orders and fills of all accounts go in one multi-row statement each. A flush that
        failed (e.g. inside another account's call, whose error handling may swallow it)
        leaves the join failed: every later flush raises, so the caller cannot commit."""
        if self.failed:
            raise RuntimeError("an earlier flush of this joined transaction failed")
        written = [(account_id, p) for account_id, p in self.pending.items()
                   if p.state is not p.stored or p.orders or p.fills]  # fmt: skip
        try:
            await self.store._write_outcomes(self.conn, [p for _a, p in written])
        except BaseException:
            self.failed = True
            raise
        for account_id, p in written:
            self.flushed[account_id] = (p.version + 1, p.state)
            self.pending[account_id] = _Pending(p.version + 1, p.state, p.state)

    def publish(self) -> None:
        """The caller committed: what a later load would read is now the flushed state."""
        self.store._states.update(self.flushed)
        self.store._existing.update(self.ensured)


@dataclass(slots=True)
class _Inserts:
    """New paper orders and fills, written in one statement each once every account's state
    rows are written (a joined flush over several accounts)."""

    orders: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)

    async def write(self, conn: AsyncConnection) -> None:
        if self.orders:
            await direct.later_rows(conn, INSERT_ORDERS, self.orders)
        if self.fills:
            await direct.later_rows(conn, INSERT_FILLS, self.fills)


# the joins open in this task, by store: a group commit joins several accounts' venues at once
_JOINED: ContextVar[dict[int, Joined] | None] = ContextVar("paper_joined", default=None)


class PaperStore:
    """Paper venue rows over one async engine (MySQL or SQLite).

    Keeps the last account state it loaded or saved, keyed by the account row's `version`:
    `load` reads the account row first and reuses that state while the version is unchanged
    (every `save` bumps it, whoever writes), so the balances, positions and open orders are
    read again only after another writer moved the account. States are immutable."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._states: dict[int, tuple[int, VenueAccount]] = {}
        self._existing: set[int] = set()  # accounts whose paper rows are known to be committed
        # each account's `accounts.config["paper"]["book"]` as of its last load (None: unset)
        self.account_books: dict[int, Any] = {}
        self._turns: dict[int, asyncio.Lock] = {}

    def turn(self, account_id: int) -> AbstractAsyncContextManager[Any]:
        """One account's requests through this store, one at a time, as an exchange's matching
        engine takes an account's requests in turn. Several requests of one account at once (a
        cancel of many orders has several in flight) queue here instead of loading the same
        version, conflicting on save (`VersionConflict`) and, after `MAX_ATTEMPTS`, being
        answered busy. Writers in other processes still meet the version check (a batch of
        placements on MySQL/MariaDB instead waits for the account's row lock). Inside a joined
        transaction (the price feed's) no turn is taken: that transaction holds the account's
        row itself, and waiting here for a request that waits for that row would deadlock."""
        if self._joined() is not None:
            return nullcontext()
        return self._turns.setdefault(account_id, asyncio.Lock())

    @contextmanager
    def join(self, conn: AsyncConnection) -> Iterator[Joined]:
        """Run this store's calls inside the caller's transaction on `conn` (this task only).
        Joining again on the same connection inside the block (several accounts' venues of one
        store in a group commit) gives the same `Joined`: one price snapshot, one flush."""
        active = _JOINED.get() or {}
        current = active.get(id(self))
        if current is not None and current.conn is conn:
            yield current
            return
        joined = Joined(self, conn)
        token = _JOINED.set({**active, id(self): joined})
        try:
            yield joined
        finally:
            _JOINED.reset(token)

    def _joined(self) -> Joined | None:
        return (_JOINED.get() or {}).get(id(self))

    @asynccontextmanager
    async def _reading(self, *, flush: bool = True) -> AsyncIterator[AsyncConnection]:
        """A connection for reads: the joined transaction's (its held-back writes flushed
        first, so the read sees them, unless the caller looked at them itself) or a short
        one of its own."""
        joined = self._joined()
        if joined is not None:
            if flush:
                await joined.flush()
            yield joined.conn
            return
        async with reading(self.engine) as conn:
            yield conn

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        joined = self._joined()
        if joined is not None:
            await joined.flush()
            yield joined.conn
            return
        async with self.engine.begin() as conn:
            yield conn
            await direct.flush(conn)  # held writes go before the commit, inside the block

    async def ensure_account(
        self, account_id: int, start: Mapping[str, Decimal], leverage: int, now_ms: int
    ) -> bool:
        """Create the paper state of an account with its start balances; False if it exists.
        Joined, the account counts as existing only once the caller's transaction committed
        (a rolled-back creation is created again)."""
        if account_id in self._existing:
            return False
        joined = self._joined()
        if joined is not None and account_id in joined.ensured:
            return False
        created = await self._ensure_account(account_id, start, leverage, now_ms)
        if joined is not None:
            joined.ensured.add(account_id)
        else:
            self._existing.add(account_id)
        return created

    async def _ensure_account(
        self, account_id: int, start: Mapping[str, Decimal], leverage: int, now_ms: int
    ) -> bool:
        async with self._writing() as conn:
            found = await conn.scalar(
                select(paper_accounts.c.account_id).where(paper_accounts.c.account_id == account_id)
            )
            if found is not None:
                return False
            await conn.execute(
                insert(paper_accounts).values(
                    account_id=account_id,
                    version=0,
                    next_seq=1,
                    fault_seq=0,
                    leverage=leverage,
                    created_at=to_dt(now_ms),
                    updated_at=to_dt(now_ms),
                )
            )
            for currency, total in start.items():
                await conn.execute(
                    insert(paper_balances).values(
                        account_id=account_id, currency=currency, total=total
                    )
                )
        return True

    async def load(self, account_id: int) -> tuple[VenueAccount, int]:
        """The account's matching state (open orders only) and its version."""
        joined = self._joined()
        if joined is not None:
            pending = joined.pending.get(account_id)
            if pending is None:
                state, version = await self._load(joined.conn, account_id, lock=True)
                pending = joined.pending[account_id] = _Pending(version, state, state)
            return pending.state, pending.version
        async with reading(self.engine) as conn:
            return await self._load(conn, account_id)

    async def _load(
        self, conn: AsyncConnection, account_id: int, *, lock: bool = False
    ) -> tuple[VenueAccount, int]:
        # unlocked, the account's config rides along (not under a row lock: only paper's row)
        query = LOAD_HEAD_LOCKED if lock and conn.dialect.name != "sqlite" else LOAD_HEAD
        by_account = {"b_account": account_id}
        head = (await conn.execute(query, by_account)).one()
        if not lock:
            self._note_book(account_id, head.account_config)
        known = self._states.get(account_id)
        if known is not None and known[0] == head.version:
            return known[1], head.version
        balances = await conn.execute(LOAD_BALANCES, by_account)
        positions = await conn.execute(LOAD_POSITIONS, by_account)
        orders = await conn.execute(LOAD_OPEN_ORDERS, by_account)
        state = VenueAccount(
            account_id=account_id,
            balances={r.currency: r.total for r in balances},
            open_orders={o.order_id: o for o in map(order_from_row, orders)},
            positions={p.key: p for p in map(position_from_row, positions)},
            next_seq=head.next_seq,
            leverage=head.leverage,
            leverages={str(k): int(v) for k, v in _json(head.leverages).items()},
            margin_modes={str(k): str(v) for k, v in _json(head.margin_modes).items()},
            last_funding=funding_from_json(head.last_funding),
            position_mode=head.position_mode or ONE_WAY,
        )
        if not lock:
            self._states[account_id] = (head.version, state)
        return state, head.version

    def _note_book(self, account_id: int, config: Any) -> None:
        """Remember the account's `paper.book` (JSON text on SQLite subqueries, a dict else)."""
        if isinstance(config, str):
            config = json.loads(config)
        paper = config.get("paper") if isinstance(config, dict) else None
        self.account_books[account_id] = paper.get("book") if isinstance(paper, dict) else None

    async def save(self, before: VenueAccount, version: int, outcome: Outcome, now_ms: int) -> None:
        """Write an Outcome atomically; VersionConflict if the account moved meanwhile. Joined:
        held back in the overlay until `Joined.flush()`."""
        after = outcome.state
        joined = self._joined()
        if joined is not None:
            pending = joined.pending.get(after.account_id)
            if pending is None or pending.version != version or pending.state is not before:
                raise VersionConflict(f"paper account {after.account_id} changed")
            pending.state = after
            pending.orders.update((o.order_id, o) for o in outcome.orders)
            pending.fills.extend(outcome.fills)
            pending.now_ms = now_ms
            return
        async with self.engine.begin() as conn:
            await self._write_outcomes(conn, [_Pending(version, before, after, {
                o.order_id: o for o in outcome.orders}, list(outcome.fills), now_ms)])  # fmt: skip
            await direct.flush(conn)  # a conflict raises here and rolls back (not at COMMIT)
        self._states[after.account_id] = (version + 1, after)  # committed: what a load would see

    async def _write_outcomes(
        self, conn: AsyncConnection, changes: list[_Pending], *, locked: bool = False
    ) -> None:
        """Write the changes of several accounts (each from its `stored` state at `version` to
        its `state`): every account row's version bump in one statement, conditional on each
        row's own version (VersionConflict if any moved; `locked`: the caller holds the rows'
        locks since it read them, so none can have moved and nothing is checked), every
        changed balance in one upsert, the new orders and fills in one insert each; positions
        and updated resting orders row by row (rare: a market order's fill changes neither)."""
        if not changes:
            return

        def conflict(bumped: int) -> None:
            if bumped != len(changes):
                moved = ", ".join(str(p.state.account_id) for p in changes)
                raise VersionConflict(f"paper account(s) {moved}: one changed")

        # every write here is held back to the next statement or the commit (`direct.later`)
        await many.update_by_id_later(conn, paper_accounts, {
            p.state.account_id: {
                "version": p.version + 1, "next_seq": p.state.next_seq,
                "updated_at": to_dt(p.now_ms),
                **({"leverages": dict(p.state.leverages)}
                   if p.state.leverages != p.stored.leverages else {}),
                **({"margin_modes": dict(p.state.margin_modes)}
                   if p.state.margin_modes != p.stored.margin_modes else {}),
                **({"last_funding": funding_json(p.state.last_funding)}
                   if p.state.last_funding != p.stored.last_funding else {}),
                **({"position_mode": p.state.position_mode}
                   if p.state.position_mode != p.stored.position_mode else {})}
            for p in changes}, where_each={"version": {
                p.state.account_id: p.version for p in changes}}, key="account_id",
            check=None if locked else conflict)  # fmt: skip
        balances = sorted(
            ((p.state.account_id, currency), total)
            for p in changes
            for currency, total in p.state.balances.items()
            if p.stored.balances.get(currency) != total  # changed, or new (None before)
        )
        if balances:
            await direct.later_rows(conn, UPSERT_BALANCES[conn.dialect.name], [
                {"account_id": a, "currency": c, "total": t} for (a, c), t in balances])
        inserts = _Inserts()
        for p in changes:
            await self._save_positions(conn, p.stored, p.state)
            await self._save_orders(conn, p.state.account_id, p.stored, p.orders.values(),
                                    inserts)  # fmt: skip
            inserts.fills += [fill_row(p.state.account_id, f) for f in p.fills]
        await inserts.write(conn)

    async def _save_positions(
        self, conn: AsyncConnection, before: VenueAccount, after: VenueAccount
    ) -> None:
        for key, position in after.positions.items():
            row = position_row(after.account_id, position)
            if key not in before.positions:
                await direct.later_rows(conn, INSERT_POSITION, [row])
            elif before.positions[key] != position:
                await direct.later(conn, UPDATE_POSITION, {
                    **row, "b_account": after.account_id, "b_symbol": position.symbol,
                    "b_side": position.position_side})
        for key, gone in before.positions.items():  # a mode switch drops the flat rows
            if key not in after.positions:
                await direct.later(conn, DELETE_POSITION, {
                    "b_account": after.account_id, "b_symbol": gone.symbol,
                    "b_side": gone.position_side})

    async def _save_orders(
        self,
        conn: AsyncConnection,
        account_id: int,
        before: VenueAccount,
        orders: Iterable[PaperOrder],
        inserts: _Inserts,
    ) -> None:
        inserts.orders += [order_row(account_id, o) for o in orders if o.seq >= before.next_seq]
        for order in orders:
            row = order_row(account_id, order)
            if order.seq >= before.next_seq:
                continue
            else:
                await direct.later(conn, UPDATE_ORDER, {**row, "b_order": order.order_id})

    async def next_fault_seq(self, account_id: int) -> int:
        """Advance and return the account's fault-injection counter."""
        async with self._writing() as conn:
            await conn.execute(
                update(paper_accounts)
                .where(paper_accounts.c.account_id == account_id)
                .values(fault_seq=paper_accounts.c.fault_seq + 1)
            )
            value = await conn.scalar(
                select(paper_accounts.c.fault_seq).where(paper_accounts.c.account_id == account_id)
            )
        return int(value or 0)

    async def find_order(
        self, account_id: int, order_id: str | None = None, client_order_id: str | None = None
    ) -> PaperOrder | None:
        """One order of the account by venue id or by client order id."""
        if order_id:
            query, by = ORDER_BY_ID, {"b_account": account_id, "b_order": order_id}
        elif client_order_id:
            query, by = ORDER_BY_CLIENT_ID, {"b_account": account_id, "b_client": client_order_id}
        else:
            return None
        joined = self._joined()
        pending = joined.pending.get(account_id) if joined is not None else None
        if pending is not None:  # written in this transaction, not flushed yet
            for o in pending.orders.values():
                if o.order_id == order_id or (
                    not order_id and o.client_order_id == client_order_id
                ):
                    return o
        if not order_id and joined is not None:
            absent = joined.absent_client_ids.get(account_id)
            if absent is not None and client_order_id in absent:
                return None  # checked for the whole batch by `expect_client_ids`
        async with self._reading(flush=False) as conn:
            row = (await conn.execute(query, by)).first()
        return None if row is None else order_from_row(row)

    async def apply_batch(
        self,
        account_id: int,
        client_order_ids: list[str],
        symbols: list[str],
        decide: Callable[[VenueAccount, set[str], dict[str, Quote]], tuple[Outcome, int]],
    ) -> Outcome:
        """One transaction for a batch of placements: the account's head, the client order
        ids already taken and the prices of `symbols` read in one round trip, `decide` (pure:
        given the state, the taken ids and the quotes, the outcome and its instant), the
        outcome written conditional on the version. On MySQL/MariaDB the head's read locks the
        account's row, and the writes go with the COMMIT in one round trip; on SQLite (writers
        serialised, no row lock) the writes are checked before the commit and VersionConflict
        is raised if the account moved meanwhile (the caller decides again)."""
        async with self.engine.begin() as conn:
            by_account = {"b_account": account_id}
            locked = conn.dialect.name != "sqlite"
            reads: list[tuple[Any, dict[str, Any]]] = [
                (LOAD_HEAD_FOR_BATCH if locked else LOAD_HEAD, by_account)]
            if client_order_ids:
                reads.append((CLIENT_IDS_TAKEN, {**by_account, "b_clients": client_order_ids}))
            if symbols:
                reads.append((QUOTES, {"b_symbols": symbols}))
            found = await direct.fetch_each(conn, reads)
            head = found[0][0]
            self._note_book(account_id, head["account_config"])
            taken = {str(r["client_order_id"]) for r in found[1]} if client_order_ids else set()
            quotes = {str(r["symbol"]): quote_from_row(r) for r in found[-1]} if symbols else {}
            version = int(head["version"])
            known = self._states.get(account_id)
            if known is not None and known[0] == version:
                state = known[1]
            else:
                state, version = await self._load(conn, account_id)
            outcome, now_ms = decide(state, taken, quotes)
            if outcome.state == state and not outcome.orders and not outcome.fills:
                return outcome
            await self._write_outcomes(conn, [_Pending(version, state, outcome.state, {
                o.order_id: o for o in outcome.orders}, list(outcome.fills), now_ms)],
                locked=locked)  # fmt: skip
            if locked:
                await direct.flush_and_commit(conn)
            else:
                await direct.flush(conn)  # a conflict raises here and rolls back (not at COMMIT)
        self._states[account_id] = (version + 1, outcome.state)
        return outcome

    async def taken_client_ids(self, account_id: int, client_order_ids: list[str]) -> set[str]:
        """Which of these client order ids the account's orders already carry (one read)."""
        async with self._reading() as conn:
            rows = await conn.execute(CLIENT_IDS_TAKEN, {
                "b_account": account_id, "b_clients": client_order_ids})  # fmt: skip
        return {str(r[0]) for r in rows}

    async def list_orders(
        self,
        account_id: int,
        symbol: str | None,
        which: str,
        since_ms: int | None,
        limit: int | None,
    ) -> list[PaperOrder]:
        """Orders oldest first (the last `limit`); `which` is `all`, `open` or `closed`."""
        c = paper_orders.c
        query = select(paper_orders).where(c.account_id == account_id).order_by(c.seq)
        if symbol:
            query = query.where(c.symbol == symbol)
        if which == "open":
            query = query.where(c.status == OPEN)
        elif which == "closed":
            query = query.where(c.status != OPEN)
        if since_ms is not None:
            query = query.where(c.created_at >= to_dt(since_ms))
        async with self._reading() as conn:
            rows = [order_from_row(r) for r in await conn.execute(query)]
        return rows[-limit:] if limit else rows

    async def list_fills(
        self,
        account_id: int,
        symbol: str | None,
        since_ms: int | None,
        limit: int | None,
        order_id: str | None = None,
    ) -> list[VenueFill]:
        """Fills oldest first (by venue sequence), from `since_ms` inclusive."""
        c = paper_fills.c
        query = select(paper_fills).where(c.account_id == account_id).order_by(c.seq)
        if order_id:
            query = query.where(c.order_id == order_id)
        if symbol:
            query = query.where(c.symbol == symbol)
        if since_ms is not None:
            query = query.where(c.executed_at >= to_dt(since_ms))
        if limit:
            query = query.limit(limit)
        async with self._reading() as conn:
            return [fill_from_row(r) for r in await conn.execute(query)]

    async def get_quotes(self, symbols: Iterable[str] | None = None) -> dict[str, Quote]:
        """Stored prices; joined, one snapshot per symbol for the whole transaction."""
        wanted = None if symbols is None else list(symbols)
        joined = self._joined()
        if joined is not None and wanted is not None and all(s in joined.quotes for s in wanted):
            return {s: joined.quotes[s] for s in wanted}
        async with self._reading(flush=False) as conn:
            if wanted is None:
                rows = await direct.fetch(conn, ALL_QUOTES)
            else:
                rows = await direct.fetch(conn, QUOTES, {"b_symbols": wanted})
        found = {r["symbol"]: quote_from_row(r) for r in rows}
        if joined is not None:
            joined.quotes.update(found)
        return found

    async def seed_quote(self, quote: Quote, source: str) -> Quote:
        """Store `quote` as the symbol's first price unless one is stored already (then that one
        wins and is returned): seeding a default must never overwrite a price someone set."""
        async with self._writing() as conn:
            await conn.execute(
                insert(paper_prices)
                .prefix_with("IGNORE", dialect="mysql")
                .prefix_with("OR IGNORE", dialect="sqlite")
                .values(
                    symbol=quote.symbol,
                    seq=1,
                    last=quote.last,
                    bid=quote.bid,
                    ask=quote.ask,
                    source=source,
                    updated_at=to_dt(quote.timestamp_ms),
                )
            )
            row = (
                await conn.execute(
                    select(paper_prices).where(paper_prices.c.symbol == quote.symbol)
                )
            ).mappings().one()
        return quote_from_row(row)

    async def put_quote(self, quote: Quote, source: str) -> Quote:
        """Store a new price of a symbol; its `seq` becomes the stored one plus one."""
        (stored,) = await self.put_quotes([quote], source)
        return stored

    async def put_quotes(self, quotes: list[Quote], source: str) -> list[Quote]:
        """Store new prices in order (several per symbol allowed): each gets the symbol's next
        `seq` and a row of the recorded path; the symbol's current price becomes its last one.
        One locked read of the symbols, one multi-row insert of the path, one write per symbol
        (a replay step stores dozens of ticks for each market)."""
        if not quotes:
            return []
        c = paper_prices.c
        symbols = sorted({q.symbol for q in quotes})
        async with self._writing() as conn:
            query = select(c.symbol, c.seq).where(c.symbol.in_(symbols))
            if conn.dialect.name != "sqlite":  # SQLite: BEGIN IMMEDIATE serialises writers
                query = query.with_for_update()
            known = {str(r.symbol): int(r.seq) for r in await conn.execute(query)}
            if len(known) < len(symbols):
                # a first price: the locked read locks no absent row, so another writer (a
                # venue seeding its default, the API) may insert the symbol meanwhile; create
                # the rows if still absent (or wait for that writer's), then read them locked
                first = {q.symbol: q for q in reversed(quotes) if q.symbol not in known}
                await conn.execute(
                    insert(paper_prices).prefix_with("IGNORE", dialect="mysql")
                    .prefix_with("OR IGNORE", dialect="sqlite"),
                    [{"symbol": q.symbol, "seq": 0, "last": q.last, "bid": q.bid, "ask": q.ask,
                      "source": source, "updated_at": to_dt(q.timestamp_ms)}
                     for q in first.values()])  # fmt: skip
                known = {str(r.symbol): int(r.seq) for r in await conn.execute(query)}
            seqs = dict(known)
            stored: list[Quote] = []
            ticks: list[dict[str, Any]] = []
            latest: dict[str, dict[str, Any]] = {}
            for quote in quotes:
                seq = seqs[quote.symbol] = seqs.get(quote.symbol, 0) + 1
                at = to_dt(quote.timestamp_ms)
                latest[quote.symbol] = {"seq": seq, "last": quote.last, "bid": quote.bid,
                                        "ask": quote.ask, "source": source, "updated_at": at}
                ticks.append({"symbol": quote.symbol, "seq": seq, "last": quote.last,
                              "bid": quote.bid, "ask": quote.ask, "at": at})
                stored.append(Quote(quote.symbol, quote.last, quote.bid, quote.ask, seq,
                                    quote.timestamp_ms))
            for symbol, values in latest.items():
                await conn.execute(update(paper_prices).where(c.symbol == symbol)
                                   .values(**values))  # fmt: skip
            await conn.execute(insert(paper_price_ticks), ticks)
            await paper_candles.record(conn, stored)
        return stored

    async def candles(
        self, symbol: str, timeframe: str, win: Window
    ) -> tuple[list[Candle], Candle | None]:
        """Stored candles of the window and the last one before it (`paper_candles.read`)."""
        async with self._reading(flush=False) as conn:
            return await paper_candles.read(conn, symbol, timeframe, win)

    async def first_candle(self, symbol: str, timeframe: str) -> int | None:
        """Opening time (ms) of the first stored candle of (symbol, timeframe)."""
        async with self._reading(flush=False) as conn:
            return await paper_candles.first_open(conn, symbol, timeframe)

    async def ensure_history(
        self, symbol: str, timeframe: str, now_ms: int, make: paper_candles.History
    ) -> None:
        """The seeded history of (symbol, timeframe), written once (`paper_candles`); a
        cheap unlocked look first, the locked write only when it is missing."""
        async with self._reading(flush=False) as conn:
            written, source = await paper_candles.history_state(conn, symbol, timeframe)
        if written or source == "replay":
            return
        async with self._writing() as conn:
            await paper_candles.ensure_history(conn, symbol, timeframe, now_ms, make)

    async def get_path(self, symbol: str, after_seq: int, before_seq: int) -> list[Quote]:
        """The recorded prices of `symbol` with `after_seq < seq < before_seq`, oldest first;
        at most the newest `PATH_LIMIT` of them (older ones are pruned anyway)."""
        if before_seq - after_seq <= 1:
            return []
        t = paper_price_ticks.c
        query = (
            select(paper_price_ticks)
            .where(t.symbol == symbol, t.seq > after_seq, t.seq < before_seq)
            .order_by(t.seq.desc())
            .limit(PATH_LIMIT)
        )
        async with self._reading(flush=False) as conn:
            rows = list(await conn.execute(query))
        return [
            Quote(r.symbol, r.last, r.bid, r.ask, r.seq, to_ms(r.at)) for r in reversed(rows)
        ]

    async def prune_path(self, keep: int = PATH_LIMIT, now_ms: int | None = None) -> None:
        """Forget recorded prices more than `keep` changes behind each symbol's current one,
        and (given `now_ms`) candles older than `paper_candles.KEEP` periods."""
        p, t = paper_prices.c, paper_price_ticks.c
        async with self._writing() as conn:
            current = {r.symbol: int(r.seq) for r in await conn.execute(select(p.symbol, p.seq))}
            for symbol, seq in current.items():
                await conn.execute(
                    delete(paper_price_ticks).where(t.symbol == symbol, t.seq <= seq - keep)
                )
            if now_ms is not None:
                await paper_candles.prune(conn, sorted(current), now_ms)


def funding_json(kept: FundingMark | None) -> dict[str, Any] | None:
    """The kept funding time as stored: marks as decimal strings (JSON has no Decimal)."""
    if kept is None:
        return None
    return {"funding_ms": kept.funding_ms,
            "marks": {symbol: str(mark) for symbol, mark in kept.marks.items()}}  # fmt: skip


def funding_from_json(value: Any) -> FundingMark | None:
    stored = _json(value)
    if not stored:
        return None
    marks = {str(k): Decimal(str(v)) for k, v in dict(stored.get("marks") or {}).items()}
    return FundingMark(int(stored["funding_ms"]), marks)


def _json(value: Any) -> dict[str, Any]:
    """A JSON object column (text on some drivers), {} when null."""
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def quote_from_row(row: Mapping[Any, Any]) -> Quote:
    return Quote(row["symbol"], row["last"], row["bid"], row["ask"], row["seq"],
                 to_ms(row["updated_at"]))  # fmt: skip


def order_row(account_id: int, o: PaperOrder) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "order_id": o.order_id,
        "seq": o.seq,
        "client_order_id": o.client_order_id,
        "symbol": o.symbol,
        "side": o.side,
        "type": o.type,
        "time_in_force": o.time_in_force,
        "post_only": o.post_only,
        "reduce_only": o.reduce_only,
        "qty": o.qty,
        "price": o.price,
        "trigger_price": o.trigger_price,
        "trigger_direction": o.trigger_direction,
        "triggered": o.triggered,
        "filled": o.filled,
        "cost": o.cost,
        "fee": o.fee,
        "fee_currency": o.fee_currency,
        "reserved": o.reserved,
        "reserve_currency": o.reserve_currency,
        "status": o.status,
        "reason": None if o.reason is None else o.reason[:255],
        "price_seq": o.price_seq,
        "created_at": to_dt(o.created_ms),
        "updated_at": to_dt(o.updated_ms),
        "last_trade_at": _opt_dt(o.last_trade_ms),
        "fill_after": _opt_dt(o.fill_after_ms),
        "position_side": None if o.position_side == BOTH else o.position_side,
        "reserve_group": o.reserve_group,
    }


def order_from_row(r: Row[Any]) -> PaperOrder:
    return PaperOrder(
        order_id=r.order_id,
        seq=r.seq,
        client_order_id=r.client_order_id,
        symbol=r.symbol,
        side=r.side,
        type=r.type,
        time_in_force=r.time_in_force,
        post_only=bool(r.post_only),
        reduce_only=bool(r.reduce_only),
        qty=r.qty,
        price=r.price,
        trigger_price=r.trigger_price,
        trigger_direction=r.trigger_direction,
        created_ms=to_ms(r.created_at),
        updated_ms=to_ms(r.updated_at),
        fee_currency=r.fee_currency,
        triggered=bool(r.triggered),
        filled=r.filled,
        cost=r.cost,
        fee=r.fee,
        reserved=r.reserved,
        reserve_currency=r.reserve_currency,
        status=r.status,
        last_trade_ms=_opt_ms(r.last_trade_at),
        fill_after_ms=_opt_ms(r.fill_after),
        price_seq=r.price_seq,
        reason=r.reason,
        position_side=r.position_side or BOTH,
        reserve_group=r.reserve_group,
    )


def fill_row(account_id: int, f: VenueFill) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "trade_id": f.trade_id,
        "seq": int(f.trade_id.rsplit("T", 1)[1]),
        "order_id": f.order_id,
        "client_order_id": f.client_order_id,
        "symbol": f.symbol,
        "side": f.side,
        "price": f.price,
        "qty": f.qty,
        "cost": f.cost,
        "fee": f.fee,
        "fee_currency": f.fee_currency,
        "taker_or_maker": f.taker_or_maker,
        "executed_at": to_dt(f.timestamp_ms),
        "position_side": None if f.position_side == BOTH else f.position_side,
    }


def fill_from_row(r: Row[Any]) -> VenueFill:
    return VenueFill(
        trade_id=r.trade_id,
        order_id=r.order_id,
        client_order_id=r.client_order_id,
        symbol=r.symbol,
        side=r.side,
        price=r.price,
        qty=r.qty,
        cost=r.cost,
        fee=r.fee,
        fee_currency=r.fee_currency,
        taker_or_maker=r.taker_or_maker,
        timestamp_ms=to_ms(r.executed_at),
        position_side=r.position_side or BOTH,
    )


def position_row(account_id: int, p: VenuePosition) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "symbol": p.symbol,
        "qty": p.qty,
        "entry_price": p.entry_price,
        "realized_pnl": p.realized_pnl,
        "leverage": p.leverage,
        "updated_at": to_dt(p.updated_ms),
        "position_side": p.position_side,
    }


def position_from_row(r: Row[Any]) -> VenuePosition:
    return VenuePosition(
        symbol=r.symbol,
        qty=r.qty,
        entry_price=r.entry_price,
        realized_pnl=r.realized_pnl,
        leverage=r.leverage,
        updated_ms=to_ms(r.updated_at),
        position_side=r.position_side,
    )


async def price_version(conn: AsyncConnection) -> int:
    """Sum of the paper price sequences: changes whenever any shared price moves."""
    row = await direct.fetch_one(conn, PRICE_VERSION)
    return int(next(iter(row.values())) or 0) if row else 0


async def paper_account_ids(engine: AsyncEngine, account_ids: Iterable[int]) -> set[int]:
    """Which of `account_ids` are paper accounts (`accounts.exchange_id = 'paper'`)."""
    from apps.oms.store.tables import accounts

    ids = list(account_ids)
    if not ids:
        return set()
    query = select(accounts.c.id).where(accounts.c.id.in_(ids), accounts.c.exchange_id == "paper")
    async with reading(engine) as conn:
        return {int(row[0]) for row in await conn.execute(query)}
