"""R2 of quality.md: the API is SIGKILLed under load, clients re-send, on real processes and a
fresh MariaDB database; ends with the invariants of `invariants.py`. Bounded: the load is fixed,
every wait has a deadline, and the stack is torn down (processes killed, database dropped) on
failure."""

from __future__ import annotations

import logging
import random
import threading
from pathlib import Path

import pytest

from .conftest import make_stack
from .invariants import check
from .load import Load
from .reliability import accounts_of, sql

# generous: these tests assert what happens, never how fast (speed belongs to bench/)
pytestmark = [pytest.mark.mysql, pytest.mark.slow, pytest.mark.reliability, pytest.mark.timeout(1800)]
log = logging.getLogger(__name__)


def test_r2_kill_9_api_under_load(tmp_path: Path) -> None:
    """R2: the API is SIGKILLed and restarted during load; the client re-sends after connection
    errors with the same request ids. Every acknowledged command is stored once and executes."""
    with make_stack(tmp_path, workers=1) as stack:
        modes = accounts_of(stack, 5)
        load = Load(stack, modes, seed=2, retry=True)
        stop, kills = threading.Event(), [0]

        def chaos() -> None:  # kill 1-2 s after each (re)started API answers, 4 times
            while kills[0] < 4 and not stop.wait(random.uniform(1.0, 2.0)):
                assert stack.api is not None
                stack.kill(stack.api)
                kills[0] += 1
                stack.start_api()

        killer = threading.Thread(target=chaos)
        killer.start()
        try:
            load.run(200, while_=killer.is_alive)  # the load outlasts all 4 kills
        finally:
            stop.set()
            killer.join(60)
        stack.wait_api()
        stored = {(int(a), str(r)): int(i) for i, a, r in sql(
            stack, "SELECT id, account_id, request_id FROM commands WHERE request_id LIKE 'r%%'")}
        assert stored == load.acked  # every acked command stored, nothing unacknowledged
        counts = check(stack.url, list(modes), load.accepted)
        log.info("R2: %s, API kills %d, client retries %d", counts, kills[0], load.retries)
        assert kills[0] == 4
        assert load.retries > 0
