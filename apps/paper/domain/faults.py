"""Fault injection per paper account: latency before acknowledgement and fills, and seeded
rejects, timeouts and outages, so the pipeline's unknown-outcome and error paths can be tested.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from apps.paper.domain.prices import unit_draw

NONE = "none"
REJECT = "reject"
TIMEOUT = "timeout"
UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Rates are probabilities in [0, 1]; latencies in ms.

    reject: the venue refuses the order (nothing placed).
    timeout: the order IS placed but the caller gets a timeout (unknown outcome).
    unavailable: the venue is down for this call (nothing placed).
    """

    ack_latency_ms: int = 0
    fill_latency_ms: int = 0
    reject_rate: Decimal = Decimal(0)
    timeout_rate: Decimal = Decimal(0)
    unavailable_rate: Decimal = Decimal(0)
    seed: int = 0


def decide(config: FaultConfig, account_id: int, call_seq: int) -> str:
    """Which fault, if any, hits call number `call_seq` of an account. Deterministic."""
    draw = unit_draw(config.seed, "fault", account_id, call_seq)
    if draw < config.unavailable_rate:
        return UNAVAILABLE
    if draw < config.unavailable_rate + config.reject_rate:
        return REJECT
    if draw < config.unavailable_rate + config.reject_rate + config.timeout_rate:
        return TIMEOUT
    return NONE
