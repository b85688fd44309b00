"""Named worked examples; the same numbers are written up in docs/position-accounting.md."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.oms.domain.book import Instrument
from apps.oms.domain.closing import plan_close, reserve_close, validate_reduce
from apps.oms.domain.enums import DealEntry, PositionMode, PositionState, Side
from apps.oms.domain.errors import InvalidQty, PositionCloseInProgress
from apps.oms.domain.positions import fold
from books.support import D, Sim

FEE_RATE = D("0.0001")


def test_trading_technologies_example_as_pinned_by_nautilus() -> None:
    """Buy 12 @ 100, buy 17 @ 99, sell 9 @ 101, sell 4 @ 105, buy 3 @ 103 (NautilusTrader's
    `test_pnl_calculation_from_trading_technologies_example`, taker fee 0.01 %)."""
    sim = Sim(PositionMode.NETTING, Instrument("ETH/USDT", spot=True))
    steps = [
        ("buy", "12", "100", "12", "100", "0"),
        ("buy", "17", "99", "29", "99.413793103448275862", "0"),
        ("sell", "9", "101", "20", "99.413793103448275862", "14.275862068965517242"),
        ("sell", "4", "105", "16", "99.413793103448275862", "36.620689655172413794"),
        ("buy", "3", "103", "19", "99.980036297640653357", "36.620689655172413794"),
    ]
    for side, qty, price, want_qty, want_avg, want_pnl in steps:
        fee = D(qty) * D(price) * FEE_RATE
        position = sim.fill(side, qty, price, fee=fee).positions[-1]
        assert (position.qty, position.avg_price, position.realized_pnl) == (
            D(want_qty), D(want_avg), D(want_pnl))
    assert position.fee == D("0.4521")
    # Nautilus reports realised PnL net of commissions: 36.16858966 USDT (8 places).
    assert (position.realized_pnl - position.fee).quantize(D("0.00000001")) == D("36.16858966")
    assert position.position_id == 1
    assert len(sim.deals) == 5
    assert fold(sim.deals) == position


def test_metatrader_close_by_with_unequal_volumes() -> None:
    """Hedge: A long 1.0 @ 100, B short 0.4 @ 110. Close A by B: two out_by deals at B's average
    110; A realises (110 − 100) × 0.4 = 4, B realises 0; A keeps 0.6 @ 100, B is closed."""
    sim = Sim(PositionMode.HEDGE)
    a = sim.fill("buy", "1.0", "100").order_position_id
    b = sim.fill("sell", "0.4", "110").order_position_id
    assert (a, b) == (1, 2)
    result = sim.close_by(a, b)
    deal_a, deal_b = result.deals
    assert (deal_a.side, deal_a.qty, deal_a.price, deal_a.pnl, deal_a.entry) == (
        Side.SELL, D("0.4"), D("110"), D("4"), DealEntry.OUT_BY)
    assert (deal_b.side, deal_b.qty, deal_b.price, deal_b.pnl) == (Side.BUY, D("0.4"), D(110), 0)
    assert deal_a.exchange_trade_id is None
    assert deal_a.reason == "close_by"
    pa, pb = sim.pos(a), sim.pos(b)
    assert (pa.qty, pa.avg_price, pa.realized_pnl, pa.state) == (
        D("0.6"), D(100), D(4), PositionState.OPEN)
    assert (pb.qty, pb.realized_pnl, pb.state) == (0, 0, PositionState.CLOSED)
    # Closing the rest at 120 gives 12 more: 16 in all, as closing both on the venue would
    # (A: (120 − 100) × 1.0 = 20, B: (110 − 120) × 0.4 = −4).
    sim.fill("sell", "0.6", "120", position_id=a)
    assert sim.pos(a).realized_pnl == D(16)


def test_netting_reversal_books_two_legs_with_pro_rata_fee() -> None:
    """Netting: long 2 @ 100, then sell 5 @ 110 with fee 0.5. Leg 0 `out` closes the long
    (pnl 20, fee 0.2); leg 1 `in` opens a new short 3 @ 110 (fee 0.3), same trade id."""
    sim = Sim(PositionMode.NETTING)
    sim.fill("buy", "2", "100", strategy=4)
    result = sim.fill("sell", "5", "110", fee="0.5", strategy=9)
    out, into = result.deals
    assert (out.leg, out.entry, out.qty, out.pnl, out.fee, out.position_id) == (
        0, DealEntry.OUT, D(2), D(20), D("0.2"), 1)
    assert (into.leg, into.entry, into.qty, into.pnl, into.fee, into.position_id) == (
        1, DealEntry.IN, D(3), D(0), D("0.3"), 2)
    assert out.exchange_trade_id == into.exchange_trade_id == "t2"
    old, new = result.positions
    assert (old.state, old.realized_pnl) == (PositionState.CLOSED, D(20))
    assert (new.side, new.qty, new.avg_price, new.strategy_id) == (Side.SELL, 3, 110, 9)
    assert result.order_position_id == 2


def test_strategy_netting_staircase() -> None:
    """Two strategies on one symbol, each netted apart; the venue sees their sum."""
    sim = Sim(PositionMode.STRATEGY_NETTING)
    table = [  # strategy, side, qty, price -> position id, signed qty, avg, realised, venue net
        (1, "buy", "1", "100", 1, "1", "100", "0", "1"),
        (2, "sell", "2", "101", 2, "-2", "101", "0", "-1"),
        (1, "buy", "1", "104", 1, "2", "102", "0", "0"),
        (2, "sell", "1", "98", 2, "-3", "100", "0", "-1"),
        (1, "sell", "0.5", "106", 1, "1.5", "102", "2", "-1.5"),
        (2, "buy", "1", "95", 2, "-2", "100", "5", "-0.5"),
        (1, "sell", "1.5", "108", 1, "0", "102", "11", "-2"),
        (2, "buy", "5", "97", 3, "3", "97", "0", "3"),
    ]
    for strategy, side, qty, price, pid, signed, avg, pnl, venue in table:
        result = sim.fill(side, qty, price, strategy=strategy)
        position = result.positions[-1]
        assert (position.position_id, position.signed_qty, position.avg_price,
                position.realized_pnl) == (pid, D(signed), D(avg), D(pnl))
        assert sum((p.signed_qty for p in sim.open()), D(0)) == D(venue)
    assert sim.pos(1).state is PositionState.CLOSED
    assert sim.pos(1).realized_pnl == D(11)
    assert sim.pos(2).state is PositionState.CLOSED
    assert sim.pos(2).realized_pnl == D(11)
    assert [p.position_id for p in sim.open()] == [3]
    assert sim.pos(3).strategy_id == 2


def test_merge_03_at_90_into_07_at_95() -> None:
    """Hedge: merge source 0.3 @ 90 into target 0.7 @ 95 → target 1.0 @ 93.5, source merged;
    an `out` deal at 90 (pnl 0) and an `in` deal at 90, both reason merge."""
    sim = Sim(PositionMode.HEDGE)
    target = sim.fill("buy", "0.7", "95").order_position_id
    source = sim.fill("buy", "0.3", "90").order_position_id
    out, into = sim.merge(source, target).deals
    assert (out.entry, out.side, out.qty, out.price, out.pnl) == (
        DealEntry.OUT, Side.SELL, D("0.3"), D(90), 0)
    assert (into.entry, into.side, into.qty, into.price) == (DealEntry.IN, Side.BUY, D("0.3"), 90)
    assert (sim.pos(target).qty, sim.pos(target).avg_price) == (D("1.0"), D("93.5"))
    assert sim.pos(source).state is PositionState.MERGED
    for pid in (source, target):
        assert fold(d for d in sim.deals if d.position_id == pid) == sim.pos(pid)


def test_hedge_refuses_an_oversize_close() -> None:
    """Hedge: long 1.0 @ 100; a close of 0.6 is reserved; a further close of 0.5 exceeds the
    unreserved 0.4 (`invalid_qty`); the default close takes 0.4; then nothing is left
    (`position_close_in_progress`). A hedge reducing order of 1.5 is refused as well."""
    sim = Sim(PositionMode.HEDGE)
    pid = sim.fill("buy", "1.0", "100").order_position_id
    assert pid is not None
    with pytest.raises(InvalidQty) as refused:
        validate_reduce(sim.pos(pid), Side.SELL, D("1.5"))
    assert refused.value.code == "invalid_qty"
    position = reserve_close(sim.pos(pid), plan_close(sim.pos(pid), D("0.6")).qty)
    assert (position.pending_close_qty, position.state) == (D("0.6"), PositionState.CLOSE_REQUESTED)
    with pytest.raises(InvalidQty):
        plan_close(position, D("0.5"))
    plan = plan_close(position)
    assert (plan.side, plan.qty, plan.reduce_only, plan.strategy_id) == (Side.SELL, D("0.4"), True, 0)
    position = reserve_close(position, plan.qty)
    with pytest.raises(PositionCloseInProgress) as busy:
        plan_close(position)
    assert busy.value.code == "position_close_in_progress"
    assert position.available_qty == Decimal(0)
