"""The kill switch's pure rules (`domain/kill.py`): which commands a halt covers, what still
passes, and the cancels and closes it queues per scope."""

from __future__ import annotations

import pytest

from apps.oms.domain.errors import RiskBlocked
from apps.oms.domain.kill import (
    MAX_ORDER_IDS,
    Caller,
    Halt,
    WorkingOrder,
    check_halts,
    covers,
    passes_halt,
    plan,
)

CALLER = Caller(account_id=1, api_key_id=10, user_id=100, strategy_id=7)


def test_books_a_halt_covers_its_scope_only() -> None:
    assert covers(Halt(1, "all", 0, "r"), CALLER)
    assert covers(Halt(1, "account", 1, "r"), CALLER)
    assert not covers(Halt(1, "account", 2, "r"), CALLER)
    assert covers(Halt(1, "key", 10, "r"), CALLER)
    assert not covers(Halt(1, "key", 11, "r"), CALLER)
    assert covers(Halt(1, "user", 100, "r"), CALLER)
    assert covers(Halt(1, "strategy", 7, "r"), CALLER)
    assert not covers(Halt(1, "strategy", 7, "r"), Caller(1, 10, 100, None))


def test_books_cancels_pass_and_closes_pass_for_the_risk_role() -> None:
    assert passes_halt("cancel_order", False, False)
    assert passes_halt("cancel_all_orders", False, False)
    assert not passes_halt("close_position", False, False)
    assert passes_halt("close_position", False, True)
    assert passes_halt("close_by", False, True)
    assert passes_halt("send_order", True, True)
    assert not passes_halt("send_order", False, True)
    assert not passes_halt("change_order", False, True)
    halts = [Halt(5, "user", 100, "later"), Halt(3, "key", 10, "leaked")]
    with pytest.raises(RiskBlocked) as refused:
        check_halts(halts, CALLER, "send_order", False, False)
    assert refused.value.details == {"rule": "kill_switch", "scope": "key", "halt_id": "3",
                                     "scope_id": "10", "reason": "leaked"}
    check_halts(halts, CALLER, "cancel_order", False, False)
    check_halts(halts, Caller(2, 11, 101), "send_order", False, False)


def test_books_the_plan_per_scope() -> None:
    working = [WorkingOrder(1, 1, 0), WorkingOrder(2, 1, 7), WorkingOrder(3, 2, 7)]
    positions = [(1, 50), (2, 60)]
    account = plan(Halt(9, "account", 1, "r"), working[:2], positions[:1], flatten=False)
    assert [(q.account_id, q.command, q.payload, q.tag) for q in account] == [
        (1, "cancel_all_orders", {}, "cancel")]
    # flattening cancels the working orders by id: a cancel_all would take the closes too
    flat = plan(Halt(9, "account", 1, "r"), working[:2], positions[:1], flatten=True)
    assert [(q.account_id, q.command, q.payload, q.tag) for q in flat] == [
        (1, "cancel_order", {"order_ids": [1, 2]}, "cancel:0"),
        (1, "close_position", {"position_id": 50, "reason": "kill_switch"}, "close:50")]
    strategy = plan(Halt(9, "strategy", 7, "r"), working[1:], [], flatten=False)
    assert [(q.account_id, q.payload) for q in strategy] == [
        (1, {"strategy_ids": [7]}), (2, {"strategy_ids": [7]})]
    key = plan(Halt(9, "key", 10, "r"), working, positions, flatten=True)  # no positions of a key
    assert [(q.account_id, q.command, q.payload) for q in key] == [
        (1, "cancel_order", {"order_ids": [1, 2]}), (2, "cancel_order", {"order_ids": [3]})]
    many = [WorkingOrder(i, 1, 0) for i in range(1, MAX_ORDER_IDS + 2)]
    chunks = plan(Halt(9, "user", 100, "r"), many, [], flatten=False)
    assert [len(q.payload["order_ids"]) for q in chunks] == [MAX_ORDER_IDS, 1]  # type: ignore[arg-type]
    assert [q.tag for q in chunks] == ["cancel:0", "cancel:1"]
    assert plan(Halt(9, "all", 0, "r"), [], [], flatten=True) == []
