"""The pure candle core of the paper market: timeframes, folding a path, merging, CCXT's
since/limit window, gap filling and the seeded history (hypothesis properties and pinned cases)."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.paper.domain.candles import (
    MAX_LIMIT,
    MINUTE_MS,
    TIMEFRAMES,
    Candle,
    PathPoint,
    Window,
    backfill,
    bucket,
    continuous,
    fold,
    merge,
    tick_volume,
    timeframe_ms,
    window,
)

D = Decimal
T0 = 1_760_000_000_000 - 1_760_000_000_000 % 86_400_000  # a UTC midnight
prices = st.integers(min_value=1, max_value=10_000_000).map(lambda n: D(n) / 10)
volumes = st.integers(min_value=0, max_value=10_000).map(lambda n: D(n) / 100)
tfs = st.sampled_from(sorted(TIMEFRAMES.values()))


@st.composite
def paths(draw: st.DrawFn) -> list[PathPoint]:
    """Points in stored order: non-decreasing times over a few days, any prices."""
    steps = draw(st.lists(st.integers(min_value=0, max_value=3 * 3_600_000), max_size=40))
    out, ts = [], T0 + draw(st.integers(min_value=0, max_value=86_400_000))
    for gap in steps:
        ts += gap
        out.append(PathPoint(ts, draw(prices), draw(volumes)))
    return out


def test_timeframes_are_ccxts_and_unknown_ones_are_refused() -> None:
    assert {"1m", "5m", "15m", "1h", "4h", "1d"} <= set(TIMEFRAMES)
    assert timeframe_ms("1h") == 3_600_000
    assert timeframe_ms("4h") == 4 * 3_600_000
    with pytest.raises(ValueError, match="not served"):
        timeframe_ms("7m")


def test_buckets_open_on_multiples_of_the_timeframe_since_the_epoch() -> None:
    assert bucket(T0 + 61_000, MINUTE_MS) == T0 + 60_000
    assert bucket(T0 + 3_599_999, 3_600_000) == T0
    assert bucket(T0, 86_400_000) == T0


def test_fold_pins_one_candle_from_four_prices() -> None:
    path = [PathPoint(T0 + 1_000, D(10), D(1)), PathPoint(T0 + 2_000, D(12), D(2)),
            PathPoint(T0 + 30_000, D(9), D("0.5")), PathPoint(T0 + 59_999, D(11), D(1)),
            PathPoint(T0 + 60_000, D(11.5), D(3))]
    assert fold(path, MINUTE_MS) == [
        Candle(T0, D(10), D(12), D(9), D(11), D("4.5")),
        Candle(T0 + 60_000, D("11.5"), D("11.5"), D("11.5"), D("11.5"), D(3))]
    # a 5m candle holds both minutes
    assert fold(path, 5 * MINUTE_MS) == [Candle(T0, D(10), D(12), D(9), D("11.5"), D("7.5"))]


@given(paths(), tfs)
def test_fold_is_an_exact_summary_of_the_path(path: list[PathPoint], tf_ms: int) -> None:
    candles = fold(path, tf_ms)
    assert [c.open_ms for c in candles] == sorted({bucket(p.timestamp_ms, tf_ms) for p in path})
    for c in candles:
        inside = [p for p in path if bucket(p.timestamp_ms, tf_ms) == c.open_ms]
        assert c.open == inside[0].price
        assert c.close == inside[-1].price
        assert c.high == max(p.price for p in inside)
        assert c.low == min(p.price for p in inside)
        assert c.volume == sum((p.volume for p in inside), D(0))
        assert c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high


@given(paths(), st.integers(min_value=0, max_value=40), tfs)
def test_folding_in_two_parts_then_merging_equals_folding_at_once(
    path: list[PathPoint], cut: int, tf_ms: int
) -> None:
    """What the store does: candles of each batch of prices merged into the stored ones."""
    stored = {c.open_ms: c for c in fold(path[:cut], tf_ms)}
    for c in fold(path[cut:], tf_ms):
        stored[c.open_ms] = merge(stored.get(c.open_ms), c)
    assert [stored[k] for k in sorted(stored)] == fold(path, tf_ms)


def test_window_without_since_is_the_newest_candles_up_to_the_open_one() -> None:
    now = T0 + 10 * MINUTE_MS + 5_000
    assert window(MINUTE_MS, now, None, 3) == Window(T0 + 8 * MINUTE_MS, T0 + 10 * MINUTE_MS)
    full = window(MINUTE_MS, now, None, None)
    assert full is not None
    assert (full.end_ms - full.start_ms) // MINUTE_MS + 1 == MAX_LIMIT
    capped = window(MINUTE_MS, now, None, 5000)
    assert capped == full


def test_window_since_is_the_earliest_opening_time_wanted() -> None:
    now = T0 + 10 * MINUTE_MS
    assert window(MINUTE_MS, now, T0 + MINUTE_MS, 2) == Window(T0 + MINUTE_MS, T0 + 2 * MINUTE_MS)
    # a since inside a candle starts at the next one (its opening time is before since)
    assert window(MINUTE_MS, now, T0 + 1, 2) == Window(T0 + MINUTE_MS, T0 + 2 * MINUTE_MS)
    # never past the candle open now; nothing for a since in the future
    assert window(MINUTE_MS, now, T0 + 9 * MINUTE_MS, 100) == Window(T0 + 9 * MINUTE_MS, now)
    assert window(MINUTE_MS, now, now + 1, 5) is None


@pytest.mark.parametrize(("since", "limit"), [(None, 0), (None, -1), (-5, None)])
def test_window_refuses_a_bad_limit_or_since(since: int | None, limit: int | None) -> None:
    with pytest.raises(ValueError, match=r"limit|since"):
        window(MINUTE_MS, T0, since, limit)


@given(tfs, st.integers(min_value=0, max_value=10**13), st.none() | st.integers(0, 10**13),
       st.none() | st.integers(1, 3000))
def test_window_properties(tf_ms: int, now: int, since: int | None, limit: int | None) -> None:
    win = window(tf_ms, now, since, limit)
    if win is None:
        assert since is not None
        assert since > bucket(now, tf_ms)
        return
    count = (win.end_ms - win.start_ms) // tf_ms + 1
    assert win.start_ms % tf_ms == 0
    assert win.end_ms % tf_ms == 0
    assert 1 <= count <= min(limit or MAX_LIMIT, MAX_LIMIT)
    assert win.end_ms <= bucket(now, tf_ms)
    if since is not None:
        assert since <= win.start_ms < since + tf_ms
    else:
        assert win.end_ms == bucket(now, tf_ms)
        assert count == min(limit or MAX_LIMIT, MAX_LIMIT)


def test_continuous_fills_quiet_periods_flat_at_the_previous_close() -> None:
    before = Candle(T0 - MINUTE_MS, D(9), D(10), D(8), D(10), D(1))
    stored = [Candle(T0 + MINUTE_MS, D(11), D(12), D(11), D(12), D(2))]
    win = Window(T0, T0 + 3 * MINUTE_MS)
    assert continuous(stored, before, win, MINUTE_MS) == [
        Candle(T0, D(10), D(10), D(10), D(10), D(0)), stored[0],
        Candle(T0 + 2 * MINUTE_MS, D(12), D(12), D(12), D(12), D(0)),
        Candle(T0 + 3 * MINUTE_MS, D(12), D(12), D(12), D(12), D(0))]
    # nothing before the first candle there is
    assert continuous(stored, None, win, MINUTE_MS)[0] == stored[0]
    assert continuous([], None, win, MINUTE_MS) == []


@given(paths(), tfs, st.integers(min_value=0, max_value=50))
def test_continuous_has_one_candle_per_period_after_the_first(
    path: list[PathPoint], tf_ms: int, extra: int
) -> None:
    candles = fold(path, tf_ms)
    if not candles:
        return
    win = Window(candles[0].open_ms, candles[-1].open_ms + extra * tf_ms)
    out = continuous(candles, None, win, tf_ms)
    assert [c.open_ms for c in out] == list(range(win.start_ms, win.end_ms + 1, tf_ms))
    for prev, cur in itertools.pairwise(out):
        if cur not in candles:  # a filled period: flat at the close before it, no volume
            assert cur.open == cur.high == cur.low == cur.close == prev.close
            assert cur.volume == 0
    assert [c for c in out if c in candles] == candles


def test_tick_volume_is_deterministic_and_positive() -> None:
    values = [tick_volume("BTC/USDT", seq) for seq in range(200)]
    assert values == [tick_volume("BTC/USDT", seq) for seq in range(200)]
    assert all(D("0.01") <= v <= 1 for v in values)
    assert len(set(values)) > 10


def test_backfill_pinned_for_seed_42() -> None:
    """The history a seed gives is part of the contract (bots and tests see the same)."""
    candles = backfill(42, "BTC/USDT", MINUTE_MS, T0, D(50000), D("0.1"))
    assert len(candles) == 1000
    assert candles[-1].close == D(50000)
    assert candles[-1].open_ms == T0 - MINUTE_MS
    assert candles[0].open_ms == T0 - 1000 * MINUTE_MS
    assert candles[-1] == Candle(T0 - MINUTE_MS, D("49957.5"), D("50004.9"), D("49944.4"),
                                 D(50000), D("18.94"))
    assert candles[0] == Candle(T0 - 1000 * MINUTE_MS, D("50666.0"), D("50686.0"),
                                D("50638.3"), D("50644.5"), D("21.00"))
    assert candles != backfill(43, "BTC/USDT", MINUTE_MS, T0, D(50000), D("0.1"))


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), tfs, prices,
       st.sampled_from([D("0.1"), D("0.01"), D("0.001"), D(1)]),
       st.integers(min_value=1, max_value=300))
def test_backfill_properties(seed: int, tf_ms: int, price: Decimal, step: Decimal,
                             count: int) -> None:
    anchor_price = max(step, (price / step).to_integral_value() * step)
    anchor = bucket(T0 + seed, tf_ms)
    candles = backfill(seed, "ETH/USDT:USDT", tf_ms, anchor, anchor_price, step, count)
    assert candles == backfill(seed, "ETH/USDT:USDT", tf_ms, anchor, anchor_price, step, count)
    assert [c.open_ms for c in candles] == [anchor - (count - i) * tf_ms for i in range(count)]
    assert candles[-1].close == anchor_price
    for prev, cur in itertools.pairwise(candles):
        assert cur.open == prev.close  # one walk, no jumps between candles
    for c in candles:
        assert step <= c.low <= min(c.open, c.close) <= max(c.open, c.close) <= c.high
        for value in (c.open, c.high, c.low, c.close):
            assert value % step == 0
        assert c.volume > 0


def test_backfill_of_a_longer_timeframe_moves_more() -> None:
    def spread(tf_ms: int) -> Decimal:
        c = backfill(7, "BTC/USDT", tf_ms, T0, D(50000), D("0.1"), 200)
        return sum((x.high - x.low for x in c), D(0)) / len(c)

    assert spread(MINUTE_MS) < spread(3_600_000) < spread(86_400_000)


def test_a_since_before_the_first_candle_starts_at_it() -> None:
    now = T0 + 10 * MINUTE_MS
    assert window(MINUTE_MS, now, 0, 2, T0 + MINUTE_MS) == Window(T0 + MINUTE_MS,
                                                                  T0 + 2 * MINUTE_MS)
    assert window(MINUTE_MS, now, T0 + 5 * MINUTE_MS, 1, T0) == Window(T0 + 5 * MINUTE_MS,
                                                                       T0 + 5 * MINUTE_MS)
