"""The invariants every reliability test ends with, checked over the whole store:

- every accepted command is terminal, with exactly one `command_completed`/`command_failed`
  event (none for a send cancelled before it ran);
- no duplicate venue orders: each venue order belongs to exactly one OMS order of its account
  (by its client order id, or by the venue-order rows of an order changed by cancel/replace,
  whose replacements have client ids of their own); the OMS order's exchange id is one of its
  venue orders, and its filled qty is the sum of theirs; no
  OMS order left `outcome_unknown`; an order given up as `outcome_unknown_not_found` has a
  venue-order row never placed (its send, REJECTED with no venue order, or a cancel/replace's
  replacement, the order CANCELED);
- no execution booked twice or missed: every venue fill is booked once (its legs sum to the fill);
- stored positions equal `rebuild_all` of their deals;
- outbox `seq` dense 1..N and every committed row numbered (after the sequencer caught up).

The venue is read through a `VenueSide`: by default the paper venue's own tables in the same
database (`paper_side`); a venue served at the wire has a store of its own and names its orders
and fills its dialect's way, so its test passes a side that reads that store
(`wire_venue.WireVenueProcess.side`).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from apps.oms.domain.positions import rebuild_all
from apps.oms.store import books
from apps.oms.store.positions import position_from_row
from apps.oms.store.store import Store
from apps.oms.store.tables import (
    account_leases,
    commands,
    deals,
    order_venue_orders,
    orders,
    outbox,
    positions,
    workers,
)
from apps.paper.store.tables import paper_fills, paper_orders

TERMINAL = {"completed", "failed", "canceled"}
# how a command of the mixed load may legitimately fail: venue rejects, a send killed between
# the write-ahead and the venue call (never placed), positions/orders changed by earlier commands
EXPECTED_FAILURES = {"venue_rejected", "outcome_unknown_not_found", "invalid_order_state",
                     "invalid_position_id", "invalid_qty", "position_close_in_progress",
                     "order_not_found", "validation_error"}


async def _eventually(store: Store, check: Any, seconds: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        async with store.read() as conn:
            problem = await check(conn)
        if not problem:
            return
        if loop.time() > deadline:
            raise AssertionError(f"{what} (now {datetime.now(UTC):%H:%M:%S}): {problem}")
        await asyncio.sleep(0.1)


async def _unterminated(conn: Any, accepted: list[int]) -> Any:
    """Per account with unfinished commands: how many, the oldest (id, status, attempts), and
    who holds the account's lease (owner, epoch, expiry) with that worker's last heartbeat."""
    rows = await conn.execute(
        select(commands.c.account_id, commands.c.id, commands.c.status, commands.c.attempts)
        .where(commands.c.id.in_(accepted), commands.c.status.not_in(TERMINAL))
        .order_by(commands.c.id))
    found: dict[int, list[Any]] = {}
    for row in rows:
        found.setdefault(int(row.account_id), []).append((int(row.id), row.status, row.attempts))
    if not found:
        return None
    L, W = account_leases.c, workers.c
    leases = {int(r.account_id): (r.owner, r.lease_epoch, str(r.expires_at), str(r.heartbeat_at))
              for r in await conn.execute(
                  select(L.account_id, L.owner, L.lease_epoch, L.expires_at, W.heartbeat_at)
                  .outerjoin(workers, W.id == L.owner).where(L.account_id.in_(list(found))))}
    return {account_id: {"unfinished": len(left), "oldest": left[0],
                         "lease": leases.get(account_id)}
            for account_id, left in found.items()}


@dataclass(frozen=True)
class VenueOrder:
    """A venue's order as the gateway knows it: its gateway account, the exchange id the
    gateway was answered, the client order id and the filled quantity."""

    account_id: int
    order_id: str
    client_order_id: str | None
    filled: Decimal


@dataclass(frozen=True)
class VenueFill:
    """A venue's fill: its gateway account, the trade id the gateway books it under, its
    quantity, its order's ids."""

    account_id: int
    trade_id: str
    qty: Decimal
    order_id: str
    client_order_id: str | None


@dataclass(frozen=True)
class VenueBook:
    """What the venue holds for the checked accounts; fills by (account, trade id): a dialect
    may number each account's trades on its own."""

    orders: list[VenueOrder]
    fills: dict[tuple[int, str], VenueFill]


#: reads the venue's book of the gateway's `account_ids` (given the gateway store's connection)
VenueSide = Callable[[Any, list[int]], Awaitable[VenueBook]]


async def paper_side(conn: Any, account_ids: list[int]) -> VenueBook:
    """The paper venue: its tables in the gateway's own database, keyed by the gateway's
    account ids, its ids the ones the gateway is answered."""
    orders_ = [VenueOrder(int(r.account_id), r.order_id, r.client_order_id, r.filled)
               for r in await conn.execute(select(
                   paper_orders.c.account_id, paper_orders.c.order_id,
                   paper_orders.c.client_order_id, paper_orders.c.filled).where(
                   paper_orders.c.account_id.in_(account_ids)))]
    fills = {(int(r.account_id), r.trade_id): VenueFill(
                 int(r.account_id), r.trade_id, r.qty, r.order_id, r.client_order_id)
             for r in await conn.execute(select(
                 paper_fills.c.account_id, paper_fills.c.trade_id, paper_fills.c.qty, paper_fills.c.order_id,
                 paper_fills.c.client_order_id).where(
                 paper_fills.c.account_id.in_(account_ids)))}
    return VenueBook(orders_, fills)


async def _unbooked(conn: Any, account_ids: list[int], venue: VenueSide) -> Any:
    fills = (await venue(conn, account_ids)).fills
    booked = {(int(r[0]), r[1]) for r in await conn.execute(
        select(deals.c.account_id, deals.c.exchange_trade_id).where(
            deals.c.account_id.in_(account_ids), deals.c.exchange_trade_id.is_not(None)))}
    missing = sorted(set(fills) - booked)[:3]
    details = []
    for key in missing:  # what the venue and the books say about the fill's order
        fill = fills[key]
        order = (await conn.execute(select(
            orders.c.id, orders.c.status, orders.c.order_type, orders.c.filled_qty,
            orders.c.exchange_order_id, orders.c.error_code, orders.c.command_id).where(
            orders.c.account_id == fill.account_id,
            orders.c.client_order_id == fill.client_order_id))).mappings().first()
        details.append((key, fill.order_id, str(fill.qty),
                        dict(order) if order else None))
    return details


async def _unsequenced(conn: Any) -> Any:
    return int((await conn.execute(
        select(func.count()).select_from(outbox).where(outbox.c.seq.is_(None)))).scalar_one())


async def check_all(url: str, account_ids: list[int], accepted: list[int],
                    *, settle_seconds: float = 300,
                    also_failing: frozenset[str] = frozenset(),
                    venue: VenueSide = paper_side) -> dict[str, int]:
    """Wait (bounded) for the running worker to finish, then assert every invariant; returns
    counts for the report. A worker process must be running while this waits."""
    store = Store.from_url(url)
    try:
        await _eventually(store, lambda c: _unterminated(c, accepted), settle_seconds,
                          "accepted commands not terminal")
        await _eventually(store, lambda c: _unbooked(c, account_ids, venue), 120, "fills not booked")
        await _eventually(store, _unsequenced, 120, "outbox rows without seq")
        async with store.read() as conn:
            return await _assert_all(conn, account_ids, accepted, also_failing,
                                     await venue(conn, account_ids))
    finally:
        await store.close()


async def _assert_all(conn: Any, account_ids: list[int], accepted: list[int],
                      also_failing: frozenset[str], book: VenueBook) -> dict[str, int]:
    # commands: terminal exactly once
    rows = list(await conn.execute(select(commands.c.id, commands.c.status,
                                          commands.c.started_at, commands.c.error_code).where(
        commands.c.account_id.in_(account_ids))))
    status = {int(r.id): r.status for r in rows}
    claimed = {int(r.id) for r in rows if r.started_at is not None}
    codes = Counter(r.error_code for r in rows if r.status == "failed")
    assert set(codes) <= EXPECTED_FAILURES | also_failing, codes  # never internal_error or an unknown code
    assert set(accepted) <= set(status)
    assert {status[c] for c in accepted} <= TERMINAL
    finished: Counter[int] = Counter()
    for row in await conn.execute(select(outbox.c.payload).where(
            outbox.c.account_id.in_(account_ids),
            outbox.c.event.in_(("command_completed", "command_failed")))):
        payload = row[0] if isinstance(row[0], dict) else json.loads(row[0])
        finished[int(payload["id"])] += 1
    assert max(finished.values(), default=1) == 1, "a command finished twice"
    for command_id in status:
        # a worker-run command has exactly one finish event; one settled at acceptance (a send
        # cancelled while queued, a cancel of such a send) none
        assert finished[command_id] == (1 if command_id in claimed else 0), command_id

    # venue orders: none duplicated, each adopted by exactly one OMS order
    oms = [dict(r) for r in (await conn.execute(select(
        orders.c.id, orders.c.account_id, orders.c.client_order_id, orders.c.exchange_order_id,
        orders.c.status, orders.c.filled_qty, orders.c.outcome_unknown, orders.c.error_code,
    ).where(orders.c.account_id.in_(account_ids)))).mappings()]
    venue = [{"account_id": v.account_id, "order_id": v.order_id,
              "client_order_id": v.client_order_id, "filled": v.filled} for v in book.orders]
    venue_keys = Counter((v["account_id"], v["client_order_id"]) for v in venue)
    assert max(venue_keys.values(), default=1) == 1, "duplicate venue order"
    by_coid = {(o["account_id"], o["client_order_id"]): o for o in oms}
    assert len(by_coid) == len(oms)
    by_id = {int(o["id"]): o for o in oms}
    # the venue orders an OMS order used (a replacement's client id is its own: `r1`, ...)
    linked = {(int(r.account_id), str(r.client_order_id)): int(r.order_id)
              for r in await conn.execute(select(
                  order_venue_orders.c.account_id, order_venue_orders.c.client_order_id,
                  order_venue_orders.c.order_id).where(
                  order_venue_orders.c.account_id.in_(account_ids)))}  # fmt: skip
    chains: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for v in venue:
        key = (v["account_id"], v["client_order_id"])
        o = by_coid.get(key) or by_id[linked[key]]
        chains[int(o["id"])].append(v)
    for order_id, used in chains.items():
        o = by_id[order_id]
        assert o["exchange_order_id"] in {v["order_id"] for v in used}, (o, used)
        assert o["filled_qty"] == sum((v["filled"] for v in used), Decimal(0)), (o, used)
    placed = {(v["account_id"], v["client_order_id"]) for v in venue}
    sent: dict[int, list[tuple[int, str]]] = defaultdict(list)  # an order's venue-order rows
    for key, order_id in linked.items():
        sent[order_id].append(key)
    for o in oms:
        assert not o["outcome_unknown"], o
        if o["error_code"] == "outcome_unknown_not_found":
            # what was looked up and not found never reached the venue: the send itself (the
            # order REJECTED), or a cancel/replace's replacement (the order CANCELED, the venue
            # order it replaced placed and cancelled)
            assert [k for k in sent[int(o["id"])] if k not in placed], (o, sent[int(o["id"])])
            if o["status"] == "REJECTED":
                assert (o["account_id"], o["client_order_id"]) not in placed, o
        if o["exchange_order_id"] is not None:
            assert (o["account_id"], o["client_order_id"]) in placed, o

    # executions: every paper fill booked once, its legs summing to the fill
    fills = {key: fill.qty for key, fill in book.fills.items()}
    legs: dict[tuple[int, str], list[tuple[int, Decimal]]] = defaultdict(list)
    for r in await conn.execute(select(deals.c.account_id, deals.c.exchange_trade_id, deals.c.leg,
                                       deals.c.qty).where(
            deals.c.account_id.in_(account_ids), deals.c.exchange_trade_id.is_not(None))):
        legs[(int(r.account_id), r.exchange_trade_id)].append((int(r.leg), r.qty))
    assert set(legs) == set(fills)
    for key, parts in legs.items():
        assert sorted(p[0] for p in parts) in ([0], [0, 1]), (key, parts)
        assert sum(p[1] for p in parts) == fills[key], (key, parts)

    # positions: the stored cache equals the fold of the deals
    for account_id in account_ids:
        all_deals = await books.deals_of_account(conn, account_id)
        stored = {int(r["id"]): position_from_row(r) for r in (await conn.execute(
            select(positions).where(positions.c.account_id == account_id))).mappings()}
        rebuilt = rebuild_all(all_deals, stored)
        differ = [(stored.get(pid), rebuilt.get(pid)) for pid in set(stored) | set(rebuilt)
                  if stored.get(pid) != rebuilt.get(pid)]
        assert not differ, (account_id, differ[:3])

    # outbox: dense and complete
    seqs = [r[0] for r in await conn.execute(select(outbox.c.seq).order_by(outbox.c.seq))]
    assert None not in seqs
    assert seqs == list(range(1, len(seqs) + 1))
    return {
        "commands": len(accepted),
        "failed": sum(1 for c in accepted if status[c] == "failed"),
        **{f"failed_{code}": n for code, n in codes.items()},
        "canceled": sum(1 for c in accepted if status[c] == "canceled"),
        "venue_orders": len(venue),
        "fills": len(fills),
        "events": len(seqs),
    }


async def _settle(url: str, accepted: list[int], seconds: float) -> None:
    store = Store.from_url(url)
    try:
        await _eventually(store, lambda c: _unterminated(c, accepted), seconds,
                          "accepted commands not terminal")
    finally:
        await store.close()


def settle(url: str, accepted: list[int], seconds: float = 600) -> None:
    """Wait (bounded) until every accepted command is terminal, asserting nothing else: a test
    that keeps its faults on while the queue drains clears them only then."""
    asyncio.run(_settle(url, accepted, seconds))


def check(url: str, account_ids: list[int], accepted: list[int], **kw: Any) -> dict[str, int]:
    return asyncio.run(check_all(url, account_ids, accepted, **kw))
