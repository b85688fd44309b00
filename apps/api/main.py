"""Uvicorn factory entry point: `uvicorn --factory apps.api.main:app_from_env`."""

from __future__ import annotations

from fastapi import FastAPI

from apps.api.app import create_app
from apps.oms import heap
from apps.oms.config import load_settings
from apps.oms.observability import configure_logging


def app_from_env() -> FastAPI:
    settings = load_settings()
    configure_logging(settings.logging.level, settings.logging.format)
    app = create_app(settings)
    heap.settle("api")  # imports done: out of full GC walks (apps/oms/heap.py)
    return app
