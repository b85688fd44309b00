"""Loss breakers (issue 53): the worker's watch and the risk role's lift; decisions in
`domain/breakers.py`, rows in `store/breakers.py`.

**Watch.** The worker that holds an account looks at its breakers in its housekeeping round,
which runs when prices moved and at least every second (`apps/worker/account_task.py`): after
the fills it synced and the triggers it fired. Accounts without breaker limits cost nothing but
one read per second for the whole process (`WATCH_LIST`); a watched one reads its breakers, the day's deals and its open
positions and their marks (one read each, one connection), decides every scope in the pure
core and writes only what changed (a new day, a new peak, a trip) in one transaction, with a
`loss_breaker_tripped` event and an audit row (`risk_loss_breaker`) for each trip.

**Lift.** `POST /oms/risk/{account_id}/breakers/lift` (the risk role, `risk_limits` on the
account, a mandatory comment): re-arms the scope's breaker, audited (`risk_loss_breaker_lift`)
and announced (`loss_breaker_lifted`) in one transaction.
"""

from __future__ import annotations

import time
import weakref
from decimal import Decimal
from typing import TypedDict

from apps.oms.clock import iso_z, utcnow
from apps.oms.domain import events
from apps.oms.domain.access import Action
from apps.oms.domain.breakers import Breaker, assess, equity, lifted
from apps.oms.domain.events import ChangedBy, LossBreakerChanged
from apps.oms.domain.money import ZERO
from apps.oms.domain.risk import plain
from apps.oms.errors import NotFound
from apps.oms.security.principal import Principal
from apps.oms.service.portfolio import marks as mark_prices
from apps.oms.service.request_model import mandatory_comment
from apps.oms.store import audit, outbox
from apps.oms.store import breakers as breaker_store
from apps.oms.store.audit import Actor
from apps.oms.store.store import Store

#: how old the list of watched accounts may be (a new limit is watched within this long)
WATCH_LIST_SECONDS = 1.0
WORKER = Actor(client_address="worker")


class _WatchList:
    """The accounts that have a breaker limit, read once per `WATCH_LIST_SECONDS` for every
    account task of the process (one statement for all of them), per store."""

    def __init__(self) -> None:
        self._by_store: weakref.WeakKeyDictionary[Store, tuple[float, frozenset[int]]] = (
            weakref.WeakKeyDictionary())

    async def get(self, store: Store) -> frozenset[int]:
        read_at, ids = self._by_store.get(store, (-WATCH_LIST_SECONDS, frozenset()))
        if time.monotonic() - read_at < WATCH_LIST_SECONDS:
            return ids
        started = time.monotonic()
        async with store.read() as conn:
            ids = await breaker_store.watched_accounts(conn)
        self._by_store[store] = (started, ids)
        return ids

    def clear(self) -> None:
        """Forget what was read (tests that set limits and look at once)."""
        self._by_store.clear()


WATCH_LIST = _WatchList()


def _text(value: Decimal | None) -> str | None:
    return None if value is None else plain(value)


def _payload(
    account_id: int, breaker: Breaker, at: str, *, equity_now: str | None, peak: str | None,
    comment: str | None, by: ChangedBy | None,
) -> LossBreakerChanged:  # fmt: skip
    return {"account_id": account_id, "strategy_id": breaker.strategy_id, "state": breaker.state,
            "rule": breaker.rule, "limit": _text(breaker.limit), "value": _text(breaker.value),
            "equity": equity_now, "peak_equity": peak, "day": breaker.day.isoformat(),
            "comment": comment, "changed_at": at, "changed_by": by}  # fmt: skip


async def watch(store: Store, account_id: int, exchange_id: str) -> int:
    """Decide the account's breakers on the books and marks of now; returns how many tripped."""
    if account_id not in await WATCH_LIST.get(store):
        return 0
    now = utcnow()
    day = now.date()
    async with store.read() as conn:
        scopes = await breaker_store.watched(conn, account_id)
        armed = [s for s in scopes if s[2] is None or not s[2].tripped]
        if not armed:
            return 0
        realized, open_positions = await breaker_store.day_books(conn, account_id, day)
        marks = await mark_prices(conn, exchange_id, {p.symbol for p in open_positions})
    changes: list[tuple[Breaker, Breaker | None, str]] = []
    for strategy_id, limits, stored in armed:
        mine = [p for p in open_positions if not strategy_id or p.strategy_id == strategy_id]
        real = sum(realized.values(), ZERO) if not strategy_id else realized.get(strategy_id, ZERO)
        seen = equity(real, mine, marks)
        if seen is None:  # a position without a mark: nothing is decided
            continue
        new = assess(limits, stored, strategy_id=strategy_id, day=day, equity_now=seen)
        if new != stored:
            changes.append((new, stored, plain(seen)))
    if not changes:
        return 0
    tripped = 0
    at = iso_z(now) or ""
    async with store.transaction() as conn:
        for new, old, seen_text in changes:
            if not await breaker_store.save(conn, account_id, new, old, now) or not new.tripped:
                continue
            tripped += 1
            payload = _payload(account_id, new, at, equity_now=seen_text,
                               peak=_text(new.peak), comment=None, by=None)  # fmt: skip
            await outbox.append_events(conn, [outbox.event_row(
                events.LOSS_BREAKER_TRIPPED, payload, account_id=account_id,
                strategy_id=new.strategy_id or None)])  # fmt: skip
            await audit.record(conn, WORKER, action="risk_loss_breaker", target_type="account",
                               target_id=account_id, after=dict(payload))  # fmt: skip
    return tripped


async def keeps_watch(store: Store, account_id: int) -> bool:
    """Whether the account's task should keep its lease while idle to watch its breakers: an
    armed breaker and open positions whose marks can move (realised PnL moves only with fills,
    which come with commands)."""
    if account_id not in await WATCH_LIST.get(store):
        return False
    async with store.read() as conn:
        scopes = await breaker_store.watched(conn, account_id)
        if not any(s[2] is None or not s[2].tripped for s in scopes):
            return False
        return await breaker_store.has_open_positions(conn, account_id)


class BreakerView(TypedDict):
    strategy_id: int
    day: str
    state: str
    rule: str | None
    limit: str | None
    value: str | None
    baseline: str | None
    peak_equity: str | None


class Breakers(TypedDict):
    account_id: int
    items: list[BreakerView]


def _view(b: Breaker) -> BreakerView:
    return {"strategy_id": b.strategy_id, "day": b.day.isoformat(), "state": b.state,
            "rule": b.rule, "limit": _text(b.limit), "value": _text(b.value),
            "baseline": _text(b.baseline), "peak_equity": _text(b.peak)}  # fmt: skip


async def breakers_of(store: Store, principal: Principal, account_id: int) -> Breakers:
    """`GET /oms/risk/{account_id}/breakers`: the account's breakers (a read)."""
    principal.require(Action.READ, account_id)
    async with store.read() as conn:
        found = await breaker_store.of_account(conn, account_id)
    return {"account_id": account_id, "items": [_view(b) for b in found]}


class Lifted(TypedDict):
    ok: bool
    account_id: int
    breaker: BreakerView


async def lift(
    store: Store, principal: Principal, actor: Actor, account_id: int, strategy_id: int,
    comment: str,
) -> Lifted:  # fmt: skip
    """Re-arm a tripped breaker (the risk role only); audited and announced."""
    principal.require(Action.RISK_LIMITS, account_id)  # the risk role's (ROLE_CEILING)
    reason = mandatory_comment(comment)
    now = utcnow()
    async with store.transaction() as conn:
        stored = await breaker_store.locked(conn, account_id, strategy_id)
        if stored is None or not stored.tripped:
            raise NotFound(f"no tripped breaker on account {account_id} strategy {strategy_id}",
                           code="not_found")  # fmt: skip
        await breaker_store.save(conn, account_id, lifted(stored), stored, now)
        by: ChangedBy = {"user_id": principal.user_id, "user_name": principal.user_name,
                         "api_key_id": principal.api_key_id}  # fmt: skip
        gone = lifted(stored)
        payload = _payload(account_id, stored, iso_z(now) or "", equity_now=None, peak=None,
                           comment=reason, by=by)  # fmt: skip
        payload["state"] = gone.state
        await outbox.append_events(conn, [outbox.event_row(
            events.LOSS_BREAKER_LIFTED, payload, account_id=account_id,
            strategy_id=strategy_id or None)])  # fmt: skip
        await audit.record(conn, actor, action="risk_loss_breaker_lift", target_type="account",
                           target_id=account_id, before=dict(_view(stored)),
                           after=dict(_view(gone)), comment=reason)  # fmt: skip
    return {"ok": True, "account_id": account_id, "breaker": _view(gone)}
