"""The request budget around CCXT instances: every call an instance makes waits for units of
its exchange limit's budget (`apps/oms/domain/request_budget.py`), shared by every process
through the store (`apps/oms/store/request_budgets.py`), and the exchange's rate-limit headers
correct it.

The hook, per instance and without touching CCXT's classes: with `enableRateLimit`, CCXT's
`fetch2` computes each endpoint's cost from its own tables (`calculate_rate_limiter_cost`) and
awaits `self.throttle(cost)` before sending; the instance gets three attributes of its own that
shadow those methods: `calculate_rate_limiter_cost` (CCXT's, plus the call's purpose: anything
but GET is order entry), `throttle` (waits for the budget instead of CCXT's in-process bucket)
and `on_rest_response` (reads the headers of every answer). Overriding `fetch2` instead would
copy CCXT's retry loop; a throttler object in `self.throttler` would not see the method.

Units per exchange (`PROFILES`): Binance spot counts request weight per IP, 6000 a minute, and
CCXT's costs are weight / 5; USDⓈ-M 2400 a minute, costs equal to weights. Other exchanges count
per account and endpoint; their budget is CCXT's own (1 s of `1000 / rateLimit` cost units)
per account, stopped when Bybit's `X-Bapi-Limit-Status` says an endpoint is spent (OKX sends
no such header). `budget.limits` in the settings overrides a limit (a local venue's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

from apps.oms import metrics
from apps.oms.config import BudgetSettings
from apps.oms.domain.request_budget import (
    ORDER,
    READ,
    REFUSE,
    RESERVE,
    SPEND,
    Limit,
    Purse,
)
from apps.oms.exchange.ccxt_errors import errors as ccxt_errors

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Profile:
    """An exchange's limit: `units` per `window_ms` (None: CCXT's own rate, one second of it),
    `per_cost` units per CCXT cost, counted per IP or per account."""

    units: Decimal | None
    window_ms: int
    per_cost: Decimal
    per_ip: bool


PROFILES: dict[str, Profile] = {
    "binance": Profile(Decimal(6000), 60_000, Decimal(5), per_ip=True),
    "binanceusdm": Profile(Decimal(2400), 60_000, Decimal(1), per_ip=True),
}
OWN = Profile(None, 1_000, Decimal(1), per_ip=False)
USED_HEADER = "x-mbx-used-weight-1m"


@dataclass(frozen=True, slots=True)
class Caller:
    """Whose read an exchange call is (an API key's `/ccxt` read), and until when it may wait
    (the event loop's clock)."""

    api_key_id: int
    deadline: float


CALLER: ContextVar[Caller | None] = ContextVar("budget_caller", default=None)
_PURPOSE: ContextVar[str] = ContextVar("budget_purpose", default=READ)
_SENT_MS: ContextVar[int | None] = ContextVar("budget_sent_ms", default=None)


@contextlib.contextmanager
def reads_of(api_key_id: int, timeout_s: float) -> Iterator[None]:
    """The calls made inside are `api_key_id`'s: a fair share of the reads, and refused
    (`BudgetExceeded`) rather than delayed past `timeout_s`."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    token = CALLER.set(Caller(api_key_id, deadline))
    try:
        yield
    finally:
        CALLER.reset(token)


_RateLimitExceeded: Any = ccxt_errors.RateLimitExceeded  # a class of a module loaded by path


class BudgetExceeded(_RateLimitExceeded):  # type: ignore[misc]
    """The budget refused a call before it was sent: the exchange's own error class, with the
    seconds after which to try again (the API's `Retry-After`). Clients see CCXT's class name
    (`details.ccxt_error`), so a CCXT-shaped client raises its own `RateLimitExceeded`."""

    ccxt_error = "RateLimitExceeded"

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


Ledger = Callable[[str, Limit, str, Decimal, Decimal, int], Awaitable[Decimal]]


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class Budget:
    """One limit's budget in this process: a `Purse` of slices reserved through `ledger`, one
    reservation at a time; order entry first (a read waits while an order does)."""

    def __init__(self, key: str, limit: Limit, ledger: Ledger,
                 clock_ms: Callable[[], int] = wall_ms) -> None:  # fmt: skip
        self.key, self.limit, self.ledger, self.clock_ms = key, limit, ledger, clock_ms
        self.purse = Purse(limit)
        self._reserving = asyncio.Lock()
        self._orders_waiting = 0
        self._no_orders = asyncio.Event()
        self._no_orders.set()

    async def spend(self, units: Decimal, purpose: str, account: str, timeout_s: float) -> None:
        """Wait for `units` of the budget; `BudgetExceeded` when the caller's key is past its
        share, or when the wait would outlast the caller's deadline (else `timeout_s`)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        caller = CALLER.get() if purpose == READ else None
        deadline = caller.deadline if caller is not None else started + timeout_s
        if purpose == ORDER:
            self._orders_waiting += 1
            self._no_orders.clear()
        try:
            await self._wait_for(units, purpose, caller, deadline, account)
        finally:
            if purpose == ORDER:
                self._orders_waiting -= 1
                if not self._orders_waiting:
                    self._no_orders.set()
            metrics.BUDGET_WAIT.labels(account, purpose).observe(loop.time() - started)
        metrics.BUDGET_UNITS.labels(account, purpose).inc(float(units))

    async def _wait_for(self, units: Decimal, purpose: str, caller: Caller | None,
                        deadline: float, account: str) -> None:  # fmt: skip
        loop = asyncio.get_running_loop()
        key = caller.api_key_id if caller is not None else None
        while True:
            if purpose == READ and not self._no_orders.is_set():
                await self._pause(self._no_orders.wait(), deadline, account)
                continue
            now = self.clock_ms()
            step = self.purse.take(units, purpose, now, key)
            if step.kind == SPEND:
                return
            if step.kind == REFUSE:
                metrics.BUDGET_REFUSED.labels(account, "share").inc()
                raise BudgetExceeded(f"{self.key}: API key {key} is past its share of the "
                                     "reads", _seconds(step.until_ms - now))  # fmt: skip
            if step.kind == RESERVE:
                async with self._reserving:
                    now = self.clock_ms()
                    step = self.purse.take(units, purpose, now, key)  # after the calls before
                    if step.kind == SPEND:
                        return
                    if step.kind == RESERVE:
                        granted = await self._reserve(purpose, step.units, now)
                        self.purse.credit(purpose, step.units, granted, now)
                continue
            wait_s = (step.until_ms - now) / 1000
            if loop.time() + wait_s > deadline:
                metrics.BUDGET_REFUSED.labels(account, "timeout").inc()
                raise BudgetExceeded(f"{self.key}: no request budget before the call's timeout",
                                     _seconds(step.until_ms - now))  # fmt: skip
            await asyncio.sleep(wait_s)

    async def _reserve(self, purpose: str, wanted: Decimal, now: int) -> Decimal:
        """A slice from the store; while the store fails, from this process alone, within what
        the exchange last said was left of the purpose's cap (trading must not stop for the
        budget's book-keeping; the exchange's headers still stop it short of the limit)."""
        try:
            return await self.ledger(self.key, self.limit, purpose, wanted, self.purse.observed,
                                     now)  # fmt: skip
        except Exception:
            log.warning("request budget %s: the store failed; spending alone", self.key,
                        exc_info=True)  # fmt: skip
            room = self.limit.cap(purpose) - self.purse.observed - self.purse.spent
            return max(Decimal(0), min(wanted, room))

    async def _pause(self, waiting: Awaitable[Any], deadline: float, account: str) -> None:
        try:
            await asyncio.wait_for(waiting, max(0.0, deadline - asyncio.get_running_loop().time()))
        except TimeoutError:
            metrics.BUDGET_REFUSED.labels(account, "timeout").inc()
            raise BudgetExceeded(f"{self.key}: order entry took the budget until the call's "
                                 "timeout", 1) from None  # fmt: skip

    def observe(self, status: int, headers: dict[str, Any], sent_ms: int | None = None) -> None:
        """The exchange's own word on its limit, from an answer's headers. The count of an
        answer to a request sent in an earlier window is the earlier window's: not taken."""
        lower = {str(k).lower(): str(v) for k, v in headers.items()}
        now = self.clock_ms()
        used = lower.get(USED_HEADER)
        same_window = sent_ms is None or self.limit.window_of(sent_ms) == self.limit.window_of(now)
        if used is not None and used.isdigit() and same_window:
            self.purse.observe_used(Decimal(used), now)
            metrics.BUDGET_USED.labels(self.key).set(int(used))
        if lower.get("x-bapi-limit-status") == "0":
            reset = lower.get("x-bapi-limit-reset-timestamp", "")
            self.purse.block(int(reset) if reset.isdigit() else now + 1_000)
        retry = lower.get("retry-after", "")
        if status in (418, 429) and retry.isdigit():
            self.purse.block(now + int(retry) * 1000)


def _seconds(ms: int) -> int:
    return max(1, math.ceil(ms / 1000))


class Budgets:
    """This process's budgets, one per exchange limit (several accounts on one Binance IP
    share one), and the hook that makes an instance spend from its budget."""

    def __init__(self, ledger: Ledger, settings: BudgetSettings) -> None:
        self.ledger, self.settings = ledger, settings
        self._budgets: dict[str, Budget] = {}

    def limit_of(self, exchange: Any) -> tuple[Limit, bool]:
        """The exchange's limit in its units, and whether it is counted per IP."""
        profile = PROFILES.get(str(exchange.id), OWN)
        own = self.settings.limits.get(str(exchange.id))
        units = profile.units or Decimal(profile.window_ms) / Decimal(str(exchange.rateLimit))
        window_ms = profile.window_ms
        if own is not None:
            units, window_ms = own.units, own.window_ms
        return Limit(units, window_ms, profile.per_cost, self.settings.read_share,
                     self.settings.slice_share), profile.per_ip  # fmt: skip

    def budget_of(self, exchange: Any, account_id: int) -> Budget:
        limit, per_ip = self.limit_of(exchange)
        scope = f"ip:{self.settings.ip_label}" if per_ip else f"account:{account_id}"
        key = f"{exchange.id}|{_host(exchange)}|{scope}"[:191]
        budget = self._budgets.get(key)
        if budget is None:
            budget = self._budgets[key] = Budget(key, limit, self.ledger)
        return budget

    def attach(self, exchange: Any, account_id: int) -> Budget:
        """Make `exchange` (a CCXT async instance, `enableRateLimit` on) spend from its budget:
        the three instance attributes of the module's docstring."""
        budget = self.budget_of(exchange, account_id)
        account, name = str(account_id), str(exchange.id)
        cost_of = exchange.calculate_rate_limiter_cost
        on_response = exchange.on_rest_response

        def calculate_rate_limiter_cost(api: Any, method: str, path: str, params: Any,
                                        config: Any = None) -> Any:  # fmt: skip
            purpose = READ if str(method).upper() == "GET" else ORDER
            _PURPOSE.set(purpose)  # read by `throttle`, awaited next by the same task
            metrics.REST_CALLS.labels(name, purpose).inc()
            return cost_of(api, method, path, params, {} if config is None else config)

        async def throttle(cost: Any = None) -> None:
            units = budget.limit.units_of(Decimal(str(1 if cost is None else cost)))
            await budget.spend(units, _PURPOSE.get(), account, exchange.timeout / 1000)
            _SENT_MS.set(budget.clock_ms())  # read by `on_rest_response`, in the same task

        def on_rest_response(code: int, reason: str, url: str, method: str,
                             headers: dict[str, Any], *rest: Any) -> Any:  # fmt: skip
            with contextlib.suppress(Exception):  # a header we cannot read changes nothing
                budget.observe(int(code), headers, _SENT_MS.get())
            return on_response(code, reason, url, method, headers, *rest)

        exchange.calculate_rate_limiter_cost = calculate_rate_limiter_cost
        exchange.throttle = throttle
        exchange.on_rest_response = on_rest_response
        return budget


def _host(exchange: Any) -> str:
    """The host of the instance's REST API (its limit is that host's: spot and futures, live
    and testnet, a local venue, each count apart)."""
    api = exchange.urls.get("api")
    urls = api if isinstance(api, dict) else {"rest": api}
    for name in ("public", "rest", "fapiPublic", "spot", *sorted(urls)):
        url = urls.get(name)
        if isinstance(url, str) and url.startswith("http"):
            return urlparse(str(exchange.implode_hostname(url))).netloc  # Bybit's `{hostname}`
    return "?"
