"""The request budget's arithmetic (`apps/oms/domain/request_budget.py`): the shared row's
reservations, a process's slices, order entry before reads, fair shares per key, the exchange's
own counts; and, as a property, that processes sharing one row never spend more than the limit
in a window."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.oms.domain.request_budget import (
    ORDER,
    READ,
    REFUSE,
    RESERVE,
    SPEND,
    WAIT,
    Limit,
    Purse,
    Reserved,
    Step,
    reserve,
)

LIMIT = Limit(units=D(100), window_ms=1_000, per_cost=D(5), read_share=D("0.8"),
              slice_share=D("0.1"))  # fmt: skip


def test_limit_checks_and_converts() -> None:
    assert LIMIT.cap(ORDER) == 100
    assert LIMIT.cap(READ) == 80
    assert LIMIT.units_of(D("0.4")) == 2  # Binance: a cost of 0.4 is a weight of 2
    assert LIMIT.slice(D(3)) == 10
    assert LIMIT.slice(D(30)) == 30
    assert (LIMIT.window_of(1_999), LIMIT.ends_ms(1)) == (1, 2_000)
    for bad in ({"units": D(0)}, {"window_ms": 0}, {"per_cost": D(0)},
                {"read_share": D(0)}, {"slice_share": D("1.5")}):  # fmt: skip
        with pytest.raises(ValueError, match="must be"):
            Limit(**{"units": D(1), "window_ms": 1, **bad})  # type: ignore[arg-type]


def test_reserve_grants_within_each_purposes_cap() -> None:
    row, granted = reserve(None, LIMIT, READ, D(50), D(0), 500)
    assert (row, granted) == (Reserved(0, D(50)), D(50))
    row, granted = reserve(row, LIMIT, READ, D(50), D(0), 600)
    assert (row, granted) == (Reserved(0, D(80)), D(30))  # reads stop at 80
    row, granted = reserve(row, LIMIT, READ, D(1), D(0), 700)
    assert granted == 0
    row, granted = reserve(row, LIMIT, ORDER, D(50), D(0), 800)
    assert (row, granted) == (Reserved(0, D(100)), D(20))  # orders have the rest


def test_reserve_starts_each_window_afresh_and_counts_what_the_exchange_saw() -> None:
    full = Reserved(0, D(100))
    assert reserve(full, LIMIT, READ, D(10), D(0), 1_000) == (Reserved(1, D(10)), D(10))
    # the exchange saw 75 used (requests outside this budget): reads have 5 left
    assert reserve(Reserved(1, D(10)), LIMIT, READ, D(10), D(75), 1_100) == \
        (Reserved(1, D(80)), D(5))  # fmt: skip


def test_a_purse_spends_its_slice_then_asks_for_another() -> None:
    purse = Purse(LIMIT)
    assert purse.take(D(2), READ, 0) == Step(RESERVE, D(10))
    purse.credit(READ, D(10), D(10), 0)
    for _ in range(5):
        assert purse.take(D(2), READ, 10) == Step(SPEND, D(2))
    assert purse.take(D(2), READ, 20) == Step(RESERVE, D(10))
    assert purse.spent == 10


def test_a_full_window_waits_for_its_end() -> None:
    purse = Purse(LIMIT)
    purse.take(D(2), READ, 0)
    purse.credit(READ, D(10), D(1), 0)  # less than asked: reads are full for this window
    assert purse.take(D(2), READ, 100) == Step(WAIT, until_ms=1_000)
    assert purse.take(D(1), READ, 100) == Step(SPEND, D(1))
    assert purse.take(D(2), READ, 1_000) == Step(RESERVE, D(10))  # a new window


def test_order_entry_spends_the_reads_slices_but_not_the_reverse() -> None:
    purse = Purse(LIMIT)
    purse.take(D(1), READ, 0)
    purse.credit(READ, D(10), D(10), 0)
    assert purse.take(D(4), ORDER, 0) == Step(SPEND, D(4))
    assert purse.balance == {ORDER: D(0), READ: D(6)}
    purse.credit(ORDER, D(10), D(10), 0)
    purse.take(D(6), READ, 0)
    assert purse.take(D(1), READ, 0).kind == RESERVE  # the order slice is not the reads'
    assert purse.take(D(12), ORDER, 0) == Step(RESERVE, D(10))
    assert purse.take(D(10), ORDER, 0) == Step(SPEND, D(10))


def test_a_read_dearer_than_the_reads_cap_counts_as_order_entry() -> None:
    purse = Purse(LIMIT)
    purse.credit(ORDER, D(90), D(90), 0)
    assert purse.take(D(90), READ, 0) == Step(SPEND, D(90))
    with pytest.raises(ValueError, match="never fits"):
        purse.take(D(101), ORDER, 0)


def test_each_key_gets_a_fair_share_of_the_reads() -> None:
    purse = Purse(LIMIT)
    purse.credit(READ, D(80), D(80), 0)
    assert purse.take(D(40), READ, 0, key=1) == Step(SPEND, D(40))
    assert purse.share(1) == 80
    assert purse.take(D(1), READ, 0, key=2) == Step(SPEND, D(1))  # a second key: 40 each
    assert purse.take(D(1), READ, 0, key=1) == Step(REFUSE, until_ms=1_000)
    assert purse.take(D(39), READ, 0, key=2) == Step(SPEND, D(39))
    assert purse.take(D(1), READ, 0) == Step(RESERVE, D(10))  # no key: the worker's own reads


def test_keys_of_the_last_window_keep_their_share() -> None:
    purse = Purse(LIMIT)
    purse.credit(READ, D(10), D(10), 0)
    purse.take(D(1), READ, 0, key=1)
    purse.take(D(1), READ, 0, key=2)
    purse.roll(1_000)
    assert purse.share(1) == 40  # key 2 read in the last window
    purse.roll(3_000)
    assert purse.share(1) == 80  # a window with no read between: forgotten


def test_the_exchanges_count_cuts_the_slices_held_reads_first() -> None:
    purse = Purse(LIMIT)
    purse.credit(READ, D(20), D(20), 0)
    purse.credit(ORDER, D(10), D(10), 0)
    purse.observe_used(D(75), 10)  # 25 left on the exchange, 30 held
    assert purse.balance == {ORDER: D(10), READ: D(15)}
    purse.observe_used(D(95), 20)
    assert purse.balance == {ORDER: D(5), READ: D(0)}
    purse.observe_used(D(90), 30)  # counts only go up within a window
    assert purse.observed == 95
    purse.observe_used(D(120), 40)
    assert purse.balance == {ORDER: D(0), READ: D(0)}


def test_a_block_waits_whatever_is_held() -> None:
    purse = Purse(LIMIT)
    purse.credit(ORDER, D(10), D(10), 0)
    purse.block(2_500)
    assert purse.take(D(1), ORDER, 100) == Step(WAIT, until_ms=2_500)
    assert purse.take(D(1), ORDER, 2_500) == Step(RESERVE, D(10))  # the window's slices lost


def test_a_stale_grant_is_dropped() -> None:
    purse = Purse(LIMIT)
    purse.roll(1_500)
    purse.credit(READ, D(10), D(10), 900)  # granted for window 0, arrived in window 1
    assert purse.balance[READ] == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from([ORDER, READ]),
                          st.integers(1, 30), st.integers(0, 40)),
                min_size=1, max_size=120))  # fmt: skip
def test_processes_sharing_a_row_never_spend_past_the_limit(
    calls: list[tuple[int, str, int, int]],
) -> None:
    """Three processes, calls of 1..30 units at advancing times: whatever the interleaving,
    the units spent in each window, all processes together, stay within the limit, and the
    reads' within their cap."""
    purses = [Purse(LIMIT) for _ in range(3)]
    row: Reserved | None = None
    now = 0
    spent: dict[tuple[int, str], D] = {}
    for process, purpose, units, advance in calls:
        now += advance
        purse = purses[process]
        step = purse.take(D(units), purpose, now)
        if step.kind == RESERVE:
            row, granted = reserve(row, LIMIT, purpose, step.units, purse.observed, now)
            purse.credit(purpose, step.units, granted, now)
            step = purse.take(D(units), purpose, now)
        if step.kind == SPEND:
            window = LIMIT.window_of(now)
            spent[window, purpose] = spent.get((window, purpose), D(0)) + units
    for window in {w for w, _ in spent}:
        assert spent.get((window, ORDER), D(0)) + spent.get((window, READ), D(0)) <= 100
        assert spent.get((window, READ), D(0)) <= 80
