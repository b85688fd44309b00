"""`GET /metrics`: Prometheus text. Instruments of every process of the host (multiprocess mode
when `PROMETHEUS_MULTIPROC_DIR` is set, see apps/oms/metrics.py) plus values read from the store
at scrape time. No key needed unless `api.public_metrics` is false (then an admin key)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from apps.api.deps import SettingsDep, StoreDep
from apps.oms import metrics
from apps.oms.clock import utcnow
from apps.oms.errors import PermissionDenied
from apps.oms.service.auth import authenticate
from apps.oms.store import bus_state
from apps.oms.store.gauges import StoreGauges, read_gauges

router = APIRouter(tags=["health"])


class ScrapeCollector(Collector):
    """The store's values and this API process's stream position, as of this scrape."""

    def __init__(self, gauges: StoreGauges, delivered_seq: int | None,
                 published_seq: int | None = None) -> None:  # fmt: skip
        self.gauges = gauges
        self.delivered_seq = delivered_seq
        self.published_seq = published_seq  # on the bus (None: no bus configured)

    def collect(self) -> Iterator[Metric]:
        g = self.gauges
        depth = GaugeMetricFamily("oms_queue_depth", "Unfinished commands", labels=["status"])
        age = GaugeMetricFamily(
            "oms_queue_oldest_age_seconds",
            "Age of the oldest unfinished command",
            labels=["status"],
        )
        for status, count in g.queue_depth.items():
            depth.add_metric([status], count)
            age.add_metric([status], g.queue_oldest_age[status])
        yield depth
        yield age
        yield GaugeMetricFamily(
            "oms_outbox_unsequenced_events",
            "Committed outbox events still waiting for their stream seq",
            value=g.unsequenced_events,
        )
        yield GaugeMetricFamily(
            "oms_outbox_lag_seconds",
            "Age of the oldest committed outbox event without a seq (0 when none)",
            value=g.unsequenced_oldest_age,
        )
        yield GaugeMetricFamily(
            "oms_stream_head_seq", "Last sequenced event", value=g.stream_head_seq
        )
        if self.delivered_seq is not None:
            yield GaugeMetricFamily(
                "oms_stream_delivery_lag_events",
                "Sequenced events this API process has not yet pushed to its websocket clients",
                value=max(0, g.stream_head_seq - self.delivered_seq),
            )
        if self.published_seq is not None:
            yield GaugeMetricFamily(
                "oms_bus_publication_lag_events",
                "Sequenced events not yet acknowledged by the bus (as the publisher last wrote)",
                value=max(0, g.stream_head_seq - self.published_seq),
            )
        yield GaugeMetricFamily(
            "oms_workers_alive", "Workers with a recent heartbeat", value=g.workers_alive
        )
        lag = GaugeMetricFamily(
            "oms_reconciliation_lag_seconds",
            "Seconds since the account's newest reconciliation run (absent: never reconciled)",
            labels=["account_id"],
        )
        for account_id, seconds in sorted(g.reconcile_age.items()):
            lag.add_metric([str(account_id)], seconds)
        yield lag


def process_metrics() -> bytes:
    if not metrics.multiprocess():
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


async def _require_admin(store: StoreDep, settings: SettingsDep, key: str | None) -> None:
    principal = await authenticate(store, settings.security.api_key_pepper.get_secret_value(), key)
    if not principal.is_admin:
        raise PermissionDenied(
            "metrics need an admin key (api.public_metrics is false)", code="admin_required"
        )


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format",
        }
    },
)
async def get_metrics(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    x_api_key: Annotated[str | None, Header(description="admin key if metrics are private")] = None,
) -> Response:
    if not settings.api.public_metrics:
        await _require_admin(store, settings, x_api_key)
    async with store.read() as conn:
        # alive as /readyz and lease takeover count it: a beat within `dead_after_seconds`
        max_age = timedelta(seconds=settings.worker.dead_after_seconds)
        gauges = await read_gauges(conn, utcnow(), max_age)
        published = await bus_state.published_seq(conn) if settings.bus.enabled else None
    hub = getattr(request.app.state, "stream_hub", None)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ScrapeCollector(gauges, getattr(hub, "last_seq", None), published))
    body = process_metrics() + generate_latest(registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
