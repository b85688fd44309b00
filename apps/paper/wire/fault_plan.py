"""Which injected fault hits which request, order or stream event of a served venue.

The operator sets a plan through the venue's `/admin/faults` (or `venue serve --faults`); this
module reads it and decides, seeded and deterministic, what each request meets. It is pure and
synchronous (stdlib only, frozen values): the adapters hold the tally between calls and do the
sleeping, refusing, hiding and dropping (`fault_gate`, `fault_middleware`, `streams`), and each
dialect only renders a refusal its way (`fault_replies`), so a new dialect inherits every fault.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

#: faults met by a REST request (before or after its handler runs)
LATENCY, RATE_LIMIT, SERVER_ERROR = "latency", "rate_limit", "server_error"
UNAVAILABLE, MAINTENANCE, LOST_RESPONSE = "unavailable", "maintenance", "lost_response"
#: faults met by an order as it is placed
INVISIBLE_ORDER, PARTIAL_FILLS = "invisible_order", "partial_fills"
#: faults met by a private-stream event
STREAM_DROP, STREAM_SKIP = "stream_drop", "stream_skip"

REQUEST_KINDS = (LATENCY, RATE_LIMIT, SERVER_ERROR, UNAVAILABLE, MAINTENANCE, LOST_RESPONSE)
REFUSALS = (RATE_LIMIT, SERVER_ERROR, UNAVAILABLE, MAINTENANCE)
ORDER_KINDS = (INVISIBLE_ORDER, PARTIAL_FILLS)
STREAM_KINDS = (STREAM_DROP, STREAM_SKIP)
KINDS = REQUEST_KINDS + ORDER_KINDS + STREAM_KINDS

#: which REST requests a request fault applies to
ORDERS, READS, ALL = "orders", "reads", "all"
ENDPOINTS = (ORDERS, READS, ALL)
#: how a lost response is lost
DELAY, DROP = "delay", "drop"
#: what happens to one stream event
SEND, SKIP = "send", "skip"

ONE = Decimal(1)
_DRAW_SCALE = Decimal(2**64)


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault of a plan. It hits a matching request with chance `rate`, at most `count`
    times (None: without end). `ms` is the latency, the invisibility window, the time a lost
    response is held, or the span partial fills are spread over, by kind."""

    kind: str
    endpoints: str = ALL
    count: int | None = None
    rate: Decimal = ONE
    ms: int = 0
    retry_after_s: int = 1
    #: rate_limit: after this many rate-limit answers the caller is banned (Binance 418,
    #: Bybit HTTP 403; OKX, which bans no IP, its sub-account order limit 50061); None: never
    ban_after: int | None = None
    #: partial_fills: in how many parts
    parts: int = 2
    #: lost_response: DELAY (answered after `ms`, past the client's timeout) or DROP (the
    #: connection is closed without an answer)
    mode: str = DELAY


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """The faults set on a venue (in order: the first refusal that hits wins), the seed of
    their draws, and the venue clock's skew (None: leave the clock as it is)."""

    faults: tuple[Fault, ...] = ()
    seed: int = 0
    skew_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Tally:
    """What the plan has done so far: draws made, hits per fault, rate-limit answers given."""

    draws: int = 0
    hits: tuple[int, ...] = ()
    limited: int = 0


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request answered with an error instead of being executed."""

    kind: str
    retry_after_s: int = 1
    banned: bool = False


@dataclass(frozen=True, slots=True)
class RequestFaults:
    """What one REST request meets: a delay first, then a refusal (nothing executed) or a lost
    answer (executed, the answer held `lost_ms` or dropped)."""

    latency_ms: int = 0
    refusal: Refusal | None = None
    lost: str | None = None
    lost_ms: int = 0


@dataclass(frozen=True, slots=True)
class OrderFaults:
    """What one placed order meets: invisible to reads for `hidden_ms`; filled in `parts`
    spread over `over_ms` (1 part: as the engine fills it)."""

    hidden_ms: int = 0
    parts: int = 1
    over_ms: int = 0


# --- reading a plan ----------------------------------------------------------------------------


def parse_plan(data: Mapping[str, Any]) -> FaultPlan:
    """The plan of an admin JSON body: `{"seed": 7, "skew_ms": 0, "faults": [{"kind": …}]}`;
    ValueError saying what is wrong."""
    unknown = set(data) - {"seed", "skew_ms", "faults"}
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)}: seed, skew_ms, faults")
    raw = data.get("faults") or []
    if not isinstance(raw, list):
        raise ValueError("faults must be a list")
    skew = data.get("skew_ms")
    return FaultPlan(tuple(parse_fault(f, i) for i, f in enumerate(raw)),
                     _int(data.get("seed", 0), "seed"),
                     None if skew is None else _int(skew, "skew_ms", low=None))  # fmt: skip


def parse_fault(data: Any, index: int = 0) -> Fault:
    if not isinstance(data, Mapping):
        raise ValueError(f"faults[{index}] must be an object")
    known = set(Fault.__dataclass_fields__)
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"faults[{index}]: unknown fields {sorted(unknown)}")
    kind = data.get("kind")
    if kind not in KINDS:
        raise ValueError(f"faults[{index}].kind must be one of {', '.join(KINDS)}")
    endpoints = data.get("endpoints", ALL)
    if endpoints not in ENDPOINTS:
        raise ValueError(f"faults[{index}].endpoints must be one of {', '.join(ENDPOINTS)}")
    mode = data.get("mode", DELAY)
    if mode not in (DELAY, DROP):
        raise ValueError(f"faults[{index}].mode must be {DELAY} or {DROP}")
    count, ban = data.get("count"), data.get("ban_after")
    return Fault(kind=kind, endpoints=endpoints,
                 count=None if count is None else _int(count, "count"),
                 rate=_rate(data.get("rate", 1), index), ms=_int(data.get("ms", 0), "ms"),
                 retry_after_s=_int(data.get("retry_after_s", 1), "retry_after_s"),
                 ban_after=None if ban is None else _int(ban, "ban_after"),
                 parts=_int(data.get("parts", 2), "parts", low=1), mode=mode)  # fmt: skip


def plan_json(plan: FaultPlan) -> dict[str, Any]:
    """The plan as the admin endpoint shows it (decimals as strings)."""
    return {"seed": plan.seed, "skew_ms": plan.skew_ms,
            "faults": [{"kind": f.kind, "endpoints": f.endpoints, "count": f.count,
                        "rate": str(f.rate), "ms": f.ms, "retry_after_s": f.retry_after_s,
                        "ban_after": f.ban_after, "parts": f.parts, "mode": f.mode}
                       for f in plan.faults]}  # fmt: skip


def _int(value: Any, name: str, low: int | None = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise ValueError(f"{name} must be an integer")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{name} must be an integer") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise ValueError(f"{name} must be an integer")
    if low is not None and number < low:
        raise ValueError(f"{name} must be at least {low}")
    return int(number)


def _rate(value: Any, index: int) -> Decimal:
    """A chance in [0, 1], from a JSON number read as Decimal or a decimal string."""
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise ValueError(f"faults[{index}].rate must be a decimal number in [0, 1]")
    try:
        rate = Decimal(str(value))
    except InvalidOperation:
        rate = Decimal("NaN")
    if not rate.is_finite() or not 0 <= rate <= 1:
        raise ValueError(f"faults[{index}].rate must be a decimal number in [0, 1]")
    return rate


# --- deciding ----------------------------------------------------------------------------------


#: words of an order-entry path, in any dialect's naming: Binance `order`, `batchOrders`,
#: `openOrders`, `countdownCancelAll`; Bybit `order/create`, `order/cancel-all`; OKX
#: `trade/order`, `batch-orders`, `amend-order`, `cancel-order`, `mass-cancel`,
#: `cancel-all-after`, `close-position` (a market order closing a position)
ORDER_WORDS = ("order", "cancel", "close-position")


def endpoint_kind(method: str, path: str) -> str:
    """ORDERS for order entry (a write to an order path: place, amend, cancel, close, in any
    dialect's naming), else READS (queries, account settings, listen keys)."""
    lowered = path.lower()
    writes = method.upper() != "GET"
    return ORDERS if writes and any(w in lowered for w in ORDER_WORDS) else READS


def on_request(plan: FaultPlan, tally: Tally, endpoint: str) -> tuple[RequestFaults, Tally]:
    """What one REST request of `endpoint` kind meets: the latencies of every latency fault
    that hits, then the first refusal or lost response that hits, in plan order (a rate limit
    becomes a ban after its `ban_after` answers, as a venue bans a caller who keeps on)."""
    latency, refusal, lost, lost_ms = 0, None, None, 0
    for index, fault in enumerate(plan.faults):
        if fault.kind not in REQUEST_KINDS or fault.endpoints not in (ALL, endpoint):
            continue
        if fault.kind != LATENCY and (refusal is not None or lost is not None):
            continue
        hit, tally = _hits(plan, tally, index)
        if not hit:
            continue
        if fault.kind == LATENCY:
            latency += fault.ms
        elif fault.kind == LOST_RESPONSE:
            lost, lost_ms = fault.mode, fault.ms
        else:
            banned = fault.kind == RATE_LIMIT and fault.ban_after is not None and (
                tally.limited >= fault.ban_after)
            if fault.kind == RATE_LIMIT:
                tally = replace(tally, limited=tally.limited + 1)
            refusal = Refusal(fault.kind, fault.retry_after_s, banned)
    return RequestFaults(latency, refusal, lost, lost_ms), tally


def on_order(plan: FaultPlan, tally: Tally) -> tuple[OrderFaults, Tally]:
    """What one placed order meets: the first invisibility and partial-fill faults that hit."""
    hidden, parts, over = 0, 1, 0
    for index, fault in enumerate(plan.faults):
        if fault.kind == INVISIBLE_ORDER and not hidden:
            hit, tally = _hits(plan, tally, index)
            hidden = fault.ms if hit else 0
        elif fault.kind == PARTIAL_FILLS and parts == 1:
            hit, tally = _hits(plan, tally, index)
            if hit:
                parts, over = fault.parts, fault.ms
    return OrderFaults(hidden, parts, over), tally


def on_event(plan: FaultPlan, tally: Tally) -> tuple[str, Tally]:
    """What one private-stream event meets: DROP (the stream is closed instead), SKIP (not
    sent), else SEND."""
    for index, fault in enumerate(plan.faults):
        if fault.kind not in STREAM_KINDS:
            continue
        hit, tally = _hits(plan, tally, index)
        if hit:
            return (DROP if fault.kind == STREAM_DROP else SKIP), tally
    return SEND, tally


def _hits(plan: FaultPlan, tally: Tally, index: int) -> tuple[bool, Tally]:
    """Whether fault `index` hits now: not spent, and its seeded draw under its rate (a rate
    of 1 hits without a draw). A hit is counted."""
    fault = plan.faults[index]
    hits = tally.hits + (0,) * (len(plan.faults) - len(tally.hits))
    if fault.count is not None and hits[index] >= fault.count:
        return False, tally
    if fault.rate < ONE:
        tally = replace(tally, draws=tally.draws + 1)
        if draw(plan.seed, tally.draws, index) >= fault.rate:
            return False, tally
    hits = (*hits[:index], hits[index] + 1, *hits[index + 1:])
    return True, replace(tally, hits=hits)


def draw(seed: int, number: int, index: int) -> Decimal:
    """A uniform value in [0, 1) fixed by (seed, draw number, fault index)."""
    digest = hashlib.sha256(f"{seed}:{number}:{index}".encode()).digest()
    return Decimal(int.from_bytes(digest[:8], "big")) / _DRAW_SCALE
