"""One held account as the executor sees it, and the fenced record transaction.

`record()` opens the one transaction of a record step: it locks the account's lease row (still
ours, same epoch, unexpired) and, for a command, checks the command is still `running` under
that epoch; any failure raises and rolls everything back, so a stalled worker records nothing.
A step that wrote events numbers them itself just before its commit (`number_events`).
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
from apps.oms.service.views import deal_view
from apps.oms.store import books, leases, order_records, queue, sequencer
from apps.oms.store.boundary import Connection
from apps.oms.store.leases import Lease
from apps.oms.store.outbox import event_row
from apps.oms.store.queue import Claimed, Finish
from apps.oms.store.store import Store

# Ids at or below this stand in for positions a joined batch opened and inserts only at its end
# (`Recorder.stand_in`), all in one statement; the books core's own placeholders for the new
# positions of one fill are small negative numbers, well above it.
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
            events = await recorder.flush()
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


@dataclass(slots=True)
class Recorder:
    """The open record transaction: its connection, time, and the outbox writer (events are
    buffered and written in one multi-row insert when the step ends, in emission order).

    Append-only rows nobody reads back in the same transaction (raw venue payloads, venue
    orders placed in a joined transaction) are buffered too and written in one multi-row
    statement each at the end. `memo` holds what a transaction reads once for all its commands
    (a batch decides at one instant: account block state, risk limits); `positions` the
    positions it wrote (so that ending an order need not read its position back)."""

    conn: Connection
    rt: AccountRuntime
    now: datetime = field(default_factory=utcnow)
    events: list[str] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    # writes others held back until the step ends (a joined venue), and what to tell them
    # once the transaction committed
    before_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    payloads: list[dict[str, Any]] = field(default_factory=list)
    # the trade payloads stored by this transaction, by trade id: (the structure, its hash)
    trades_stored: dict[str, tuple[Any, str]] = field(default_factory=dict)
    venue_orders: list[dict[str, Any]] = field(default_factory=list)
    memo: dict[Any, Any] = field(default_factory=dict)
    positions: dict[int, Position] = field(default_factory=dict)
    # joined batches: order rows are locked and carried in memory, so each order's successive
    # updates (fill, then venue status) are merged, and with the commands' finishes written
    # at the end in one statement each (`flush_all`)
    defer_orders: bool = False
    order_updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    finishes: list[Finish] = field(default_factory=list)
    # joined batches carry positions too (`load_book`): every position this transaction
    # has loaded (locked) or written, as it is now; per symbol, the ids of its open positions
    # once a netting load has read them all; and the updates of existing positions, written
    # once each at the end (`flush_all`)
    carried: dict[int, Position] = field(default_factory=dict)
    open_of_symbol: dict[str, set[int]] = field(default_factory=dict)
    position_updates: dict[int, Position] = field(default_factory=dict)
    # and insert its deals at the end, in one statement: each row with the payload of its
    # `deal_created` event, completed once the row has its id
    held_deals: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    # and the positions it opened, by stand-in id (`stand_in`), as they are now: inserted with
    # the others at the end in one statement; then each stand-in's real id, by which every
    # held row, event and finish that names it is written (`resolve_stand_ins`)
    new_positions: dict[int, Position] = field(default_factory=dict)
    real_ids: dict[int, int] = field(default_factory=dict)

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

    async def emit(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        namespace: str = "position",
        strategy_id: int | None = None,
    ) -> None:
        self.events.append(event)
        self.pending.append(
            event_row(
                account_id=self.rt.account_id,
                namespace=namespace,
                event=event,
                payload=dict(payload),  # written at the end of the step: keep it as it is now
                strategy_id=strategy_id,
                created_at=self.now,
            )
        )

    async def flush(self) -> list[dict[str, Any]]:
        """Write what was held back; returns the step's events (`number_events` writes them)."""
        return await flush_all([self])

    async def load_book(
        self,
        symbol: str,
        position_ids: Iterable[int],
        trade_ids: Iterable[str] = (),
        *,
        all_open: bool,
    ) -> AccountBook:
        """`books.load_book` for this account. A transaction that carries positions (a joined
        batch) reads each position once: what it has loaded or written is answered from
        `carried`, and the open positions of a symbol from `open_of_symbol` once read."""
        acct = self.rt.account
        if not self.defer_orders:
            return await books.load_book(self.conn, acct.account_id, acct.position_mode, symbol,
                                         position_ids, trade_ids, all_open=all_open)
        wanted = [p for p in position_ids if p > 0 or p in self.carried]  # stand-ins: carried
        unread = [p for p in wanted if p not in self.carried]
        read_open = all_open and symbol not in self.open_of_symbol
        if unread or read_open:
            loaded = await books.load_book(self.conn, acct.account_id, acct.position_mode,
                                           symbol, unread, trade_ids, all_open=read_open)
            for pid, position in loaded.positions.items():
                self.carried.setdefault(pid, position)  # what this transaction wrote wins
            if read_open:  # as carried: a position this batch closed is not open any more
                self.open_of_symbol[symbol] = {
                    pid for pid in loaded.positions
                    if self.carried[pid].is_open and self.carried[pid].symbol == symbol}  # fmt: skip
            booked = loaded.booked_trades
        else:
            booked = await books.booked_keys(self.conn, acct.account_id, trade_ids)
        ids = {*wanted, *(self.open_of_symbol[symbol] if all_open else ())}
        # in id order, as the store returns them (the core takes the first matching position);
        # stand-ins after the stored rows, in the order they were opened
        found = {pid: self.carried[pid] for pid in sorted(ids, key=_store_order)
                 if pid in self.carried}  # fmt: skip
        return AccountBook(acct.account_id, acct.position_mode, found, booked)

    async def write_held(self) -> None:
        """Write the held-back new positions, order and position updates and deals now
        (something is about to read those rows: the risk counters)."""
        await insert_new_positions(self.conn, [self], final=False)
        updates, self.order_updates = self.order_updates, {}
        await order_records.update_orders(self.conn, updates)
        held, self.position_updates = self.position_updates, {}
        await books.update_positions(self.conn, held)
        await insert_held_deals(self.conn, [self])

    async def wrote_deal(self, row: dict[str, Any], *, strategy_id: int) -> None:
        """A deal (`books.deal_values`) and its `deal_created` event: inserted at once, or, when
        this transaction carries positions, with the batch's other deals at the end (the
        event, in its place among the others, gets its payload with the id then)."""
        if not self.defer_orders:
            deal_id = await books.insert_deal_row(self.conn, row)
            await self.emit("deal_created", deal_view({**row, "id": deal_id}),
                            strategy_id=strategy_id)  # fmt: skip
            return
        await self.emit("deal_created", {}, strategy_id=strategy_id)
        self.held_deals.append((row, self.pending[-1]["payload"]))

    def stand_in(self, position: Position) -> int:
        """A position this batch opened: held to be inserted at the end (`new_positions`);
        returns the stand-in id it is known by until then."""
        pid = STAND_IN_BASE - 1 - len(self.new_positions) - len(self.real_ids)
        self.new_positions[pid] = position
        return pid

    async def wrote_position(self, position: Position, *, inserted: bool = False) -> None:
        """`position` (with its real or stand-in id) is now the row: updated in the store at
        once, or with the batch's other updates at the end when this transaction carries
        positions (a position not inserted yet: the insert takes it as it is now);
        remembered as written (`positions`), and as carried."""
        pid = position.position_id
        if pid in self.new_positions:
            self.new_positions[pid] = position
        elif not inserted:
            if self.defer_orders:
                self.position_updates[pid] = position
            else:
                await books.update_position(self.conn, position)
        self.positions[pid] = position
        if not self.defer_orders:
            return
        self.carried[pid] = position
        known = self.open_of_symbol.get(position.symbol)
        if known is not None:  # the symbol's open set stays exact
            (known.add if position.is_open else known.discard)(pid)

    def resolve_stand_ins(self, *, final: bool) -> None:
        """Name the inserted positions by their real ids in the rows about to be written (deal
        rows, order updates, position updates) and, `final`ly, in the events and command
        finishes, which are written once at the end (walked once, not at every mid-batch
        write of a batch with risk limits)."""
        if not self.real_ids:
            return
        real = self.real_ids
        for row, _payload in self.held_deals:
            row["position_id"] = real.get(row["position_id"], row["position_id"])
        for values in self.order_updates.values():
            if "position_id" in values:
                values["position_id"] = real.get(values["position_id"], values["position_id"])
        self.position_updates = {real.get(pid, pid): replace(p, position_id=real.get(pid, pid))
                                 for pid, p in self.position_updates.items()}  # fmt: skip
        if final:
            for event in self.pending:
                _resolve_in(event["payload"], real)
            for finish in self.finishes:
                _resolve_in(finish.values, real)

    async def flush_own(self) -> None:
        """The writes that must come first: the venue's held-back writes."""
        for hook in self.before_commit:
            await hook()

    def committed(self) -> None:
        """The transaction committed: tell whoever waited for it (venue caches, wake-ups)."""
        for hook in self.after_commit:
            hook()


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
    """Write what the recorders of one transaction held back, before its commit: each one's
    own writes, then everyone's raw payloads and venue orders in one multi-row statement
    each. Returns everyone's events (in recorder order, each recorder's in emission order):
    `number_events` writes them in one statement, numbered."""
    for rec in recorders:
        await rec.flush_own()
    await insert_new_positions(recorders[0].conn, recorders, final=True)
    payloads, venue_orders, events = [], [], []
    order_updates: dict[int, dict[str, Any]] = {}
    finishes: list[Finish] = []
    for rec in recorders:
        payloads += rec.payloads
        venue_orders += rec.venue_orders
        events += rec.pending
        order_updates.update(rec.order_updates)
        finishes += rec.finishes
        rec.payloads, rec.venue_orders, rec.pending = [], [], []
        rec.order_updates, rec.finishes = {}, []
    position_updates: dict[int, Position] = {}
    for rec in recorders:
        position_updates.update(rec.position_updates)
        rec.position_updates = {}
    conn = recorders[0].conn
    await books.update_positions(conn, position_updates)
    await insert_held_deals(conn, recorders)
    await order_records.update_orders(conn, order_updates)
    await queue.finish_many(conn, finishes)
    await order_records.store_payloads(conn, payloads)
    await order_records.add_venue_orders(conn, venue_orders)
    return events


async def insert_new_positions(
    conn: Connection, recorders: list[Recorder], *, final: bool
) -> None:
    """The positions the recorders opened (`Recorder.stand_in`), in one insert; then each
    recorder's held rows (`final`: and its events and finishes) name them by their real ids."""
    new = [(rec, pid, position) for rec in recorders for pid, position in rec.new_positions.items()]
    if new:
        ids = await books.insert_positions(conn, [position for _, _, position in new])
        for (rec, pid, _position), real in zip(new, ids, strict=True):
            rec.real_ids[pid] = real  # memory keeps the stand-in id to the end
        for rec in recorders:
            rec.new_positions = {}
    for rec in recorders:
        rec.resolve_stand_ins(final=final)


def _store_order(position_id: int) -> tuple[bool, int]:
    """Stored rows by id, then stand-ins in the order they were handed out."""
    return (is_stand_in(position_id), abs(position_id))


def _resolve_in(value: Any, real: dict[int, int]) -> None:
    """Replace stand-in ids by real ones inside a JSON-like value, in place.

    Walked for every event and finish of a batch that opened positions (~5 payloads of ~40
    values per command), so the common values are told apart by their exact type first:
    strings, None and plain ints end at one comparison; containers are descended (a subclass
    of dict or list included), and an int subclass other than bool is checked as an int.
    Assigning to an existing key while iterating a dict leaves its size unchanged, as the
    iteration allows."""
    pairs: Iterable[tuple[Any, Any]]
    if isinstance(value, dict):
        pairs = value.items()
    elif isinstance(value, list):
        pairs = enumerate(value)
    else:
        return
    for key, item in pairs:
        kind = type(item)
        if kind is str or item is None:
            continue
        if kind is int or (kind is not bool and isinstance(item, int)):
            if item <= STAND_IN_BASE:
                value[key] = real.get(item, item)
        elif isinstance(item, dict | list):
            _resolve_in(item, real)


async def insert_held_deals(conn: Connection, recorders: list[Recorder]) -> None:
    """The recorders' held deals in one insert; each one's event payload gets its view."""
    held = [deal for rec in recorders for deal in rec.held_deals]
    for rec in recorders:
        rec.held_deals = []
    ids = await books.insert_deals(conn, [row for row, _payload in held])
    for (row, payload), deal_id in zip(held, ids, strict=True):
        payload.update(deal_view({**row, "id": deal_id}))


def from_ms(ms: int | None) -> datetime:
    """A CCXT epoch-ms timestamp as an aware UTC datetime (exact, no float)."""
    if ms is None:
        return utcnow()
    return datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=(ms % 1000) * 1000)
