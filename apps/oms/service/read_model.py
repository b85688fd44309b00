"""In-memory read model of open orders and open positions (docs/architecture.md → Read model).

Each API process keeps every open order and open position of every account, each with its wire
JSON rendered once per change, and serves `GET /oms/orders/open` and `/oms/positions/open` from
it. It is loaded once in one consistent snapshot and then kept current by the outbox stream the
process tails for the websocket: for every tailed batch it collects the order and position ids
the events name and re-reads exactly those rows in one query per table, so it never depends on
what an event's payload carries beyond ids. Re-reading is idempotent: a row read later than its
event already holds later changes, and their own events re-read it again.

Read-your-writes: `note_accepted` marks accounts that had a command accepted in this process;
a read of a marked account first checks, in one snapshot, that every committed event of those
accounts has a `seq` and that the model has applied up to the last `seq`; if not, it waits a
moment for the tailer and otherwise reads the store.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from apps.oms.service.views import order_view, position_view
from apps.oms.store import direct, reads, stream
from apps.oms.store.reads import Scope
from apps.oms.store.records import ColumnValues
from apps.oms.store.store import Store

log = logging.getLogger("apps.oms.read_model")
FRESH_WAIT_SECONDS = 0.1
HOLD_SECONDS = 1.0
KINDS = ("orders", "positions")
VIEWS: dict[str, Callable[[Mapping[str, Any]], Mapping[str, object]]] = {
    "orders": order_view,
    "positions": position_view,
}
# outbox payload keys naming an order or a position (any depth: batch events carry `items`)
ORDER_KEYS = frozenset({"order_id", "orphan_order_id", "edit_replace_orphan_order_id",
                        "edit_replace_origin_order_id", "origin_order_id", "new_order_id"})  # fmt: skip
POSITION_KEYS = frozenset({"position_id", "previous_position_id", "position_id_a",
                           "position_id_b", "target_position_id", "source_position_id"})  # fmt: skip


def render(view: Mapping[str, object]) -> bytes:
    """One row's wire JSON, byte for byte what `WireJSONResponse` writes for it."""
    return json.dumps(view, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class OpenRow:
    id: int
    account_id: int
    strategy_id: int
    symbol: str
    blob: bytes


def open_row(kind: str, row: Mapping[str, Any]) -> OpenRow:
    return OpenRow(
        int(row["id"]),
        int(row["account_id"]),
        int(row["strategy_id"]),
        str(row["symbol"]),
        render(VIEWS[kind](row)),
    )


#: rendered bodies kept per book between two changes (distinct scopes and filters)
MAX_BODIES = 64


@dataclass
class Book:
    """Open rows of one kind: by account, by id; each account's newest-first list is rebuilt
    lazily after a change, and each response body is rendered once per change (`body`)."""

    by_account: dict[int, dict[int, OpenRow]] = field(default_factory=dict)
    account_of: dict[int, int] = field(default_factory=dict)
    _sorted: dict[int, list[OpenRow]] = field(default_factory=dict)
    _bodies: dict[tuple[Any, ...], bytes] = field(default_factory=dict)

    def _changed(self, account_id: int) -> None:
        self._sorted.pop(account_id, None)
        self._bodies.clear()

    def put(self, row: OpenRow) -> None:
        old_account = self.account_of.get(row.id)
        if old_account is not None and old_account != row.account_id:
            self.drop(row.id)
        self.by_account.setdefault(row.account_id, {})[row.id] = row
        self.account_of[row.id] = row.account_id
        self._changed(row.account_id)

    def drop(self, row_id: int) -> None:
        account_id = self.account_of.pop(row_id, None)
        if account_id is None:
            return
        rows = self.by_account.get(account_id, {})
        rows.pop(row_id, None)
        if not rows:
            self.by_account.pop(account_id, None)
        self._changed(account_id)

    def replace_accounts(self, account_ids: Iterable[int], rows: Iterable[OpenRow]) -> None:
        """These accounts' open rows are exactly `rows` now."""
        for account_id in account_ids:
            for row_id in list(self.by_account.get(account_id, {})):
                self.drop(row_id)
        for row in rows:
            self.put(row)

    def newest_first(self, account_id: int) -> list[OpenRow]:
        rows = self._sorted.get(account_id)
        if rows is None:
            rows = sorted(self.by_account.get(account_id, {}).values(), key=_minus_id)
            self._sorted[account_id] = rows
        return rows

    def body(self, scope: Scope, strategy_id: int | None, symbol: str | None, limit: int) -> bytes:
        """The rendered `{"items": [...]}` body of `select`, kept until the book changes (a read
        repeated between two changes costs a dictionary lookup)."""
        key = (tuple(scope.strategies_by_account.items()), strategy_id, symbol, limit)
        rendered = self._bodies.get(key)
        if rendered is None:
            if len(self._bodies) >= MAX_BODIES:
                self._bodies.clear()
            rendered = self._bodies[key] = body(self.select(scope, strategy_id, symbol, limit))
        return rendered

    def select(
        self, scope: Scope, strategy_id: int | None, symbol: str | None, limit: int
    ) -> list[bytes]:
        """What `reads.open_query` returns for the same scope and filters, as rendered rows."""
        streams: list[Iterator[OpenRow]] = []
        for account_id, allowed in scope.strategies_by_account.items():
            rows = self.newest_first(account_id)
            # a list per account (not a lazy generator: it would read `allowed` of a later loop
            # turn and let a restricted account's rows through unfiltered)
            streams.append(iter(rows if allowed is None else _in(rows, allowed)))
        merged: Iterable[OpenRow] = heapq.merge(*streams, key=_minus_id)
        if strategy_id is not None:
            merged = (r for r in merged if r.strategy_id == strategy_id)
        if symbol is not None:
            merged = (r for r in merged if r.symbol == symbol)
        return [r.blob for r in itertools.islice(merged, limit)]


def _in(rows: list[OpenRow], strategies: frozenset[int]) -> list[OpenRow]:
    return [r for r in rows if r.strategy_id in strategies]


def _minus_id(row: OpenRow) -> int:
    return -row.id


def body(blobs: list[bytes]) -> bytes:
    return b'{"items":[' + b",".join(blobs) + b"]}"


# a key naming an order or a position with a JSON integer value, anywhere in a payload's text
_KEY_NAMES = "|".join(sorted(ORDER_KEYS | POSITION_KEYS | {"id"}))
REF = re.compile(rf'"({_KEY_NAMES})"\s*:\s*([0-9]+)')


def _collect(text: str, kind_of_id: str | None, found: dict[str, set[int]]) -> None:
    """Every order and position id the payload text names (`kind_of_id`: the kind its `id`
    keys name, or None). A scan of the text, not of the decoded value: it finds each
    `"key": <integer>` member at any depth, so it may name more rows than the event changed
    (a nested `id`, a key inside a string), never fewer; a row named needlessly is only re-read
    (idempotent: the model keeps what the store holds)."""
    for key, digits in REF.findall(text):
        row_id = int(digits)
        if row_id <= 0:
            continue
        if key == "id":
            if kind_of_id is not None:
                found[kind_of_id].add(row_id)
        else:
            found["orders" if key in ORDER_KEYS else "positions"].add(row_id)


# events whose payload is the full view of the object they are named after (plus ids of the
# rows they touched); any other event of an account (batch cancels, close_by, merges that move
# orders, risk events...) re-reads that account's open rows
ROW_EVENT_PREFIXES = ("order_", "position_", "deal_", "command_")


@dataclass(slots=True)
class Touched:
    ids: dict[str, set[int]] = field(default_factory=lambda: {kind: set() for kind in KINDS})
    accounts: set[int] = field(default_factory=set)


def touched(events: Iterable[stream.StreamEvent]) -> Touched:
    """Rows and accounts a batch of outbox events changed (read from the payloads' JSON text,
    without decoding it)."""
    out = Touched()
    for event in events:
        text = event.payload_text
        if not event.event.startswith(ROW_EVENT_PREFIXES) or not text.lstrip().startswith("{"):
            if event.account_id is not None:
                out.accounts.add(event.account_id)
            continue
        kind = ("orders" if event.event.startswith("order_")
                else "positions" if event.event.startswith("position_") else None)  # fmt: skip
        _collect(text, kind, out.ids)
    return out


class ReadModel:
    """The process's open books and how far in the outbox stream they are current."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.books: dict[str, Book] = {kind: Book() for kind in KINDS}
        self.seq = 0  # every event with seq <= this is applied
        self.ready = False
        self.reloads = 0  # rows re-read (observability and tests)
        self._pending = Touched()
        self._pending_seq = 0
        self._dirty: dict[int, float] = {}  # account -> loop time of its last write here
        self._all_dirty_at: float | None = None  # a write that may touch any account
        self._advanced = asyncio.Event()
        self.wake: Callable[[], None] = lambda: None  # set by the tailer: poll now

    async def load(self) -> None:
        """Every open row and the stream position, in one snapshot (a later event re-reads a
        row that this snapshot may already show: idempotent)."""
        async with stream.consistent_read(self.store) as conn:
            seq = await stream.last_seq(conn)
            loaded = {kind: await reads.every_open_row(conn, kind) for kind in KINDS}
        books = {kind: Book() for kind in KINDS}
        for kind, rows in loaded.items():
            for row in rows:
                books[kind].put(open_row(kind, row))
        self.books = books
        self.seq = self._pending_seq = seq
        self._pending = Touched()
        self.ready = True
        self._signal()

    def take(self, events: list[stream.StreamEvent]) -> None:
        """Note what a tailed batch changed (applied by the next `apply`)."""
        if events and events[0].seq > self._pending_seq + 1:
            self.ready = False  # a gap (events purged before we read them): reload everything
        batch = touched(events)
        for kind, ids in batch.ids.items():
            self._pending.ids[kind] |= ids
        self._pending.accounts |= batch.accounts
        if events:
            self._pending_seq = max(self._pending_seq, events[-1].seq)

    async def apply(self) -> None:
        """Re-read the noted rows (one query per kind); on failure they stay noted."""
        if not self.ready:
            await self.load()
            return
        target = self._pending_seq
        accounts = sorted(self._pending.accounts)
        wanted = {kind: sorted(ids) for kind, ids in self._pending.ids.items() if ids}
        if accounts or wanted:
            by_id, whole = await self._reread(wanted, accounts)
            for kind, ids in wanted.items():
                book = self.books[kind]
                for row_id in ids:
                    row = by_id[kind].get(row_id)
                    if row is not None and row["is_open"]:
                        book.put(open_row(kind, row))
                    else:
                        book.drop(row_id)
                self._pending.ids[kind] -= set(ids)
                self.reloads += len(ids)
            for kind, rows in whole.items():
                self.books[kind].replace_accounts(accounts, [open_row(kind, r) for r in rows])
                self.reloads += len(rows)
            self._pending.accounts -= set(accounts)
        if target > self.seq:
            self.seq = target
            self._signal()

    async def _reread(
        self, wanted: dict[str, list[int]], accounts: list[int]
    ) -> tuple[dict[str, dict[int, ColumnValues]], dict[str, list[ColumnValues]]]:
        """The noted rows that are open by id, and every open row of the noted accounts (one
        query each)."""
        by_id: dict[str, dict[int, ColumnValues]] = {}
        whole: dict[str, list[ColumnValues]] = {}
        async with self.store.read() as conn:
            # a closed row is dropped: only open ones are read (every kind in one round trip)
            kinds = list(wanted)
            found = await direct.fetch_each(
                conn, [reads.open_rows_by_ids_read(kind, wanted[kind]) for kind in kinds])
            for kind, rows in zip(kinds, found, strict=True):
                by_id[kind] = {int(r["id"]): r for r in rows}
            if accounts:
                for kind in KINDS:
                    whole[kind] = await reads.every_open_row(conn, kind, accounts)
        return by_id, whole

    def _signal(self) -> None:
        self._advanced.set()
        self._advanced = asyncio.Event()

    def note_accepted(self, account_ids: Iterable[int] | None) -> None:
        """Commands of these accounts were accepted here (None: a write that may change any
        account, e.g. a paper price that fills resting orders): their reads check freshness
        for `HOLD_SECONDS` and until one check has passed after that, so that what the worker
        does in reaction (fills, positions) is covered too, not only the accept itself."""
        now = asyncio.get_running_loop().time()
        if account_ids is None:
            self._all_dirty_at = now
            return
        for account_id in account_ids:
            self._dirty[account_id] = now

    def _written_at(self, account_id: int) -> float | None:
        own = self._dirty.get(account_id)
        if self._all_dirty_at is None:
            return own
        return self._all_dirty_at if own is None else max(own, self._all_dirty_at)

    def clean_for(self, account_ids: Iterable[int]) -> bool:
        """Loaded, and none of these accounts written here recently: `current_for` is true
        without a store trip or a wait."""
        return self.ready and all(self._written_at(a) is None for a in account_ids)

    async def current_for(self, account_ids: Iterable[int]) -> bool:
        """Whether the model may answer a read of these accounts now (read-your-writes): true
        unless one of them was written here recently and, in one snapshot of the store, some
        of their committed events still wait for a `seq` (the caller then reads the store at
        once) or the model has not applied up to the last `seq` within `FRESH_WAIT_SECONDS`."""
        if not self.ready:
            return False
        wanted = list(account_ids)
        marked = {a: w for a in wanted if (w := self._written_at(a)) is not None}
        if not marked:
            return True
        loop = asyncio.get_running_loop()
        checked_at = loop.time()
        async with stream.consistent_read(self.store) as conn:
            pending = await stream.has_unsequenced(conn, sorted(marked))
            last = await stream.last_seq(conn)
        if pending:
            return False
        if not await self._reach(last, checked_at + FRESH_WAIT_SECONDS):
            return False
        for account_id, written_at in marked.items():  # passed, and the hold is over: unmark
            if written_at < checked_at - HOLD_SECONDS and self._dirty.get(account_id) == written_at:
                del self._dirty[account_id]
        if self._all_dirty_at is not None and self._all_dirty_at < checked_at - HOLD_SECONDS:
            self._all_dirty_at = None
        return True

    async def _reach(self, seq: int, deadline: float) -> bool:
        loop = asyncio.get_running_loop()
        while self.seq < seq:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self.wake()
            advanced = self._advanced
            try:
                await asyncio.wait_for(advanced.wait(), remaining)
            except TimeoutError:
                return self.seq >= seq
        return True

    def open_rows(
        self, kind: str, scope: Scope, strategy_id: int | None, symbol: str | None, limit: int
    ) -> bytes:
        """The rendered `{"items": [...]}` body of an open-rows read."""
        return self.books[kind].body(scope, strategy_id, symbol, limit)
