"""Contingent groups over many seeded price paths, with `kill -9` of the owning worker at random
moments (issue 52's property test; `make test-paths`, not in `make test`).

A whole stack on MariaDB: the API and two worker processes, one hedge account, and the paper
venue listing `PATHS_AT_ONCE` extra markets (`paper.extra_markets`) so that as many independent
price paths run side by side, one per symbol. Each path carries a bracket (a market entry, its
stop-loss and take-profit around the price), an OCO of two entries (a breakout stop above, a
dip if-touched below), and Binance's OCO of two entries (a dip's limit resting on the venue
below, a breakout stop above: the limit is cancelled on the venue before the stop's child goes
out). The paths step together; at two random steps of each batch of paths, and
at a random moment of each (just after its prices moved, after a random delay, or once it
settled), the worker that owns the account is SIGKILLed and a fresh one is started, so every
path lives through two kills of its owner. Which member of each group fires, and at which price, is
reckoned apart from the gateway (`Race`); a step's prices stay until what they crossed has fired,
so each firing has exactly one right price.

Asserted, over every path: each group's fired member is the one whose trigger was crossed first,
fired once (one fire command, one child on the venue) **at the first price that crossed it** (the
held row's `fired_price` and the child's deal; a child that never reached the venue, its owner
killed between the child's write-ahead and the venue call, ends REJECTED as never placed and
its parent sends one new child at the same firing, counted apart: `sent_again`), or, for a
resting limit, filled on the venue; the group's other members are disarmed or cancelled; no
group is `overfilled` (fills adding up to more than its qty); no order is left open once the
batch's leftovers are cancelled and its positions closed (no orphaned exit); and the stack's
invariants (every accepted command ended once, no venue order or fill booked twice, positions
equal to their deals).

`OMS_KILL_PATHS` sets the number of paths (1,000 by default; `make test-paths`). Waits have
generous deadlines: a loaded host is slow, never wrong; the takeover time is measured in bench/.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql
import pytest
from sqlalchemy.engine import make_url

from .conftest import TERMINAL, Stack, make_stack
from .invariants import check
from .reliability import wait_registered

pytestmark = [pytest.mark.mysql, pytest.mark.slow, pytest.mark.paths,
              pytest.mark.timeout(4 * 3600)]

PATHS = int(os.environ.get("OMS_KILL_PATHS", "1000"))
PATHS_AT_ONCE = int(os.environ.get("OMS_KILL_PATHS_AT_ONCE", "50"))  # symbols: paths side by side
STEPS = 12
KILLS = 2  # of the owner, per batch of paths
BASES = [f"PATH{i:02d}" for i in range(PATHS_AT_ONCE)]
SYMBOLS = [f"{base}/USDT:USDT" for base in BASES]
ENV = {"OMS_PAPER__EXTRA_MARKETS": json.dumps([{"base": b} for b in BASES])}
PATIENT = 600.0  # seconds; generous: a loaded host is slow, never wrong
CENT = Decimal("0.01")
QTY = "0.1"


@dataclass
class Race:
    """Which member of a group fires first on a price path, reckoned apart from the gateway:
    `levels` maps a role to (trigger, fires when the price is at or above it)."""

    symbol: str
    start: Decimal
    levels: dict[str, tuple[Decimal, bool]]
    first_order: int = 0  # the order the group was asked with (entry or leg0)
    winner: str | None = None
    price: Decimal | None = None  # the first price that crossed the winner's trigger
    resting: str | None = None  # the role of a limit resting on the venue (it sends no child)

    def label(self) -> str:
        """The winner, as tallied (a resting OCO's apart)."""
        return f"resting:{self.winner}" if self.resting and self.winner else str(self.winner)

    def see(self, price: Decimal) -> bool:
        """The next price of the path; True if it makes this step's winner."""
        if self.winner is None:
            for role, (trigger, above) in self.levels.items():
                if (price >= trigger) if above else (price <= trigger):
                    self.winner, self.price = role, price
                    return True
        return False


@dataclass
class Tally:
    paths: int = 0
    groups: int = 0
    fired: dict[str, int] = field(default_factory=dict)
    kills: int = 0
    sent_again: int = 0  # held orders' children never placed (killed before the venue)
    kill_modes: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # where the run's time went

    def timed(self, what: str, since: float) -> float:
        now = time.monotonic()
        self.seconds[what] = round(self.seconds.get(what, 0.0) + now - since, 1)
        return now


class Db:
    """One autocommit connection for the test's own reads (polled often)."""

    def __init__(self, stack: Stack) -> None:
        url = make_url(stack.url)
        self.conn = pymysql.connect(host=url.host or "127.0.0.1", port=url.port or 3306,
                                    user=url.username or "root", password=url.password or "",
                                    database=stack.name, autocommit=True)

    def rows(self, query: str, *args: object) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(query, args)
            return list(cur.fetchall())

    def close(self) -> None:
        self.conn.close()


def cents(rng: random.Random, low: Decimal, high: Decimal) -> Decimal:
    return Decimal(rng.randrange(int(low / CENT), int(high / CENT) + 1)) * CENT


def place(stack: Stack, db: Db, account_id: int, rng: random.Random
          ) -> tuple[list[Race], list[int]]:  # fmt: skip
    """A bracket, an OCO and an OCO with a resting limit on every symbol at its start price;
    returns the groups' races and the accepted command ids."""
    races, body = [], []
    for symbol in SYMBOLS:
        start = cents(rng, Decimal(80), Decimal(120))
        stack.price(str(start), symbol)
        side = rng.choice(["buy", "sell"])
        loss, gain = (start * Decimal(rng.randrange(10, 61)) / 1000 for _ in range(2))
        loss, gain = loss.quantize(CENT), gain.quantize(CENT)
        sl, tp = (start - loss, start + gain) if side == "buy" else (start + loss, start - gain)
        body.append({"account_id": account_id, "command": "send_order", "payload": {
            "symbol": symbol, "side": side, "order_type": "market", "qty": QTY,
            "bracket_stop_loss": {"trigger_price": str(sl)},
            "bracket_take_profit": {"trigger_price": str(tp)}}})
        buy = side == "buy"
        races.append(Race(symbol, start, {"stop_loss": (sl, not buy), "take_profit": (tp, buy)}))
        up = start + (start * Decimal(rng.randrange(10, 61)) / 1000).quantize(CENT)
        down = start - (start * Decimal(rng.randrange(10, 61)) / 1000).quantize(CENT)
        body.append({"account_id": account_id, "command": "send_order", "payload": {
            "symbol": symbol, "side": "buy", "order_type": "market", "qty": QTY,
            "stop_price": str(up), "oco_orders": [{"take_profit_price": str(down)}]}})
        races.append(Race(symbol, start, {"leg0": (up, True), "leg1": (down, False)}))
        up = start + (start * Decimal(rng.randrange(10, 61)) / 1000).quantize(CENT)
        down = start - (start * Decimal(rng.randrange(10, 61)) / 1000).quantize(CENT)
        body.append({"account_id": account_id, "command": "send_order", "payload": {
            "symbol": symbol, "side": "buy", "order_type": "limit", "qty": QTY,
            "price": str(down), "oco_orders": [{"stop_price": str(up)}]}})
        races.append(Race(symbol, start, {"leg0": (down, False), "leg1": (up, True)},
                          resting="leg0"))
    items = post_all(stack, db, body)
    for race, item in zip(races, items, strict=True):
        race.first_order = int(item["order_id"])
    return races, [int(i["command_id"]) for i in items]


def members(db: Db, races: list[Race]) -> dict[int, dict[str, tuple[int, str]]]:
    """Each group's members: role -> (order id, status), by the group's first order."""
    rows = db.rows("SELECT f.id, m.role, o.id, o.status FROM orders f JOIN order_group_members m"
                   " ON m.group_id = f.group_id JOIN orders o ON o.id = m.order_id"
                   " WHERE f.id IN %s", tuple(r.first_order for r in races))
    found: dict[int, dict[str, tuple[int, str]]] = {}
    for first, role, order_id, status in rows:
        found.setdefault(int(first), {})[str(role)] = (int(order_id), str(status))
    return found


def fired(db: Db, races: list[Race]) -> dict[int, dict[str, tuple[Decimal | None, int]]]:
    """The members that fired, by group's first order: role -> (the held row's fired price,
    how many fire commands its firing wrote, less those whose child never reached the venue
    and was sent again)."""
    rows = db.rows(
        "SELECT f.id, m.role, h.fired_price, (SELECT COUNT(*) FROM commands c WHERE"
        " c.account_id = o.account_id AND (c.request_id = CONCAT('held:', o.id, ':fire')"
        " OR c.request_id LIKE CONCAT('held:', o.id, ':fire:%%')))"
        " - (SELECT COUNT(*) FROM orders c WHERE c.parent_order_id = o.id"
        "    AND c.status = 'REJECTED' AND c.reason = 'outcome_unknown_not_found'"
        "    AND c.filled_qty = 0)"
        " FROM orders f JOIN order_group_members m ON m.group_id = f.group_id"
        " JOIN orders o ON o.id = m.order_id JOIN held_orders h ON h.order_id = o.id"
        " WHERE f.id IN %s AND h.fired_at IS NOT NULL", tuple(r.first_order for r in races))
    found: dict[int, dict[str, tuple[Decimal | None, int]]] = {}
    for first, role, price, commands in rows:
        found.setdefault(int(first), {})[str(role)] = (price, int(commands))
    return found


def settled(db: Db, races: list[Race]) -> bool:
    """Every group whose winner is known has it filled and its other members disarmed; the
    brackets' exits exist."""
    now = members(db, races)
    for race in races:
        got = now.get(race.first_order, {})
        if set(race.levels) - set(got):
            return False  # a bracket's exits are created after its entry's fill
        if race.winner is None:
            continue
        for role in race.levels:
            want = "FILLED" if role == race.winner else "CANCELED"
            if got[role][1] != want:
                return False
    return True


def until(check: Any, what: str, seconds: float = PATIENT) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        if value := check():
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {seconds} s: {what}")
        time.sleep(0.02)


class Owners:
    """The workers: kills the account's owner and starts a fresh worker in its place."""

    def __init__(self, stack: Stack, db: Db, account_id: int, tally: Tally) -> None:
        self.stack, self.db, self.account_id, self.tally = stack, db, account_id, tally

    def owner_pid(self) -> int | None:
        rows = self.db.rows("SELECT owner FROM account_leases WHERE account_id = %s",
                            self.account_id)
        return int(str(rows[0][0]).rsplit(":", 2)[1]) if rows and rows[0][0] else None

    def live_owner(self) -> subprocess.Popen[bytes] | None:
        pid = self.owner_pid()
        return next((p for p in self.stack.workers if p.pid == pid and p.poll() is None), None)

    def kill_owner(self, mode: str) -> None:
        """SIGKILL the account's owner (once a live worker owns it: a takeover may be under
        way) and start a fresh worker in its place."""
        victim = until(self.live_owner, "a live worker owns the account")
        self.stack.kill(victim, signal.SIGKILL)  # (and forgets it)
        self.stack.start_worker()
        self.tally.kills += 1
        self.tally.kill_modes[mode] = self.tally.kill_modes.get(mode, 0) + 1


def walk(stack: Stack, db: Db, owners: Owners, races: list[Race], rng: random.Random) -> None:
    """The batch's paths, step by step, with the owner killed at a random moment of `KILLS`
    random steps."""
    prices = {r.symbol: r.start for r in races}
    kills = {step: rng.choice(["moved", "delayed", "settled"])
             for step in rng.sample(range(STEPS), KILLS)}
    for step in range(STEPS):
        for symbol in SYMBOLS:
            move = prices[symbol] * Decimal(rng.randrange(-30, 31)) / 1000
            prices[symbol] = max(Decimal(1), (prices[symbol] + move).quantize(CENT))
            stack.price(str(prices[symbol]), symbol)
        for race in races:
            race.see(prices[race.symbol])
        mode = kills.get(step)
        if mode == "moved":
            owners.kill_owner(mode)
        elif mode == "delayed":
            time.sleep(rng.uniform(0, 0.3))
            owners.kill_owner(mode)
        try:
            until(lambda: settled(db, races), f"step {step}: what its prices crossed has fired")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{diagnosis(db, owners, races)}") from None
        if mode == "settled":
            owners.kill_owner(mode)
        check_fired(db, races, partial=True)


def diagnosis(db: Db, owners: Owners, races: list[Race]) -> str:
    """What the store shows when a step never settles: the groups not settled (their members,
    held rows and children), the account's lease, the workers, and its unfinished commands."""
    now = members(db, races)
    lines = []
    for race in races:
        got = now.get(race.first_order, {})
        want = {role: "FILLED" if role == race.winner else "CANCELED" for role in race.levels}
        if race.winner is None and not set(race.levels) - set(got):
            continue
        if race.winner is not None and all(got.get(r, (0, ""))[1] == w for r, w in want.items()):
            continue
        ids = tuple(order_id for order_id, _ in got.values()) or (0,)
        held = db.rows("SELECT order_id, state, trigger_price, fired_price, child_order_id,"
                       " updated_at FROM held_orders WHERE order_id IN %s", ids)
        children = db.rows("SELECT id, parent_order_id, status, filled_qty, error_code FROM"
                           " orders WHERE parent_order_id IN %s", ids)
        lines.append(f"{race.symbol} winner={race.winner}@{race.price} levels={race.levels} "
                     f"members={got} held={held} children={children}")
    lease = db.rows("SELECT * FROM account_leases WHERE account_id = %s", owners.account_id)
    workers = db.rows("SELECT id, pid, status, heartbeat_at, liveness FROM workers")
    unfinished = db.rows("SELECT id, command_type, status, request_id, attempts, created_at"
                         " FROM commands WHERE account_id = %s AND status NOT IN %s"
                         " ORDER BY id LIMIT 20", owners.account_id, TERMINAL)
    alive = [(p.pid, p.poll()) for p in owners.stack.workers]
    lines += [f"lease: {lease}", f"workers: {workers}", f"alive: {alive}",
              f"unfinished commands: {unfinished}"]
    return "\n".join(lines)


def check_fired(db: Db, races: list[Race], *, partial: bool) -> None:
    """Only the expected members fired, once each, at the first price that crossed them."""
    now = fired(db, races)
    for race in races:
        got = now.get(race.first_order, {})
        won = race.winner is not None and race.winner != race.resting  # a held member fired
        want = {race.winner: (race.price, 1)} if won else {}
        if partial:  # a step's firing may still be under way for a race not settled yet
            got = {role: fire for role, fire in got.items() if role in want}
        assert got == want, (race.symbol, race.levels, got, want)


def clean_up(stack: Stack, db: Db, account_id: int, races: list[Race]) -> list[int]:
    """Cancel the groups nothing fired, then close what the batch left open; returns the
    accepted command ids."""
    now = members(db, races)
    body = [{"account_id": account_id, "command": "cancel_order", "payload": {
        "order_id": now[r.first_order]["stop_loss" if "stop_loss" in r.levels else "leg0"][0]}}
        for r in races if r.winner is None]
    accepted = post_all(stack, db, body)
    opened = stack.positions(account_id)
    accepted += post_all(stack, db, [{"account_id": account_id, "command": "close_position",
                                      "payload": {"position_id": p["id"]}} for p in opened])
    until(lambda: not stack.positions(account_id), "the batch's positions are closed")
    until(lambda: db.rows("SELECT COUNT(*) FROM orders WHERE account_id = %s AND is_open = 1",
                          account_id) == [(0,)], "no order of the batch is left open")
    return [int(i["command_id"]) for i in accepted]


def post_all(stack: Stack, db: Db, body: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Accept the commands in one request, then wait until each has completed."""
    if not body:
        return []
    response = stack.post(body, wait=False)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["results"]
    assert all(i["ok"] for i in items), items
    ids = tuple(int(i["command_id"]) for i in items)
    query = ("SELECT id, command_type, payload, status, error_code, error_message FROM commands"
             " WHERE id IN %s AND status IN %s")
    ended = until(lambda: len(done := db.rows(query, ids, TERMINAL)) == len(ids) and done,
                  "the commands end")
    failed = [row for row in ended if row[3] != "completed"]
    if failed:  # what the store says of them, for the report
        owners = db.rows("SELECT id, payload, created_at FROM outbox WHERE event ="
                         " 'account_owner_changed' ORDER BY id")
        runs = db.rows("SELECT id, status, attempts, lease_epoch, started_at, finished_at FROM"
                       " commands WHERE id IN %s", tuple(row[0] for row in failed))
        orders = db.rows("SELECT id, status, group_id, updated_at FROM orders WHERE id IN %s",
                         tuple(json.loads(row[2]).get("order_id") or 0 for row in failed))
        raise AssertionError(f"failed: {failed}\nruns: {runs}\norders: {orders}\n"
                             f"owner changes: {owners}")
    return items


@pytest.fixture
def paths_stack(tmp_path: Path) -> Iterator[Stack]:
    with make_stack(tmp_path, workers=2, env=ENV) as stack:
        for proc in stack.workers:
            wait_registered(stack, proc, threading.Event())
        yield stack


def test_groups_over_seeded_paths_with_kill_9_of_the_owner(paths_stack: Stack) -> None:
    stack, rng, tally = paths_stack, random.Random(5252), Tally()
    account_id = stack.account("hedge")
    db = Db(stack)
    owners = Owners(stack, db, account_id, tally)
    accepted: list[int] = []
    try:
        while tally.paths < PATHS:
            began = time.monotonic()
            races, placed = place(stack, db, account_id, rng)
            accepted += placed
            until(lambda: settled(db, races), "the brackets' exits are armed")  # noqa: B023
            began = tally.timed("place", began)
            walk(stack, db, owners, races, rng)
            check_fired(db, races, partial=False)
            began = tally.timed("walk", began)
            for race in races:
                tally.fired[race.label()] = tally.fired.get(race.label(), 0) + 1
            accepted += clean_up(stack, db, account_id, races)
            tally.timed("clean_up", began)
            tally.paths += len(SYMBOLS)
            tally.groups += len(races)
        overfilled = db.rows("SELECT COUNT(*) FROM order_groups WHERE state = 'overfilled'")
        # a held order's child is its one order on the venue (a bracket's entry parents its
        # two exits: they are not children sent by a firing; a child never placed is not on it)
        twice = db.rows("SELECT COUNT(*) FROM (SELECT h.order_id FROM held_orders h JOIN orders c"
                        " ON c.parent_order_id = h.order_id WHERE NOT (c.status = 'REJECTED'"
                        " AND c.reason = 'outcome_unknown_not_found' AND c.filled_qty = 0)"
                        " GROUP BY h.order_id HAVING COUNT(*) > 1) t")
        # children never placed (killed before the venue), each sent again by its parent
        tally.sent_again = db.rows("SELECT COUNT(*) FROM held_orders h JOIN orders c"
                                   " ON c.parent_order_id = h.order_id WHERE c.status ="
                                   " 'REJECTED' AND c.reason = 'outcome_unknown_not_found'"
                                   " AND c.filled_qty = 0")[0][0]
        assert (overfilled, twice) == ([(0,)], [(0,)])
    finally:
        db.close()
    counts = check(stack.url, [account_id], accepted)
    print(f"group paths: {tally}, invariants: {counts}")  # noqa: T201
    # every kind of member won somewhere, and some groups were left untouched
    assert {"stop_loss", "take_profit", "leg0", "leg1", "resting:leg0", "resting:leg1", "None"
            } <= set(tally.fired), tally
    assert tally.kills == KILLS * -(-tally.paths // PATHS_AT_ONCE)
