"""The request budget's arithmetic: one exchange limit (units per fixed window, in the
exchange's own units), shared by processes that each reserve small slices of the window from the
store and spend them locally; order entry before reads; a fair share of the reads per API key.

Pure and synchronous: the caller passes the clock's epoch ms and does the waiting and the store
round trips (`apps/oms/exchange/ccxt/budget.py`). Units are `Decimal` (CCXT's costs are
fractions, e.g. Binance's 0.4 for a weight of 2), never float.

Why slices: a store round trip per exchange call would double the latency of a cheap call and
serialise every process on one row; a slice of a few percent of the window costs one round trip
per tens of calls, and what a process leaves unspent when the window ends is lost, never
borrowed (so the shared total never passes the limit, at the price of a few percent of it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

ORDER, READ = "order", "read"
PURPOSES = (ORDER, READ)
ZERO = Decimal(0)
#: what a step asks of its caller
SPEND, RESERVE, WAIT, REFUSE = "spend", "reserve", "wait", "refuse"


@dataclass(frozen=True, slots=True)
class Limit:
    """An exchange's request limit: `units` per fixed window of `window_ms` (Binance: 6000
    weight per minute), a CCXT cost being `per_cost` units (Binance spot: 5 weight per cost).

    Reads may reserve only `read_share` of a window, so order entry always finds room; a process
    reserves `slice_share` of the window at a time (at least the call's own cost)."""

    units: Decimal
    window_ms: int
    per_cost: Decimal = Decimal(1)
    read_share: Decimal = Decimal("0.8")
    slice_share: Decimal = Decimal("0.05")

    def __post_init__(self) -> None:
        if self.units <= 0 or self.window_ms <= 0 or self.per_cost <= 0:
            raise ValueError("units, window_ms and per_cost must be positive")
        if not (0 < self.read_share <= 1 and 0 < self.slice_share <= 1):
            raise ValueError("read_share and slice_share must be in (0, 1]")

    def cap(self, purpose: str) -> Decimal:
        """How much of a window `purpose` may reserve, all purposes together."""
        return self.units if purpose == ORDER else self.units * self.read_share

    def units_of(self, cost: Decimal) -> Decimal:
        """A CCXT cost in the exchange's units."""
        return cost * self.per_cost

    def slice(self, wanted: Decimal) -> Decimal:
        return max(wanted, self.units * self.slice_share)

    def window_of(self, at_ms: int) -> int:
        return at_ms // self.window_ms

    def ends_ms(self, window: int) -> int:
        return (window + 1) * self.window_ms


@dataclass(frozen=True, slots=True)
class Reserved:
    """The shared row of one budget: units handed out to processes in `window`."""

    window: int
    units: Decimal


def reserve(row: Reserved | None, limit: Limit, purpose: str, wanted: Decimal,
            observed: Decimal, at_ms: int) -> tuple[Reserved, Decimal]:  # fmt: skip
    """The shared row after a process asks `wanted` units for `purpose` at `at_ms`, and what it
    is granted (0 when the window has no room left for `purpose`; a partial grant when it has
    less than `wanted`). `observed`: the most the exchange said was used in this window, which
    counts as reserved (requests that did not go through this budget spend the same limit)."""
    window = limit.window_of(at_ms)
    before = row.units if row is not None and row.window == window else ZERO
    before = max(before, observed)
    granted = max(ZERO, min(wanted, limit.cap(purpose) - before))
    return Reserved(window, before + granted), granted


@dataclass(frozen=True, slots=True)
class Step:
    """What a call must do next: `SPEND` (done: its units are spent), `RESERVE` `units` from the
    store for its purpose, `WAIT` until `until_ms`, or `REFUSE` (its key is past its share of
    the reads until `until_ms`)."""

    kind: str
    units: Decimal = ZERO
    until_ms: int = 0


@dataclass
class Purse:
    """One process's part of one budget: the slices it holds for the current window, what it
    spent, what the exchange said was used, and the reads of each API key.

    Invariant: what the process spends in a window never exceeds what the store granted it in
    that window, and after `observe_used`, never what the exchange says is left."""

    limit: Limit
    window: int = -1
    balance: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(PURPOSES, ZERO))
    spent: Decimal = ZERO
    observed: Decimal = ZERO
    full: set[str] = field(default_factory=set)
    blocked_until_ms: int = 0
    reads_by_key: dict[int, Decimal] = field(default_factory=dict)
    keys_before: frozenset[int] = frozenset()

    def roll(self, at_ms: int) -> None:
        """A new window: slices left unspent are lost (they were counted as reserved). Windows
        only go forward (a late answer of an earlier one changes nothing)."""
        window = self.limit.window_of(at_ms)
        if window <= self.window:
            return
        recent = frozenset(self.reads_by_key) if window == self.window + 1 else frozenset()
        self.window, self.spent, self.observed = window, ZERO, ZERO
        self.balance = dict.fromkeys(PURPOSES, ZERO)
        self.full, self.reads_by_key, self.keys_before = set(), {}, recent

    def share(self, key: int) -> Decimal:
        """A key's fair share of the reads: the read cap over the keys that read in this
        window or the last one (itself included)."""
        keys = self.keys_before | set(self.reads_by_key) | {key}
        return self.limit.cap(READ) / len(keys)

    def take(self, units: Decimal, purpose: str, at_ms: int, key: int | None = None) -> Step:
        """Spend `units` for `purpose` (on behalf of API key `key`, for a read) if the slices
        held allow it; else what to do first. A call dearer than its purpose's cap counts as
        order entry (it could never be served otherwise); one dearer than the whole window is
        refused by `ValueError` (a limit configured below the exchange's own costs)."""
        if units > self.limit.units:
            raise ValueError(f"a call of {units} units never fits a window of {self.limit.units}")
        if units > self.limit.cap(purpose):
            purpose = ORDER
        self.roll(at_ms)
        if self.blocked_until_ms > at_ms:
            return Step(WAIT, until_ms=self.blocked_until_ms)
        window_end = self.limit.ends_ms(self.window)
        if purpose == READ and key is not None and self._past_share(key, units):
            return Step(REFUSE, until_ms=window_end)
        spendable = self.balance[ORDER] + self.balance[READ] if purpose == ORDER \
            else self.balance[READ]  # fmt: skip
        if spendable >= units:
            self._spend(units, purpose, key)
            return Step(SPEND, units)
        if purpose in self.full:
            return Step(WAIT, until_ms=window_end)
        return Step(RESERVE, self.limit.slice(units - spendable))

    def _past_share(self, key: int, units: Decimal) -> bool:
        return self.reads_by_key.get(key, ZERO) + units > self.share(key)

    def _spend(self, units: Decimal, purpose: str, key: int | None) -> None:
        own = min(units, self.balance[purpose])
        self.balance[purpose] -= own
        self.balance[READ] -= units - own  # order entry may spend the reads' slices too
        self.spent += units
        if purpose == READ and key is not None:
            self.reads_by_key[key] = self.reads_by_key.get(key, ZERO) + units

    def credit(self, purpose: str, wanted: Decimal, granted: Decimal, at_ms: int) -> None:
        """What the store granted (for the window of `at_ms`); less than `wanted` means the
        window is full for `purpose` until it ends."""
        self.roll(at_ms)
        if self.limit.window_of(at_ms) != self.window:
            return
        self.balance[purpose] += granted
        if granted < wanted:
            self.full.add(purpose)

    def observe_used(self, used: Decimal, at_ms: int) -> None:
        """The exchange's own count of the window (Binance `X-MBX-USED-WEIGHT-1M`): remembered
        for the next reservation, and the slices held cut to what the exchange says is left
        (reads' first)."""
        self.roll(at_ms)
        self.observed = max(self.observed, used)
        excess = self.balance[ORDER] + self.balance[READ] - max(ZERO, self.limit.units - used)
        if excess > 0:
            cut = min(excess, self.balance[READ])
            self.balance[READ] -= cut
            self.balance[ORDER] -= min(excess - cut, self.balance[ORDER])

    def block(self, until_ms: int) -> None:
        """The exchange said its limit is spent until `until_ms` (a 429's `Retry-After`, Bybit's
        `X-Bapi-Limit-Status: 0`): nothing is spent before."""
        self.blocked_until_ms = max(self.blocked_until_ms, until_ms)
