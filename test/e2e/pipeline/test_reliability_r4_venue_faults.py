"""R4 of quality.md: a paper venue with timeouts and rejects, on real processes and a fresh MariaDB
database; ends with the invariants of `invariants.py`. Bounded: the load is fixed, every wait
has a deadline, and the stack is torn down (processes killed, database dropped) on failure."""

from __future__ import annotations

import logging
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from apps.paper.domain.faults import REJECT, TIMEOUT, FaultConfig, decide

from .conftest import make_stack
from .invariants import check
from .load import Load
from .reliability import accounts_of, sql

# generous: these tests assert what happens, never how fast (speed belongs to bench/)
pytestmark = [pytest.mark.mysql, pytest.mark.slow, pytest.mark.reliability, pytest.mark.timeout(1800)]
log = logging.getLogger(__name__)


def test_r4_paper_venue_with_timeouts_and_rejects(tmp_path: Path) -> None:
    """R4: 10 % timeouts (the order IS placed, the answer is lost) and 10 % rejects on every
    account. The fault draws are replayed to count them: every timed-out placement was adopted
    by looking it up (the only way its exchange id reached the books), every reject failed."""
    with make_stack(tmp_path, workers=1) as stack:
        faults = {"timeout_rate": "0.1", "reject_rate": "0.1"}
        modes = accounts_of(stack, 5, faults, per_account=True)
        seeds = {account_id: i for i, account_id in enumerate(modes)}
        load = Load(stack, modes, seed=4)
        load.run(300)
        counts = check(stack.url, list(modes), load.accepted)
        drawn: dict[str, int] = defaultdict(int)
        for account_id, calls in sql(stack, "SELECT account_id, fault_seq FROM paper_accounts"):
            config = FaultConfig(timeout_rate=Decimal("0.1"), reject_rate=Decimal("0.1"),
                                 seed=seeds[int(str(account_id))])
            for n in range(1, int(str(calls)) + 1):
                drawn[decide(config, int(str(account_id)), n)] += 1
        placed = sum(drawn.values()) - drawn[REJECT]
        ((venue_orders,),) = sql(stack, "SELECT COUNT(*) FROM paper_orders")
        ((adopted,),) = sql(stack, "SELECT COUNT(*) FROM orders WHERE exchange_order_id IS NOT NULL")
        ((rejected,),) = sql(stack, "SELECT COUNT(*) FROM orders WHERE error_code = 'venue_rejected'")
        log.info("R4: %s, fault draws %s", counts, dict(drawn))
        assert drawn[TIMEOUT] >= 5
        assert drawn[REJECT] >= 5
        assert venue_orders == adopted == placed  # each timed-out order found and adopted once
        assert rejected == drawn[REJECT]
