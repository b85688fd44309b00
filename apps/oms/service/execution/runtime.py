"""One held account as the executor sees it, and the fenced record transaction.

`record()` opens the one transaction of a record step: it locks the account's lease row (still
ours, same epoch, unexpired) and, for a command, checks the command is still `running` under
that epoch; any failure raises and rolls everything back, so a stalled worker records nothing.
The `Recorder` holds every write of the step (its rows in the store's `HeldRows`, its events and
command finishes itself) and writes them once before the commit (`flush_all`: rows, then views
rendered from the final records, then finishes, payloads and the step's events, which it
numbers itself: `number_events`).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from apps.oms.clock import utcnow
from apps.oms.config import WorkerSettings
from apps.oms.domain.book import Instrument
from apps.oms.domain.enums import PositionMode
from apps.oms.domain.events import (
    COMMAND_COMPLETED,
    COMMAND_FAILED,
    DEAL_CREATED,
    CommandView,
    Event,
    OrderView,
    P,
    PositionView,
)
from apps.oms.domain.good_till_date import earlier
from apps.oms.domain.positions import Deal, Position
from apps.oms.ports import Structure, VenuePort
from apps.oms.service.views import deal_view, order_view, position_record_view
from apps.oms.store import leases, queue, sequencer
from apps.oms.store.boundary import Connection
from apps.oms.store.held_rows import HeldRows, write_rest, write_rows
from apps.oms.store.leases import Lease
from apps.oms.store.order_rows import OrderRow
from apps.oms.store.outbox import NewEvent, event_row
from apps.oms.store.queue import Claimed
from apps.oms.store.records import VenueConfig
from apps.oms.store.store import Store


@dataclass(frozen=True, slots=True)
class Account:
    account_id: int
    exchange_id: str
    position_mode: PositionMode
    status: str = "active"
    config: VenueConfig = field(default_factory=dict)


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
    # why the last `warm_markets` could not load the venue's markets (None: it could, or it
    # had nothing to do): met again by an instrument read inside a transaction (`instrument`)
    markets_failure: BaseException | None = None
    # whether the last look at the account's held orders found one armed: between its full
    # rounds, the account's task reads prices for them more often (`worker/account_task.py`)
    held_armed: bool = False
    # the earliest date of the account's good-till-date orders (None: none open), once a round
    # has read it (`expiry_known`); sends of such orders move it earlier (`execution/expiry.py`)
    expiry_known: bool = False
    next_expiry: datetime | None = None

    def expires_at(self, when: datetime | None) -> None:
        """An order that ends at `when` was sent: the round that reaches it asks the store."""
        if self.expiry_known:
            self.next_expiry = earlier(self.next_expiry, when)

    @property
    def account_id(self) -> int:
        return self.account.account_id

    @asynccontextmanager
    async def record(
        self, command: Claimed | None = None, *, held: bool = False
    ) -> AsyncIterator[Recorder]:
        """The fenced record transaction (see module docstring). `held`: the caller holds the
        lease row itself, first thing, together with its first reads (one round trip)."""
        async with self.store.transaction() as conn:
            if not held:  # sent with the transaction's first statement
                await leases.hold_later(conn, [self.lease], owner=self.owner, now=utcnow())
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

    async def warm_markets(self) -> None:
        """Load a CCXT venue's markets before the step's first transaction, once: the executors
        read instruments inside their transactions (`instrument`), and a first load there
        would hold the transaction for a request (on the embedded store, whose one write lock
        the request budget's reservation then waits for). A failure is left to the venue call
        that follows, which meets it on its own error path (retried, then `venue_unavailable`):
        the first instrument read inside a transaction raises it again (`instrument`)."""
        self.markets_failure = None
        loaded = getattr(self.venue, "loaded_markets", None)  # a `KnownMarkets` venue's
        if loaded is None or loaded() is not None:
            return
        try:
            await asyncio.wait_for(self.venue.load_markets(), self.settings.venue_timeout_seconds)
        except Exception as exc:
            self.markets_failure = exc

    async def instrument(self, symbol: str) -> Instrument:
        """Contract size and market kind from the venue's markets (cached by the venue; read
        inside transactions, so the markets loaded already are used as they are, and only a
        venue that never loaded them is asked: `ports.KnownMarkets`). When this step's warm-up
        could not load them, its failure is raised instead of asking again: the request would
        hold the caller's transaction (on the embedded store, its one write lock, which the
        request budget's reservation then waits for: 30 s per attempt with an unreachable
        exchange), and the error takes the venue call's path (retried, then
        `venue_unavailable`)."""
        loaded = getattr(self.venue, "loaded_markets", None)  # a `KnownMarkets` venue's
        known: dict[str, Structure] | None = loaded() if loaded is not None else None
        if known is None and loaded is not None and self.markets_failure is not None:
            raise self.markets_failure.with_traceback(None)
        markets = known if known is not None else await self.venue.load_markets()
        market = markets.get(symbol) or {}
        size = market.get("contractSize")
        return Instrument(
            symbol,
            contract_size=Decimal(str(size)) if size else Decimal(1),
            spot=bool(market.get("spot", True)),
            inverse=bool(market.get("inverse") or False),
        )


#: the result of a finished command: free-form per command kind
CommandResult = Mapping[str, object]
COMMAND_EVENTS = {"completed": COMMAND_COMPLETED, "failed": COMMAND_FAILED}


@dataclass(frozen=True, slots=True)
class _Event:
    """An event of the step: its payload (`render`) is built when the held writes are written,
    from the final records (real ids), in its place among the others."""

    event: Event[Mapping[str, object]]
    render: Callable[[], Mapping[str, object]]
    strategy_id: int | None


@dataclass(frozen=True, slots=True)
class HeldFinish:
    """A command's finish, written with the others at the end; its `result` rendered then."""

    command_id: int
    epoch: int
    status: str
    result: Callable[[], CommandResult | None]
    error_code: str | None
    error_message: str | None


@dataclass(slots=True)
class Recorder:
    """The open record transaction: its connection, time, the rows it holds (`rows`: the
    store's `HeldRows`, written once at the end) and its events and command finishes, held
    until the step ends (`flush_all`): events in emission order, each rendered then from the
    final records (`hold_event`).

    A step about to read the store's rows by SQL (the risk counters, a classic path
    re-reading an order) writes what it holds first (`write_held`). `memo` holds what a
    transaction reads once for all its commands (a batch decides at one instant: account block
    state, risk limits)."""

    conn: Connection
    rt: AccountRuntime
    now: datetime = field(default_factory=utcnow)
    memo: dict[Any, Any] = field(default_factory=dict)
    rows: HeldRows = field(init=False)
    pending: list[_Event] = field(default_factory=list)
    # writes others held back until the step ends (a joined venue), and what to tell them
    # once the transaction committed
    before_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    finishes: list[HeldFinish] = field(default_factory=list)

    def __post_init__(self) -> None:
        acct = self.rt.account
        self.rows = HeldRows(self.conn, acct.account_id, acct.exchange_id, acct.position_mode,
                             self.now)  # fmt: skip

    # --- held events -----------------------------------------------------------------------

    def wrote_deal(self, deal: Deal) -> None:
        """A deal the core decided, held, and its `deal_created` event (rendered from its row
        as written: `HeldRows.deal_rows`)."""
        self.rows.wrote_deal(deal)
        written = self.rows.deal_rows
        self.hold_event(DEAL_CREATED, lambda: deal_view(written[deal.deal_id]),
                        strategy_id=deal.strategy_id)  # fmt: skip

    def finish(self, finish: HeldFinish, view: Callable[[], CommandView]) -> None:
        """A command's finish (conditional on its epoch) and its event (`view`), both rendered
        at the end (their result names the final order row)."""
        self.finishes.append(finish)
        self.hold_event(COMMAND_EVENTS[finish.status], view)

    def hold_event(
        self, event: Event[P], payload: P | Callable[[], P], *, strategy_id: int | None = None
    ) -> None:
        """An outbox event: a payload as it is now (copied), or a view rendered when the held
        writes are written (`payload` callable: it may name stand-in ids through `real`)."""
        if callable(payload):
            render: Callable[[], P] = payload
        else:
            frozen = copy.copy(payload)

            def render() -> P:
                return copy.copy(frozen)

        self.pending.append(_Event(event, render, strategy_id))

    # --- views of held records (called at render time) -------------------------------------
    # rendered from what the write handed back (`HeldRows.real_ids`: the real id of each
    # position inserted), not by asking the store again for every view

    def order_view(self, row: OrderRow) -> OrderView:
        """`order_view` of an order row, its position named by its real id."""
        position_id = row["position_id"]
        return order_view({**row, "position_id": self.rows.real_ids.get(position_id, position_id)})

    def position_view(self, position: Position) -> PositionView:
        pid = position.position_id
        return position_record_view(position, self.rows.real_ids.get(pid, pid))

    async def write_held(self) -> None:
        """Write the held positions, deals and order updates now: something is about to read
        those rows by SQL (the risk counters; a classic path re-reading an order). Events and
        finishes stay held to the end."""
        await write_rows(self.conn, [self.rows])

    def committed(self) -> None:
        """The transaction committed: tell whoever waited for it (venue caches, wake-ups)."""
        for hook in self.after_commit:
            hook()


def numbering_read_at(written: int) -> float:
    """A monotonic instant before the numbering read of `number_events` (which reads only when
    the transaction wrote events): 0.0 when there will be none, so it covers nothing."""
    return time.monotonic() if written else 0.0


async def number_events(conn: Connection, events: list[NewEvent], now: datetime) -> int:
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


async def flush_all(recorders: list[Recorder]) -> list[NewEvent]:
    """Write what the recorders of one transaction held, before its commit: each one's venue
    writes, then everyone's rows (`held_rows.write_rows`), then command finishes, raw payloads
    and venue orders in one multi-row statement each. Returns everyone's events (in recorder
    order, each recorder's in emission order), rendered from the final records once the rows
    are written: `number_events` writes them in one statement, numbered."""
    for rec in recorders:
        for hook in rec.before_commit:
            await hook()
    conn = recorders[0].conn
    await write_rows(conn, [rec.rows for rec in recorders])
    # every view rendered now, from the final records (real ids), before the last writes
    finished = [(rec, f, f.result()) for rec in recorders for f in rec.finishes]
    rendered = [(rec, e, e.render()) for rec in recorders for e in rec.pending]
    await queue.finish_many(conn, [
        queue.Finish(f.command_id, f.epoch, queue.finish_values(
            rec.now, status=f.status, result=result, error_code=f.error_code,
            error_message=f.error_message))
        for rec, f, result in finished])  # fmt: skip
    await write_rest(conn, [rec.rows for rec in recorders])
    events = [
        event_row(e.event, payload, account_id=rec.rt.account_id, strategy_id=e.strategy_id,
                  created_at=rec.now)
        for rec, e, payload in rendered
    ]  # fmt: skip
    for rec in recorders:
        rec.finishes, rec.pending = [], []
    return events


def from_ms(ms: int | None) -> datetime:
    """A CCXT epoch-ms timestamp as an aware UTC datetime (exact, no float)."""
    if ms is None:
        return utcnow()
    return datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=(ms % 1000) * 1000)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ms(when: datetime) -> int:
    """An aware datetime as CCXT's epoch milliseconds (exact, no float)."""
    return (when - _EPOCH) // timedelta(milliseconds=1)
