"""One held account as the executor sees it, and the fenced record transaction.

`record()` opens the one transaction of a record step: it locks the account's lease row (still
ours, same epoch, unexpired) and, for a command, checks the command is still `running` under
that epoch; any failure raises and rolls everything back, so a stalled worker records nothing.
The `Recorder` holds every write of the step and writes it once before the commit
(`flush_all`: rows, then views rendered from the final records, then finishes, payloads and
the step's events, which it numbers itself: `number_events`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from apps.oms.clock import utcnow
from apps.oms.config import WorkerSettings
from apps.oms.domain.book import AccountBook, Instrument
from apps.oms.domain.enums import PositionMode
from apps.oms.domain.positions import Position
from apps.oms.ports import VenuePort
from apps.oms.service.views import deal_view, order_view, position_record_view
from apps.oms.store import books, leases, order_records, queue, sequencer
from apps.oms.store.boundary import Connection
from apps.oms.store.leases import Lease
from apps.oms.store.outbox import event_row
from apps.oms.store.queue import Claimed
from apps.oms.store.store import Store

# The one stand-in id scheme: a record transaction hands out ids below this for the positions
# and deals it creates (`Recorder.next_position_id`: the books core asks for them as its
# `IdAllocator`); rows get their real ids from auto-increment when the held writes are written
# (`write_rows`), and views are rendered with the real ones (`Recorder.real`).
STAND_IN_BASE = -(2**40)


def is_stand_in(position_id: int) -> bool:
    return position_id <= STAND_IN_BASE


@dataclass(frozen=True, slots=True)
class Account:
    account_id: int
    exchange_id: str
    position_mode: PositionMode
    status: str = "active"
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class AccountRuntime:
    """Everything an executor needs for one leased account (one venue instance per account)."""

    store: Store
    settings: WorkerSettings
    owner: str
    lease: Lease
    account: Account
    venue: VenuePort
    # told after each record transaction committed what `number_events` returned and a
    # monotonic instant before its numbering read (the worker tells the API tailers, kicks its
    # sequencer when the numbering was skipped, or knows that rows committed earlier are done)
    on_numbered: Callable[[int, float], None] = lambda _numbered, _read_at: None
    # the last transient venue failure of each command being retried under this runtime: its
    # final error once the attempts are used up (`venue_unavailable`, not `internal_error`)
    venue_failures: dict[int, tuple[str, str]] = field(default_factory=dict)

    @property
    def account_id(self) -> int:
        return self.account.account_id

    @asynccontextmanager
    async def record(self, command: Claimed | None = None) -> AsyncIterator[Recorder]:
        """The fenced record transaction (see module docstring)."""
        async with self.store.transaction() as conn:
            await leases.hold(conn, self.lease, owner=self.owner, now=utcnow())
            if command is not None:
                await queue.fence(conn, command.command_id, command.epoch)
            recorder = Recorder(conn, self)
            yield recorder
            # held-back writes and the step's events, before the commit
            events = await flush_all([recorder])
            read_at = numbering_read_at(len(events))
            numbered = await number_events(conn, events, recorder.now)
        recorder.committed()
        self.on_numbered(numbered, read_at)

    async def instrument(self, symbol: str) -> Instrument:
        """Contract size and market kind from the venue's markets (cached by the venue)."""
        market = (await self.venue.load_markets()).get(symbol) or {}
        size = market.get("contractSize")
        return Instrument(
            symbol,
            contract_size=Decimal(str(size)) if size else Decimal(1),
            spot=bool(market.get("spot", True)),
            inverse=bool(market.get("inverse") or False),
        )


Render = Callable[[], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Event:
    """An event of the step: its payload (`render`) is built when the held writes are written,
    from the final records (real ids), in its place among the others."""

    namespace: str
    event: str
    render: Render
    strategy_id: int | None


@dataclass(frozen=True, slots=True)
class HeldFinish:
    """A command's finish, written with the others at the end; its `result` rendered then."""

    command_id: int
    epoch: int
    status: str
    result: Callable[[], dict[str, Any] | None]
    error_code: str | None
    error_message: str | None


@dataclass(slots=True)
class Recorder:
    """The open record transaction: its connection, time, and everything it writes, held until
    the step ends and then written once, one multi-row statement per kind (`flush_all`):

    - order updates (merged per order), position inserts and updates, deals, command finishes,
      raw venue payloads and venue orders placed in a joined transaction;
    - events, in emission order, each rendered then from the final records (`hold_event`).

    What the step wrote is read back from here, not from the store: the positions it loaded
    (locked) or wrote are `carried` (`load_book` answers from them). A step about to read the
    store's rows by SQL (the risk counters, a classic path re-reading an order) writes what it
    holds first (`write_held`). New positions and deals are known by stand-in ids until then
    (`next_position_id`: the one scheme, see `STAND_IN_BASE`); `real` names them by their real
    ids afterwards. `memo` holds what a transaction reads once for all its commands (a batch
    decides at one instant: account block state, risk limits)."""

    conn: Connection
    rt: AccountRuntime
    now: datetime = field(default_factory=utcnow)
    pending: list[_Event] = field(default_factory=list)
    # writes others held back until the step ends (a joined venue), and what to tell them
    # once the transaction committed
    before_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    payloads: list[dict[str, Any]] = field(default_factory=list)
    # the trade payloads stored by this transaction, by trade id: (the structure, its hash)
    trades_stored: dict[str, tuple[Any, str]] = field(default_factory=dict)
    venue_orders: list[dict[str, Any]] = field(default_factory=list)
    memo: dict[Any, Any] = field(default_factory=dict)
    order_updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    finishes: list[HeldFinish] = field(default_factory=list)
    # every position this transaction has loaded (locked) or written, as it is now; per symbol,
    # the ids of its open positions once a netting load has read them all; the updates of
    # stored positions and the positions it opened (by stand-in id)
    carried: dict[int, Position] = field(default_factory=dict)
    open_of_symbol: dict[str, set[int]] = field(default_factory=dict)
    position_updates: dict[int, Position] = field(default_factory=dict)
    new_positions: dict[int, Position] = field(default_factory=dict)
    # deal rows to insert (each gets its "id" then: its `deal_created` view reads it)
    held_deals: list[dict[str, Any]] = field(default_factory=list)
    real_ids: dict[int, int] = field(default_factory=dict)
    last_stand_in: int = STAND_IN_BASE

    # --- ids -------------------------------------------------------------------------------

    def next_position_id(self) -> int:
        """A stand-in id (`IdAllocator`): the books core names a position it opens by it."""
        self.last_stand_in -= 1
        return self.last_stand_in

    def next_deal_id(self) -> int:
        self.last_stand_in -= 1
        return self.last_stand_in

    def real(self, position_id: int) -> int:
        """A position's real id (a stand-in once its row is inserted; any other id as is)."""
        return self.real_ids.get(position_id, position_id)

    # --- held writes -----------------------------------------------------------------------

    def store_payload(self, *, kind: str, object_id: str | None, payload: dict[str, Any]) -> None:
        """A raw venue payload of this account, written (once per content) at the end. An
        order's trades whose own payloads this transaction stored before it (the very same
        objects) are stored by reference (`order_records.TRADE_REF`): store the trades first."""
        acct = self.rt.account
        refs: dict[int, str] = {}
        if kind == "order":
            for k, trade in enumerate(payload.get("trades") or ()):
                stored = self.trades_stored.get(str(trade.get("id")))
                if stored is not None and stored[0] is trade:
                    refs[k] = stored[1]
        row = order_records.payload_row(
            account_id=acct.account_id, kind=kind, exchange_id=acct.exchange_id,
            object_id=object_id, payload=payload, now=self.now, trade_refs=refs,
        )  # fmt: skip
        self.payloads.append(row)
        if kind == "trade" and object_id is not None:
            self.trades_stored[object_id] = (payload, row["content_hash"])

    def wrote_order(self, order_id: int, values: dict[str, Any]) -> None:
        """Columns of a (locked) order row, merged with its other updates of this step."""
        self.order_updates.setdefault(order_id, {}).update(values)

    def wrote_position(self, position: Position) -> bool:
        """`position` is now the row (a stand-in id not seen before: a position the core just
        opened, to insert). Returns whether it was opened by this write."""
        pid = position.position_id
        opened = is_stand_in(pid) and pid not in self.new_positions
        if is_stand_in(pid):
            self.new_positions[pid] = position
        else:
            self.position_updates[pid] = position
        self.carried[pid] = position
        known = self.open_of_symbol.get(position.symbol)
        if known is not None:  # the symbol's open set stays exact
            (known.add if position.is_open else known.discard)(pid)
        return opened

    def wrote_deal(self, row: dict[str, Any], *, strategy_id: int) -> None:
        """A deal row (`books.deal_values`) and its `deal_created` event."""
        self.held_deals.append(row)
        self.hold_event("deal_created", lambda: deal_view(row), strategy_id=strategy_id)

    def finish(self, finish: HeldFinish, view: Render) -> None:
        """A command's finish (conditional on its epoch) and its event (`view`), both rendered
        at the end (their result names the final order row)."""
        self.finishes.append(finish)
        self.hold_event(f"command_{finish.status}", view)

    def hold_event(
        self,
        event: str,
        payload: dict[str, Any] | Render,
        *,
        namespace: str = "position",
        strategy_id: int | None = None,
    ) -> None:
        """An outbox event: a payload as it is now (copied), or a view rendered when the held
        writes are written (`payload` callable: it may name stand-in ids through `real`)."""
        if callable(payload):
            render = payload
        else:
            frozen = dict(payload)
            render = frozen.copy
        self.pending.append(_Event(namespace, event, render, strategy_id))

    # --- views of held records (called at render time) -------------------------------------

    def order_view(self, row: dict[str, Any]) -> dict[str, Any]:
        """`order_view` of an order row, its position named by its real id."""
        return order_view({**row, "position_id": self.real(int(row["position_id"]))})

    def position_view(self, position: Position) -> dict[str, Any]:
        return position_record_view(position, self.real(position.position_id))

    async def update_order(self, row: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        """Hold `values` for the (locked) order `row`; returns the row as it will be stored."""
        self.wrote_order(int(row["id"]), values)
        return {**row, **values}

    # --- reads -----------------------------------------------------------------------------

    async def order_row(self, order_id: int) -> dict[str, Any]:
        """The order row, locked, as this step holds it (its held updates applied)."""
        row = await order_records.require_order(self.conn, order_id)
        return {**row, **self.order_updates.get(order_id, {})}

    async def load_book(
        self,
        symbol: str,
        position_ids: Iterable[int],
        trade_ids: Iterable[str] = (),
        *,
        all_open: bool,
    ) -> AccountBook:
        """`books.load_book` for this account, reading each position once: what this
        transaction has loaded or written is answered from `carried`, and the open positions
        of a symbol from `open_of_symbol` once read."""
        acct = self.rt.account
        trade_ids = tuple(trade_ids)
        wanted = [p for p in map(self.real, position_ids) if p > 0 or p in self.carried]
        unread = [p for p in wanted if p not in self.carried]
        read_open = all_open and symbol not in self.open_of_symbol
        if unread or read_open:
            loaded = await books.load_book(self.conn, acct.account_id, acct.position_mode,
                                           symbol, unread, trade_ids, all_open=read_open)
            for pid, position in loaded.positions.items():
                self.carried.setdefault(pid, position)  # what this transaction wrote wins
            if read_open:  # as carried: a position this step closed is not open any more
                self.open_of_symbol[symbol] = {
                    pid for pid in loaded.positions
                    if self.carried[pid].is_open and self.carried[pid].symbol == symbol}  # fmt: skip
            booked = loaded.booked_trades
        elif trade_ids:
            booked = await books.booked_keys(self.conn, acct.account_id, trade_ids)
        else:
            booked = frozenset()
        booked = booked | self.held_trades(trade_ids)
        ids = {*wanted, *(self.open_of_symbol[symbol] if all_open else ())}
        # in id order, as the store returns them (the core takes the first matching position);
        # stand-ins after the stored rows, in the order they were opened
        found = {pid: self.carried[pid] for pid in sorted(ids, key=_store_order)
                 if pid in self.carried}  # fmt: skip
        return AccountBook(acct.account_id, acct.position_mode, found, booked)

    def held_trades(self, trade_ids: Iterable[str]) -> frozenset[tuple[str, int]]:
        """The (trade id, leg) keys of held deals among `trade_ids` (booked, not written yet)."""
        wanted = set(trade_ids)
        if not wanted or not self.held_deals:  # a fresh trade asks for none
            return frozenset()
        return frozenset((str(d["exchange_trade_id"]), int(d["leg"])) for d in self.held_deals
                         if d["exchange_trade_id"] in wanted)  # fmt: skip

    async def write_held(self) -> None:
        """Write the held positions, deals and order updates now: something is about to read
        those rows by SQL (the risk counters; a classic path re-reading an order). Events and
        finishes stay held to the end."""
        await write_rows(self.conn, [self])

    def committed(self) -> None:
        """The transaction committed: tell whoever waited for it (venue caches, wake-ups)."""
        for hook in self.after_commit:
            hook()

    def renamed(self, real: dict[int, int]) -> None:
        """New positions got their real ids: name them so in the rows still held and in
        memory (carried, open sets). Views render through `real` at the end."""
        self.real_ids.update(real)
        for row in self.held_deals:
            row["position_id"] = self.real(row["position_id"])
        for values in self.order_updates.values():
            if "position_id" in values:
                values["position_id"] = self.real(values["position_id"])
        for stand_in, pid in real.items():
            position = self.carried.pop(stand_in, None)
            if position is not None:
                self.carried[pid] = replace(position, position_id=pid)
        for known in self.open_of_symbol.values():
            for stand_in in known & real.keys():
                known.discard(stand_in)
                known.add(real[stand_in])


def numbering_read_at(written: int) -> float:
    """A monotonic instant before the numbering read of `number_events` (which reads only when
    the transaction wrote events): 0.0 when there will be none, so it covers nothing."""
    return time.monotonic() if written else 0.0


async def number_events(
    conn: Connection, events: list[dict[str, Any]], now: datetime
) -> int:
    """A record transaction with events writes them as its last statements, numbering every
    unnumbered visible outbox row and inserting its own already numbered after them
    (`sequencer.assign`; the state row stays locked until the commit, so numbers still commit
    in increasing order). Its events then reach the stream with the commit, not one sequencer
    round later. Returns `assign`'s answer (0 when there are no events; `SKIPPED` when another
    round holds the state row: the events are written unnumbered and the sequencer numbers
    them after the commit)."""
    if not events:
        return 0
    return await sequencer.assign(conn, now, own=events)


async def flush_all(recorders: list[Recorder]) -> list[dict[str, Any]]:
    """Write what the recorders of one transaction held, before its commit: each one's venue
    writes, then everyone's rows (`write_rows`), command finishes, raw payloads and venue
    orders in one multi-row statement each. Returns everyone's events (in recorder order,
    each recorder's in emission order), rendered now from the final records:
    `number_events` writes them in one statement, numbered."""
    for rec in recorders:
        for hook in rec.before_commit:
            await hook()
    conn = recorders[0].conn
    await write_rows(conn, recorders)
    # every view rendered now, from the final records (real ids), before the last writes
    finished = [(rec, f, f.result()) for rec in recorders for f in rec.finishes]
    rendered = [(rec, e, e.render()) for rec in recorders for e in rec.pending]
    await queue.finish_many(conn, [
        queue.Finish(f.command_id, f.epoch, queue.finish_values(
            rec.now, status=f.status, result=result, error_code=f.error_code,
            error_message=f.error_message))
        for rec, f, result in finished])  # fmt: skip
    await order_records.store_payloads(conn, [p for rec in recorders for p in rec.payloads])
    await order_records.add_venue_orders(conn, [v for rec in recorders for v in rec.venue_orders])
    events = [
        event_row(account_id=rec.rt.account_id, namespace=e.namespace, event=e.event,
                  payload=payload, strategy_id=e.strategy_id, created_at=rec.now)
        for rec, e, payload in rendered
    ]  # fmt: skip
    for rec in recorders:
        rec.finishes, rec.payloads, rec.venue_orders, rec.pending = [], [], [], []
    return events


async def write_rows(conn: Connection, recorders: list[Recorder]) -> None:
    """The recorders' held rows: new positions in one insert (then everything held names them
    by their real ids), position updates, deals (each row gets its id) and order updates, one
    statement each."""
    new = [(rec, pid, position) for rec in recorders for pid, position in rec.new_positions.items()]
    if new:
        ids = await books.insert_positions(conn, [position for _, _, position in new])
        for rec in recorders:
            rec.renamed({pid: real for (r, pid, _), real in zip(new, ids, strict=True) if r is rec})
            rec.new_positions = {}
    updates: dict[int, Position] = {}
    order_updates: dict[int, dict[str, Any]] = {}
    held: list[dict[str, Any]] = []
    for rec in recorders:
        updates.update({p.position_id: p for p in rec.position_updates.values()})
        order_updates.update(rec.order_updates)
        held += rec.held_deals
        rec.position_updates, rec.order_updates, rec.held_deals = {}, {}, []
    await books.update_positions(conn, updates)
    for row, deal_id in zip(held, await books.insert_deals(conn, held), strict=True):
        row["id"] = deal_id
    await order_records.update_orders(conn, order_updates)


def _store_order(position_id: int) -> tuple[bool, int]:
    """Stored rows by id, then stand-ins in the order they were handed out."""
    return (is_stand_in(position_id), abs(position_id))


def from_ms(ms: int | None) -> datetime:
    """A CCXT epoch-ms timestamp as an aware UTC datetime (exact, no float)."""
    if ms is None:
        return utcnow()
    return datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=(ms % 1000) * 1000)
