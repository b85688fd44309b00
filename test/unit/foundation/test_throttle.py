"""The failed-authentication throttle (pure, with a settable clock)."""

from apps.oms.security.throttle import FailureThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_scope_is_throttled_after_limit_and_recovers() -> None:
    clock = Clock()
    throttle = FailureThrottle(limit=3, window=60, clock=clock)
    for n in (1, 2):
        assert throttle.fail("a") == n
        assert throttle.retry_after("a") == 0
    throttle.fail("a")
    assert throttle.retry_after("a") == 60
    assert throttle.retry_after("b") == 0  # other scopes unaffected
    clock.now += 30
    assert throttle.retry_after("a") == 30
    clock.now += 30.5
    assert throttle.retry_after("a") == 0


def test_sliding_window_counts_only_recent_failures() -> None:
    clock = Clock()
    throttle = FailureThrottle(limit=3, window=10, clock=clock)
    throttle.fail("a")
    clock.now += 9
    throttle.fail("a")
    clock.now += 2  # the first failure aged out
    throttle.fail("a")
    assert throttle.retry_after("a") == 0
    throttle.fail("a")
    assert throttle.retry_after("a") > 0
