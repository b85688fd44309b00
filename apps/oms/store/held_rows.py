"""The rows a record transaction holds until its end, and what it carries meanwhile: the store's
unit of work for the worker's record steps.

A step loads through it (`load_book`, `order_row`: answered from what the transaction already
holds or carries, else read and locked once), the core decides, and the step holds the result
here as typed records (positions and deals as the domain decided them, order column updates,
raw venue payloads, venue orders). Nothing is written until `write_rows` / `write_rest`: then
one multi-row statement per kind, the rows built from the records at that point.

Ids: the core names the positions and deals it creates by stand-in ids this object hands out
(`next_position_id`, `next_deal_id`: the one scheme, below `STAND_IN_BASE`); their rows get
real ids from auto-increment when written, and `real` / `deal_rows` name them so afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from apps.oms.domain.book import AccountBook
from apps.oms.domain.enums import PositionMode
from apps.oms.domain.fills import consults_open_positions
from apps.oms.domain.positions import Deal, Position
from apps.oms.store import books, order_records
from apps.oms.store.boundary import Connection
from apps.oms.store.order_rows import OrderChanges, OrderRow, changed
from apps.oms.store.positions import deal_values

# The one stand-in id scheme: ids below this name the positions and deals a record transaction
# creates until their rows are written (`HeldRows.next_position_id`).
STAND_IN_BASE = -(2**40)


def is_stand_in(record_id: int) -> bool:
    return record_id <= STAND_IN_BASE


@dataclass(frozen=True, slots=True)
class HeldPayload:
    """A raw venue payload to store (`order_records.payload_row` builds its row when written)."""

    kind: str
    object_id: str | None
    payload: dict[str, Any]


@dataclass(slots=True)
class HeldRows:
    """One account's held writes and carried records within an open record transaction."""

    conn: Connection
    account_id: int
    exchange_id: str
    position_mode: PositionMode
    now: datetime
    payloads: list[HeldPayload] = field(default_factory=list)
    venue_orders: list[dict[str, Any]] = field(default_factory=list)
    venue_links: list[dict[str, Any]] = field(default_factory=list)
    order_updates: dict[int, OrderChanges] = field(default_factory=dict)
    # every position this transaction has loaded (locked) or written, as it is now; per symbol,
    # the ids of its open positions once a netting load has read them all; the updates of
    # stored positions and the positions it opened (by stand-in id)
    carried: dict[int, Position] = field(default_factory=dict)
    open_of_symbol: dict[str, set[int]] = field(default_factory=dict)
    position_updates: dict[int, Position] = field(default_factory=dict)
    new_positions: dict[int, Position] = field(default_factory=dict)
    # deals to insert, by stand-in id; the rows of those written, by stand-in id (real ids)
    held_deals: dict[int, Deal] = field(default_factory=dict)
    deal_rows: dict[int, dict[str, Any]] = field(default_factory=dict)
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

    def hold_payload(self, kind: str, object_id: str | None, payload: dict[str, Any]) -> None:
        """A raw venue payload of this account, written (once per content) at the end. An
        order's trades whose own payloads were held before it (the very same objects) are
        stored by reference (`order_records.TRADE_REF`): hold the trades first."""
        self.payloads.append(HeldPayload(kind, object_id, payload))

    def hold_venue_order(
        self, order_id: int, client_order_id: str | None, exchange_order_id: str | None
    ) -> None:
        """A venue order about to be sent (written ahead: no exchange id yet), or placed in
        this very transaction (with its exchange id)."""
        self.venue_orders.append({
            "order_id": order_id, "account_id": self.account_id,
            "client_order_id": client_order_id, "exchange_order_id": exchange_order_id,
            "created_at": self.now,
        })  # fmt: skip

    def hold_venue_link(
        self, order_id: int, client_order_id: str, exchange_order_id: str
    ) -> None:
        """The exchange id of a venue order written ahead under `client_order_id`, which the
        venue's answer echoed: linked with the step's other writes."""
        self.venue_links.append({"b_order": order_id, "b_client": client_order_id,
                                 "exchange_order_id": exchange_order_id})  # fmt: skip

    def wrote_order(self, order_id: int, values: OrderChanges) -> None:
        """Columns of a (locked) order row, merged with its other updates of this step."""
        self.order_updates.setdefault(order_id, {}).update(values)

    def update_order(self, row: OrderRow, values: OrderChanges) -> OrderRow:
        """Hold `values` for the (locked) order `row`; returns the row as it will be stored."""
        self.wrote_order(row["id"], values)
        return changed(row, values)

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

    def wrote_deal(self, deal: Deal) -> None:
        """A deal the core decided (named by its stand-in id until written)."""
        self.held_deals[deal.deal_id] = deal

    # --- reads -----------------------------------------------------------------------------

    async def order_row(self, order_id: int) -> OrderRow:
        """The order row, locked, as this step holds it (its held updates applied)."""
        row = await order_records.require_order(self.conn, order_id)
        held = self.order_updates.get(order_id)
        return row if held is None else changed(row, held)

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
        trade_ids = tuple(trade_ids)
        held = self.held_trades(trade_ids)
        wanted = [p for p in map(self.real, position_ids) if p > 0 or p in self.carried]
        unread = [p for p in wanted if p not in self.carried]
        read_open = all_open and symbol not in self.open_of_symbol
        if unread or read_open:
            loaded = await books.load_book(
                self.conn,
                self.account_id,
                self.position_mode,
                symbol,
                unread,
                trade_ids,
                all_open=read_open,
            )
            for pid, position in loaded.positions.items():
                self.carried.setdefault(pid, position)  # what this transaction wrote wins
            if read_open:  # as carried: a position this step closed is not open any more
                self.open_of_symbol[symbol] = {
                    pid for pid in loaded.positions
                    if self.carried[pid].is_open and self.carried[pid].symbol == symbol}  # fmt: skip
            booked = loaded.booked_trades
        elif trade_ids:
            booked = await books.booked_keys(self.conn, self.account_id, trade_ids)
        else:
            booked = frozenset()
        ids = {*wanted, *(self.open_of_symbol[symbol] if all_open else ())}
        # in id order, as the store returns them (the core takes the first matching position);
        # stand-ins after the stored rows, in the order they were opened
        found = {pid: self.carried[pid] for pid in sorted(ids, key=_store_order)
                 if pid in self.carried}  # fmt: skip
        return AccountBook(self.account_id, self.position_mode, found, booked | held)

    async def load_fill_book(
        self, symbol: str, position_id: int, trade_ids: Iterable[str] = (), *, external: bool
    ) -> AccountBook:
        """The book a fill of an order on `position_id` is decided against: that position and,
        when the mode's rules consult them (`fills.consults_open_positions`: netting keys, an
        external order), every open position of `symbol`."""
        all_open = consults_open_positions(self.position_mode, external)
        return await self.load_book(symbol, [position_id], trade_ids, all_open=all_open)

    def held_trades(self, trade_ids: Iterable[str]) -> frozenset[tuple[str, int]]:
        """The (trade id, leg) keys of held deals among `trade_ids` (booked, not written yet)."""
        wanted = set(trade_ids)
        if not wanted or not self.held_deals:  # a fresh trade asks for none
            return frozenset()
        return frozenset((str(d.exchange_trade_id), d.leg) for d in self.held_deals.values()
                         if d.exchange_trade_id in wanted)  # fmt: skip

    # --- writing ---------------------------------------------------------------------------

    def renamed(self, real: dict[int, int]) -> None:
        """New positions got their real ids: name them so in the order updates still held and
        in memory (carried, open sets); held deals' rows name them when built (`write_rows`)."""
        self.real_ids.update(real)
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

    def payload_rows(self) -> list[dict[str, Any]]:
        """The held payloads' rows, in holding order; an order payload names the trades held
        before it (the very same objects) by reference."""
        rows: list[dict[str, Any]] = []
        trades: dict[str, tuple[Any, str]] = {}  # trade id -> (the structure, its row's hash)
        for held in self.payloads:
            refs: dict[int, str] = {}
            if held.kind == "order":
                for k, trade in enumerate(held.payload.get("trades") or ()):
                    stored = trades.get(str(trade.get("id")))
                    if stored is not None and stored[0] is trade:
                        refs[k] = stored[1]
            row = order_records.payload_row(
                account_id=self.account_id, kind=held.kind, exchange_id=self.exchange_id,
                object_id=held.object_id, payload=held.payload, now=self.now, trade_refs=refs,
            )  # fmt: skip
            rows.append(row)
            if held.kind == "trade" and held.object_id is not None:
                trades[held.object_id] = (held.payload, row["content_hash"])
        return rows


async def write_rows(conn: Connection, held: list[HeldRows]) -> None:
    """The held rows: new positions in one insert (then everything held names them by their
    real ids), position updates, deals (each gets its real id) and order updates, one
    statement each."""
    new = [(rows, pid, position) for rows in held for pid, position in rows.new_positions.items()]
    if new:
        ids = await books.insert_positions(conn, [position for _, _, position in new])
        for rows in held:
            rows.renamed({pid: real for (r, pid, _), real in zip(new, ids, strict=True)
                          if r is rows})  # fmt: skip
            rows.new_positions = {}
    updates: dict[int, Position] = {}
    order_updates: dict[int, OrderChanges] = {}
    deals: list[tuple[HeldRows, Deal]] = []
    for rows in held:
        updates.update({p.position_id: p for p in rows.position_updates.values()})
        order_updates.update(rows.order_updates)
        deals += [(rows, deal) for deal in rows.held_deals.values()]
        rows.position_updates, rows.order_updates, rows.held_deals = {}, {}, {}
    await books.update_positions(conn, updates)
    deal_rows = [deal_values(deal) for _, deal in deals]
    for (rows, _), row in zip(deals, deal_rows, strict=True):
        row["position_id"] = rows.real(row["position_id"])
    deal_ids = await books.insert_deals(conn, deal_rows)
    for (rows, deal), row, deal_id in zip(deals, deal_rows, deal_ids, strict=True):
        row["id"] = deal_id
        rows.deal_rows[deal.deal_id] = row
    await order_records.update_orders(conn, order_updates)


async def write_rest(conn: Connection, held: list[HeldRows]) -> None:
    """The held raw payloads, venue orders and their links, one statement each (after the rows: nothing
    reads them back in the transaction)."""
    await order_records.store_payloads(conn, [r for rows in held for r in rows.payload_rows()])
    await order_records.add_venue_orders(conn, [v for rows in held for v in rows.venue_orders])
    await order_records.link_venue_orders(conn, [v for rows in held for v in rows.venue_links])
    for rows in held:
        rows.payloads, rows.venue_orders, rows.venue_links = [], [], []


def _store_order(position_id: int) -> tuple[bool, int]:
    """Stored rows by id, then stand-ins in the order they were handed out."""
    return (is_stand_in(position_id), abs(position_id))
