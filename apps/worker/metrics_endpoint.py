"""The worker's own Prometheus endpoint (`worker.metrics_port`; 0, the default, is off): this
process's counters and histograms (commands, their latency, venue calls, group commits) on
`http://<worker.metrics_host>:<port>/metrics`, one scrape target per worker process
(docs/operations.md → Metrics). prometheus-client's threaded server answers the scrapes, off the
worker's event loop."""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import start_http_server

from apps.oms import metrics
from apps.oms.config import Settings
from apps.oms.listen import port_refused

log = logging.getLogger("apps.worker")


def serve_metrics(settings: Settings) -> Callable[[], None] | None:
    """Start the endpoint when configured; returns its `close`. A port that cannot be bound
    stops the start with `OmsError` (the worker would otherwise run unobserved)."""
    host, port = settings.worker.metrics_host, settings.worker.metrics_port
    if not port:
        return None
    if metrics.multiprocess():
        log.warning("worker.metrics_port is set and so is %s: an API of this host also reports "
                    "this worker's counters; scrape one of them, not both (docs/operations.md "
                    "→ Metrics)", metrics.MULTIPROCESS_ENV)  # fmt: skip
    try:
        server, thread = start_http_server(port, addr=host)
    except OSError as exc:
        raise port_refused("worker metrics", host, port, exc,
                           "OMS_WORKER__METRICS_PORT=<port>") from exc  # fmt: skip
    log.info("worker metrics on http://%s:%d/metrics", host, port)

    def close() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return close
