"""The engine agrees with the independent reference model on thousands of random command
sequences (fills, external fills, duplicates, close-by, merge) in every position mode."""

from __future__ import annotations

import pytest

from apps.oms.domain.enums import PositionMode
from books.runner import run_sequence

SHORT_SEQUENCES_PER_MODE = 1000
LONG_SEQUENCES_PER_MODE = 50


@pytest.mark.parametrize("mode", list(PositionMode))
def test_engine_matches_reference_on_short_sequences(mode: PositionMode) -> None:
    for seed in range(SHORT_SEQUENCES_PER_MODE):
        run_sequence(mode, seed, steps=12)


@pytest.mark.parametrize("mode", list(PositionMode))
def test_engine_matches_reference_step_by_step_on_long_sequences(mode: PositionMode) -> None:
    for seed in range(LONG_SEQUENCES_PER_MODE):
        run_sequence(mode, 10_000 + seed, steps=60, every_step=True)
