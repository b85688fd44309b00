"""Uvicorn factory entry point: `uvicorn --factory apps.api.main:app_from_env`."""

from __future__ import annotations

from fastapi import FastAPI

from apps.api.app import create_app
from apps.oms.config import load_settings
from apps.oms.observability import configure_logging


def app_from_env() -> FastAPI:
    settings = load_settings()
    configure_logging(settings.logging.level, settings.logging.format)
    return create_app(settings)
