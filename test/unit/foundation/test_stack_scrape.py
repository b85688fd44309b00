"""Regression (issue 36, item 2): the production stack scrapes every process. The compose file's
worker serves its own metrics on the compose network, the Prometheus configuration it mounts
scrapes the API and every worker container on that port, and the settings read that port."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from apps.oms.config import load_settings

ROOT = Path(__file__).resolve().parents[3]


def _load(name: str) -> Any:
    return yaml.safe_load((ROOT / name).read_text())


def test_compose_wires_worker_metrics_into_prometheus() -> None:
    stack = _load("docker-compose.stack.yml")
    worker_env = stack["services"]["worker"]["environment"]
    port = int(worker_env["OMS_WORKER__METRICS_PORT"])
    assert worker_env["OMS_WORKER__METRICS_HOST"] == "0.0.0.0"
    assert str(port) in stack["services"]["worker"]["expose"]
    prometheus = stack["services"]["prometheus"]
    mounted = {v.split(":")[0]: v.split(":")[1] for v in prometheus["volumes"]}
    assert mounted["./docs/prometheus.yml"] == "/etc/prometheus/prometheus.yml"

    jobs = {job["job_name"]: job for job in _load("docs/prometheus.yml")["scrape_configs"]}
    api_port = stack["services"]["api"]["environment"]["OMS_API_PORT"]
    assert jobs["ccxt-oms-api"]["static_configs"][0]["targets"] == [f"api:{api_port}"]
    (workers,) = jobs["ccxt-oms-worker"]["dns_sd_configs"]
    assert (workers["names"], workers["port"]) == (["worker"], port)

    settings = load_settings(worker={"metrics_port": port, "metrics_host": "0.0.0.0"})
    assert settings.worker.metrics_port == port


def test_worker_metrics_are_off_by_default() -> None:
    assert load_settings().worker.metrics_port == 0
