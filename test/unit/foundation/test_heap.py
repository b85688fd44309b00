"""The start-up heap is frozen out of full garbage collections by the process entry points
(`apps/oms/heap.py`), and only by them: the factories tests call leave the collector alone."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.api import main as api_main
from apps.oms import heap
from apps.oms.config import load_settings
from apps.worker import main as worker_main


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """This test process's heap as the collector had it (nothing stays frozen after a test)."""
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("unfrozen")
def test_settle_moves_the_surviving_heap_out_of_full_collections() -> None:
    walked_before = len(gc.get_objects(generation=2))
    frozen = heap.settle("test")
    assert frozen == gc.get_freeze_count() > 0
    # what a full collection walks now is what was allocated since, not the start-up heap
    assert len(gc.get_objects(generation=2)) < walked_before / 10


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The processes that settled (`heap.settle` recorded instead of run)."""
    calls: list[str] = []
    monkeypatch.setattr(heap, "settle", calls.append)
    return calls


def test_the_api_entry_point_settles_and_the_factory_does_not(
    settled: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(api_main, "configure_logging", lambda *_: None)  # this process's logs
    monkeypatch.setenv("OMS_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'oms.sqlite3'}")
    settings = load_settings()
    api_main.create_app(settings)
    assert settled == []
    api_main.app_from_env()
    assert settled == ["api"]


def test_the_worker_entry_point_settles_before_it_runs(
    settled: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async def run(self: worker_main.Worker, stop: asyncio.Event) -> None:
        settled.append("run")

    monkeypatch.setattr(worker_main.Worker, "run", run)
    settings = load_settings(database={"url": f"sqlite+aiosqlite:///{tmp_path / 'w.sqlite3'}"})
    asyncio.run(worker_main.run_worker(settings))
    assert settled == ["worker", "run"]
