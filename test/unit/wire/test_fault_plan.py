"""The pure core of the served venue's faults: which fault hits which request, order or stream
event, seeded and counted, and the admin JSON it is read from."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.paper.wire import fault_plan as fp
from apps.paper.wire.fault_plan import Fault, FaultPlan, Refusal, Tally


def run(plan: FaultPlan, endpoints: list[str]) -> list[fp.RequestFaults]:
    tally, seen = Tally(), []
    for endpoint in endpoints:
        faults, tally = fp.on_request(plan, tally, endpoint)
        seen.append(faults)
    return seen


def test_parse_reads_every_field_and_shows_it_back() -> None:
    body = {"seed": 7, "skew_ms": -1500, "faults": [
        {"kind": "latency", "ms": 20, "endpoints": "reads"},
        {"kind": "rate_limit", "count": 3, "ban_after": 2, "retry_after_s": 5, "rate": "0.5"},
        {"kind": "lost_response", "mode": "drop", "endpoints": "orders", "count": 1},
        {"kind": "partial_fills", "parts": 3, "ms": 300}]}
    plan = fp.parse_plan(body)
    assert plan.seed == 7
    assert plan.skew_ms == -1500
    assert plan.faults[1] == Fault("rate_limit", count=3, ban_after=2, retry_after_s=5,
                                   rate=Decimal("0.5"))
    assert fp.parse_plan(fp.plan_json(plan)) == plan
    assert fp.parse_plan({}) == FaultPlan()


@pytest.mark.parametrize("body", [
    {"faults": [{"kind": "meteor"}]},
    {"faults": [{"kind": "latency", "ms": -1}]},
    {"faults": [{"kind": "latency", "ms": 1.5}]},
    {"faults": [{"kind": "latency", "endpoints": "some"}]},
    {"faults": [{"kind": "rate_limit", "rate": "1.5"}]},
    {"faults": [{"kind": "rate_limit", "rate": True}]},
    {"faults": [{"kind": "lost_response", "mode": "vanish"}]},
    {"faults": [{"kind": "latency", "speed": 1}]},
    {"faults": {"kind": "latency"}},
    {"fault": []},
])
def test_parse_refuses_what_it_cannot_read(body: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"must|unknown"):
        fp.parse_plan(body)


def test_endpoint_kind_tells_order_entry_from_reads_in_every_dialect() -> None:
    for method, path in (("POST", "/api/v3/order"), ("DELETE", "/api/v3/openOrders"),
                         ("PUT", "/fapi/v1/order"), ("POST", "/v5/order/create"),
                         ("POST", "/v5/order/cancel-all"), ("POST", "/api/v5/trade/order"),
                         ("POST", "/api/v5/trade/batch-orders"),
                         ("POST", "/api/v5/trade/amend-order"),
                         ("POST", "/api/v5/trade/cancel-batch-orders"),
                         ("POST", "/api/v5/trade/close-position"),
                         ("POST", "/api/v5/trade/mass-cancel"),
                         ("POST", "/fapi/v1/countdownCancelAll")):  # fmt: skip
        assert fp.endpoint_kind(method, path) == fp.ORDERS, path
    for method, path in (("GET", "/api/v3/order"), ("GET", "/v5/order/realtime"),
                         ("POST", "/api/v3/userDataStream"), ("GET", "/api/v3/account"),
                         ("GET", "/api/v5/trade/orders-pending"),
                         ("GET", "/api/v5/trade/order"),
                         ("POST", "/api/v5/account/set-leverage"),
                         ("POST", "/api/v5/account/set-position-mode")):  # fmt: skip
        assert fp.endpoint_kind(method, path) == fp.READS, path


def test_a_count_hits_the_next_n_matching_requests_only() -> None:
    plan = FaultPlan((Fault("unavailable", endpoints="orders", count=2),))
    seen = run(plan, ["reads", "orders", "reads", "orders", "orders"])
    assert [s.refusal for s in seen] == [None, Refusal("unavailable"), None,
                                         Refusal("unavailable"), None]


def test_latencies_add_up_and_go_with_a_refusal() -> None:
    plan = FaultPlan((Fault("latency", ms=5), Fault("latency", ms=7, endpoints="orders"),
                      Fault("maintenance", count=1)))
    first, second = run(plan, ["orders", "reads"])
    assert (first.latency_ms, first.refusal) == (12, Refusal("maintenance"))
    assert (second.latency_ms, second.refusal) == (5, None)


def test_a_rate_limit_that_persists_becomes_a_ban() -> None:
    plan = FaultPlan((Fault("rate_limit", count=4, ban_after=2, retry_after_s=3),))
    seen = [s.refusal for s in run(plan, ["reads"] * 5)]
    assert seen == [Refusal("rate_limit", 3), Refusal("rate_limit", 3),
                    Refusal("rate_limit", 3, True), Refusal("rate_limit", 3, True), None]


def test_the_first_refusal_wins_and_a_lost_response_only_when_none() -> None:
    plan = FaultPlan((Fault("server_error", count=1), Fault("unavailable"),
                      Fault("lost_response", mode="drop", ms=0)))
    seen = run(plan, ["orders", "orders"])
    assert [s.refusal for s in seen] == [Refusal("server_error"), Refusal("unavailable")]
    lost = FaultPlan((Fault("lost_response", ms=900, count=1),))
    assert [(s.lost, s.lost_ms) for s in run(lost, ["orders", "orders"])] == [
        ("delay", 900), (None, 0)]


def test_rates_are_seeded_and_deterministic() -> None:
    plan = FaultPlan((Fault("server_error", rate=Decimal("0.3")),), seed=11)
    once = [s.refusal is not None for s in run(plan, ["reads"] * 200)]
    again = [s.refusal is not None for s in run(plan, ["reads"] * 200)]
    other = [s.refusal is not None
             for s in run(FaultPlan(plan.faults, seed=12), ["reads"] * 200)]
    assert once == again
    assert once != other
    assert 30 < sum(once) < 90  # about 60 of 200
    assert all(s.refusal is None for s in run(
        FaultPlan((Fault("server_error", rate=Decimal(0)),)), ["reads"] * 50))


def test_a_rate_with_a_count_stops_after_the_count() -> None:
    plan = FaultPlan((Fault("server_error", rate=Decimal("0.5"), count=3),), seed=1)
    assert sum(s.refusal is not None for s in run(plan, ["reads"] * 100)) == 3


def test_order_faults() -> None:
    plan = FaultPlan((Fault("invisible_order", ms=400, count=1),
                      Fault("partial_fills", parts=3, ms=300)))
    first, tally = fp.on_order(plan, Tally())
    second, _ = fp.on_order(plan, tally)
    assert first == fp.OrderFaults(400, 3, 300)
    assert second == fp.OrderFaults(0, 3, 300)
    assert fp.on_order(FaultPlan(), Tally())[0] == fp.OrderFaults()
    # order faults never touch requests, nor request faults orders
    assert run(plan, ["orders"])[0] == fp.RequestFaults()
    assert fp.on_order(FaultPlan((Fault("latency", ms=5),)), Tally())[0] == fp.OrderFaults()


def test_stream_events_are_skipped_then_dropped() -> None:
    plan = FaultPlan((Fault("stream_skip", count=2), Fault("stream_drop", count=1)))
    tally, seen = Tally(), []
    for _ in range(4):
        what, tally = fp.on_event(plan, tally)
        seen.append(what)
    assert seen == ["skip", "skip", "drop", "send"]


def test_draws_are_uniform_enough() -> None:
    values = [fp.draw(3, n, 0) for n in range(1000)]
    assert all(Decimal(0) <= v < 1 for v in values)
    assert 400 < sum(v < Decimal("0.5") for v in values) < 600
