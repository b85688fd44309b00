"""Prometheus instruments of every process (API and worker) and their cheap hooks.

Failed authentications are counted where they are decided (`oms_auth_failures_total{reason}`,
apps/oms/service/auth.py). Hooks only touch memory (a counter increment, a histogram observation): no I/O on hot paths.
Values that live in the store (queue depth and age, outbox lag, live workers) are read when
`GET /metrics` is scraped (`apps/oms/store/gauges.py`).

Several processes: set `PROMETHEUS_MULTIPROC_DIR` to an empty directory shared by the API
workers and the worker processes of a host *before they start*; every process then writes its
values there and `/metrics` aggregates them (prometheus-client's multiprocess mode). Without it
each process keeps its own values (fine for `ccxt-oms up`, one process). See docs/operations.md.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

log = logging.getLogger("apps.metrics")
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
disable_created_metrics()  # type: ignore[no-untyped-call]  # no `*_created` series: half the lines, nothing dashboards use
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

COMMANDS = Counter(
    "oms_commands_total",
    "Commands finished by the workers, by type and outcome (completed / failed)",
    ["command_type", "outcome"],
)
COMMAND_LATENCY = Histogram(
    "oms_command_latency_seconds",
    "From acceptance (created_at) to the worker's finish, by type and outcome",
    ["command_type", "outcome"],
    buckets=LATENCY_BUCKETS,
)
VENUE_LATENCY = Histogram(
    "oms_venue_call_seconds",
    "Exchange (CCXT) calls made by the workers, by exchange and method",
    ["exchange", "method"],
    buckets=LATENCY_BUCKETS,
)
VENUE_ERRORS = Counter(
    "oms_venue_errors_total",
    "Exchange calls that raised, by exchange, method and CCXT error class",
    ["exchange", "method", "error"],
)
GROUP_SIZE = Histogram(
    "oms_worker_group_accounts",
    "Accounts whose write-ahead or record transactions a worker wrote in one group commit"
    " (1 = alone)",
    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32, 64),
)
GROUP_FALLBACKS = Counter(
    "oms_worker_group_rollbacks_total",
    "Group commits rolled back by an error (each account of the group then ran alone)",
)
SEND_STAGE = Histogram(
    "oms_send_stage_seconds",
    "Where a batch of sends spends its time: write_ahead, place (the venue call), record (each"
    " as the account task waits for it), and of a group commit group_wait (a request waiting"
    " for the group before it) and group_tx (the group's transaction)",
    ["stage"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
)
WEBSOCKET_CLIENTS = Gauge(
    "oms_websocket_clients",
    "Connected websocket clients (summed over the live API processes)",
    multiprocess_mode="livesum",
)
BUS_CONSUMER_LAG = Gauge(
    "oms_bus_consumer_lag_events",
    "Events on the bus that this API process's consumer has not received yet (bus.consume)",
    ["process"],
    multiprocess_mode="liveall",
)
BUDGET_UNITS = Counter(
    "oms_budget_units_total",
    "Request budget spent, in the exchange's units (Binance: weight), by account and purpose"
    " (order / read)",
    ["account", "purpose"],
)
BUDGET_WAIT = Histogram(
    "oms_budget_wait_seconds",
    "Time exchange calls waited for request budget, by account and purpose",
    ["account", "purpose"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
BUDGET_REFUSED = Counter(
    "oms_budget_refused_total",
    "Exchange calls refused before being sent (RateLimitExceeded), by account and reason"
    " (share: an API key past its share of the reads; timeout: no budget before its timeout)",
    ["account", "reason"],
)
BUDGET_USED = Gauge(
    "oms_budget_exchange_used_units",
    "The exchange's own count of the current window (Binance X-MBX-USED-WEIGHT-1M), by budget",
    ["budget"],
    multiprocess_mode="max",
)
REST_CALLS = Counter(
    "oms_rest_calls_total",
    "REST calls made to exchanges through CCXT, by exchange and purpose (order / read)",
    ["exchange", "purpose"],
)

ORDER_STREAM_UP = Gauge(
    "oms_order_stream_up",
    "1 while an account's private order stream is up (its fills booked as they arrive), 0 while"
    " it is down and the order sync polls",
    ["account"],
    multiprocess_mode="liveall",
)
ORDER_STREAM_RECONNECTS = Counter(
    "oms_order_stream_reconnects_total",
    "Times an account's private order stream failed and was opened again",
    ["account"],
)
FILL_BOOKED = Histogram(
    "oms_fill_booked_seconds",
    "From a fill's time on the venue to its booking, by how the gateway learned of it: stream,"
    " poll (no stream) or repair (the REST round that follows a reconnect, a gap or a period)",
    ["path"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SYNC_REST_CALLS = Counter(
    "oms_sync_rest_calls_total",
    "REST requests the order sync made, by purpose: poll (no stream) or repair",
    ["purpose"],
)


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROCESS_ENV))


def command_finished(
    command_type: str, outcome: str, created_at: datetime | None, finished_at: datetime
) -> None:
    """A worker finished a command (called in its record step; never raises: a metrics
    problem must not fail a command)."""
    try:
        COMMANDS.labels(command_type, outcome).inc()
        if created_at is not None:
            if created_at.tzinfo is None and finished_at.tzinfo is not None:
                created_at = created_at.replace(tzinfo=finished_at.tzinfo)  # SQLite drops the zone
            seconds = max(0.0, (finished_at - created_at).total_seconds())
            COMMAND_LATENCY.labels(command_type, outcome).observe(seconds)
    except Exception:  # pragma: no cover - defensive
        log.warning("command metrics failed", exc_info=True)


@contextmanager
def venue_call(exchange: str, method: str) -> Iterator[None]:
    """Time one exchange call; count it as an error (by class name) if it raises."""
    started = time.perf_counter()
    try:
        yield
    except Exception as exc:
        VENUE_ERRORS.labels(exchange, method, type(exc).__name__).inc()
        raise
    finally:
        VENUE_LATENCY.labels(exchange, method).observe(time.perf_counter() - started)



def forget_process_metrics() -> None:
    """On a clean process exit in multiprocess mode: drop its live gauges (websocket clients)."""
    if multiprocess():
        from prometheus_client import multiprocess as mp

        mp.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
