"""R1 of quality.md: the worker is SIGKILLed repeatedly under load, on real processes and a fresh
MariaDB database; ends with the invariants of `invariants.py`. Bounded: the load is fixed, every
wait has a deadline, and the stack is torn down (processes killed, database dropped) on failure."""

from __future__ import annotations

import logging
import random
import threading
import time
from pathlib import Path

import pytest

from .conftest import make_stack
from .invariants import check
from .load import Load
from .reliability import accounts_of, sql, wait_registered

# generous: these tests assert what happens, never how fast (speed belongs to bench/)
pytestmark = [pytest.mark.mysql, pytest.mark.slow, pytest.mark.timeout(1800)]
log = logging.getLogger(__name__)


def test_r1_kill_9_worker_repeatedly(tmp_path: Path) -> None:
    """R1: 1,000 mixed commands over 10 accounts while the worker is SIGKILLed every 1-2 s of
    its working life and restarted."""
    with make_stack(tmp_path, workers=0) as stack:
        modes = accounts_of(stack, 10)
        load = Load(stack, modes, seed=1)
        stop, kills, rng = threading.Event(), [0], random.Random(7)

        def chaos() -> None:
            while not stop.is_set():
                proc = stack.start_worker()
                wait_registered(stack, proc, stop)
                if stop.wait(rng.uniform(1.0, 2.0)):
                    return  # the last worker stays up to finish the work
                stack.kill(proc)
                kills[0] += 1

        killer = threading.Thread(target=chaos)
        killer.start()
        try:
            load.run(1000)
            while kills[0] < 6:  # keep killing while the queue drains
                time.sleep(0.2)
        finally:
            stop.set()
            killer.join(60)
        # a command whose worker was killed under it more than 5 times fails `internal_error`
        # (the poison-command cap); a send that may be on the venue is exempt and looked up
        counts = check(stack.url, list(modes), load.accepted, settle_seconds=600,
                       also_failing=frozenset({"internal_error"}))
        ((retried,),) = sql(stack, "SELECT COUNT(*) FROM commands WHERE attempts > 1")
        log.info("R1: %s, worker kills %d, re-attempted commands %s", counts, kills[0], retried)
        assert counts["commands"] >= 1000
        assert kills[0] >= 6
