"""Fixtures of the bus tests: a real nats-server per test (`nats`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .nats_server import NatsServer


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats")
    server.start()
    try:
        yield server
    finally:
        server.stop()
