"""R1 of quality.md: the worker is SIGKILLed repeatedly under load, on real processes and a fresh
MariaDB database; ends with the invariants of `invariants.py`. Bounded: the load is fixed, every
wait has a deadline, and the stack is torn down (processes killed, database dropped) on failure."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from .conftest import make_stack
from .invariants import check
from .load import Load
from .reliability import WorkerChaos, accounts_of, sql

# generous: these tests assert what happens, never how fast (speed belongs to bench/)
pytestmark = [pytest.mark.mysql, pytest.mark.slow, pytest.mark.reliability, pytest.mark.timeout(1800)]
log = logging.getLogger(__name__)


def test_r1_kill_9_worker_repeatedly(tmp_path: Path) -> None:
    """R1: 1,000 mixed commands over 10 accounts while the worker is SIGKILLed every 1-2 s of
    its working life and restarted."""
    with make_stack(tmp_path, workers=0) as stack:
        modes = accounts_of(stack, 10)
        load = Load(stack, modes, seed=1)
        chaos = WorkerChaos(stack, pause=(1.0, 2.0), seed=7)
        chaos.start()
        try:
            load.run(1000)
            while chaos.kills < 6 and chaos.running():  # keep killing while the queue drains
                time.sleep(0.2)
        finally:
            chaos.stop()  # returns with a worker running, to finish the work
        # a command whose worker was killed under it more than 5 times fails `internal_error`
        # (the poison-command cap); a send that may be on the venue is exempt and looked up
        counts = check(stack.url, list(modes), load.accepted, settle_seconds=600,
                       also_failing=frozenset({"internal_error"}))
        ((retried,),) = sql(stack, "SELECT COUNT(*) FROM commands WHERE attempts > 1")
        log.info("R1: %s, worker kills %d, re-attempted commands %s", counts, chaos.kills, retried)
        assert counts["commands"] >= 1000
        assert chaos.kills >= 6
