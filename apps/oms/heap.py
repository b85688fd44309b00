"""The start-up heap kept out of the cyclic garbage collector's full collections.

A process of ours imports SQLAlchemy, FastAPI, pydantic, CCXT and the rest before it serves
anything: hundreds of thousands of objects that live as long as the process. CPython's full
(generation 2) collection walks every tracked object, so each one stopped the event loop for
25-140 ms on this machine (measured with `gc.callbacks` during `bench.p3_ws_latency` at
100/s: a worker's full collection in the middle of the run took 138 ms), and every command in
flight waited for it: the tail of P3 and of the accept latency.

`settle()` collects once and then freezes what survived (`gc.freeze`): those objects move to
the permanent generation, which later collections do not walk, so a full collection only
walks what was allocated since. Nothing leaks that would not anyway: objects freed by
reference counting are still freed, and the collection just before the freeze leaves no
cyclic garbage behind (only a reference cycle among frozen objects that became garbage later
is never collected: start-up objects that live for the process). It is called once the
imports are done, by the process entry points only (`apps.api.main.app_from_env`,
`apps.worker.main.run_worker`, `ccxt-oms up`): a test process that builds many apps keeps
the collector as it is.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("apps.oms")


def settle(process: str) -> int:
    """Collect, then freeze the surviving objects; returns how many are frozen now."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("%s: %d start-up objects frozen out of full collections", process, frozen)
    return frozen
