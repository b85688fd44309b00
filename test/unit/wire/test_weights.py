"""The served venue's weight limit: counted per address and window, 429 past it (not counted),
418 to an address that keeps on, for the ban's length; off by default."""

from __future__ import annotations

import pytest

from apps.paper.wire.weights import OrderCounts, Verdict, Weights


def test_without_a_limit_weight_is_only_counted() -> None:
    weights = Weights()
    for _ in range(10):
        assert weights.admit(1000, 0, "a") is None
        weights.add(1000, 0, "a")
    assert weights.used["a"] == 10_000


def test_past_the_limit_429_until_the_window_ends_then_418() -> None:
    weights = Weights(limit=10, window_ms=60_000, ban_after=3, ban_s=120)
    assert weights.admit(10, 1_000, "a") is None
    weights.add(10, 1_000, "a")
    assert weights.admit(1, 1_500, "b") is None  # another address has its own weight
    assert weights.admit(1, 2_000, "a") == Verdict(False, 58)  # the window ends at 60 s
    assert weights.admit(1, 59_001, "a") == Verdict(False, 1)  # rounded up, never 0
    assert weights.used["a"] == 10  # refused requests are not counted
    assert weights.admit(1, 59_500, "a") == Verdict(True, 120)  # the third strike bans
    assert weights.admit(1, 61_000, "a") == Verdict(True, 119)  # a ban outlives the window
    assert weights.admit(1, 179_500, "a") is None  # and ends
    assert (weights.show()["refused"], weights.show()["banned"]) == (2, 2)  # the answers given


def test_a_new_window_forgives_strikes() -> None:
    weights = Weights(limit=1, window_ms=1_000, ban_after=2)
    weights.add(1, 0, "a")
    assert weights.admit(1, 10, "a") == Verdict(False, 1)
    assert weights.admit(1, 1_010, "a") is None


def test_configure_checks_and_resets() -> None:
    weights = Weights(limit=1)
    weights.add(1, 0, "a")
    weights.configure(5, window_ms=2_000)
    assert weights.used == {}
    assert weights.show() == {"limit": 5, "window_ms": 2_000, "ban_after": 3, "ban_s": 120,
                              "refused": 0, "banned": 0}  # fmt: skip
    assert weights.message_limit() == 5
    with pytest.raises(ValueError, match="window_ms"):
        weights.configure(1, window_ms=0)


def test_orders_are_counted_per_key_in_10_s_and_a_day() -> None:
    counts = OrderCounts()
    assert counts.add("k", 1_000) == (1, 1)
    assert counts.add("k", 9_999) == (2, 2)
    assert counts.add("other", 9_999) == (1, 1)
    assert counts.add("k", 10_000) == (1, 3)  # a new 10-s window, the same day
    assert counts.add("k", 86_400_000) == (1, 1)  # a new day
