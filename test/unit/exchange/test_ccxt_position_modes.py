"""A gateway account's position mode at the exchange (pure): which venue mode each gateway mode
needs, the venue position side of a hedge account's order (opening and closing legs), its
mapping to each exchange's own parameter, and the refusal message of a mismatch."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.oms.domain.closing import venue_position_side
from apps.oms.domain.enums import PositionMode, PositionState, Side
from apps.oms.domain.positions import Position
from apps.oms.exchange.ccxt.position_modes import mode_mismatch, order_params, wants_hedge
from apps.oms.ports import GATEWAY_POSITION_SIDE

HEDGE, NETTING, PER_STRATEGY = (PositionMode.HEDGE, PositionMode.NETTING,
                                PositionMode.STRATEGY_NETTING)  # fmt: skip


def position(side: Side, state: PositionState = PositionState.OPEN) -> Position:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return Position(position_id=7, account_id=1, symbol="BTC/USDT:USDT", strategy_id=0,
                    side=side, qty=Decimal(1), avg_price=Decimal(100), realized_pnl=Decimal(0),
                    fee=Decimal(0), contract_size=Decimal(1), state=state, reason="api",
                    opened_at=now, updated_at=now)  # fmt: skip


def test_hedge_books_need_hedge_mode_and_netting_books_one_way() -> None:
    assert wants_hedge(HEDGE)
    assert not wants_hedge(NETTING)
    assert not wants_hedge(PER_STRATEGY)


@pytest.mark.parametrize(("side", "target", "expected"), [
    (Side.BUY, None, "long"),  # opening leg: a new long
    (Side.SELL, None, "short"),  # opening leg: a new short
    (Side.BUY, Side.BUY, "long"),  # adding to a long
    (Side.SELL, Side.BUY, "long"),  # closing leg of a long
    (Side.BUY, Side.SELL, "short"),  # closing leg of a short
])  # fmt: skip
def test_a_hedge_order_carries_the_side_of_the_position_it_books_to(
    side: Side, target: Side | None, expected: str
) -> None:
    held = None if target is None else position(target)
    assert venue_position_side(HEDGE, side, held) == expected


def test_netting_orders_carry_no_side_and_a_closed_target_is_not_followed() -> None:
    assert venue_position_side(NETTING, Side.SELL, position(Side.BUY)) is None
    assert venue_position_side(PER_STRATEGY, Side.BUY, None) is None
    closed = position(Side.BUY, PositionState.CLOSED)
    assert venue_position_side(HEDGE, Side.SELL, closed) == "short"


@pytest.mark.parametrize(("exchange_id", "side", "expected"), [
    ("binanceusdm", "long", {"positionSide": "LONG"}),
    ("binance", "short", {"positionSide": "SHORT"}),
    ("bybit", "long", {"positionIdx": 1}),
    ("bybit", "short", {"positionIdx": 2}),
    ("okx", "short", {"posSide": "short"}),
    ("kraken", "long", {}),  # no position modes known: the hint is dropped
])  # fmt: skip
def test_the_hint_becomes_the_exchanges_own_parameter(exchange_id: str, side: str,
                                                      expected: dict[str, object]) -> None:  # fmt: skip
    params = {"clientOrderId": "c1", GATEWAY_POSITION_SIDE: side}
    assert order_params(exchange_id, params) == {"clientOrderId": "c1", **expected}
    assert GATEWAY_POSITION_SIDE in params  # the caller's params are not changed


def test_spot_orders_get_no_side() -> None:
    params = {"clientOrderId": "c1", GATEWAY_POSITION_SIDE: "long"}
    assert order_params("binance", params, contract=False) == {"clientOrderId": "c1"}


def test_reduce_only_is_dropped_where_a_position_side_refuses_it() -> None:
    params = {"reduceOnly": True, GATEWAY_POSITION_SIDE: "long"}
    assert order_params("binanceusdm", params) == {"positionSide": "LONG"}  # Binance -1106
    assert order_params("bybit", params) == {"positionIdx": 1, "reduceOnly": True}


def test_netting_params_pass_unchanged() -> None:
    params = {"clientOrderId": "c1", "reduceOnly": True}
    assert order_params("binanceusdm", params) is params


def test_the_mismatch_names_both_modes_and_the_way_out() -> None:
    assert mode_mismatch(3, "ccxtpro.binanceusdm", HEDGE, True) is None
    assert mode_mismatch(3, "ccxt.bybit", NETTING, False) is None
    message = mode_mismatch(3, "ccxtpro.binanceusdm", NETTING, True)
    assert message is not None
    for part in ("account 3 (ccxtpro.binanceusdm)", "position_mode netting",
                 "hedge mode (dualSidePosition true)", "one-way mode (dualSidePosition false)",
                 "set_position_mode", "no positions or open orders", "position_mode hedge"):
        assert part in message
    bybit = mode_mismatch(4, "ccxt.bybit", HEDGE, False)
    assert bybit is not None
    assert "one-way mode (merged single, switch-mode 0)" in bybit
    assert "hedge mode (both sides, switch-mode 3)" in bybit
    assert "position_mode netting" in bybit  # the other way out
    other = mode_mismatch(5, "ccxt.kraken", HEDGE, False)
    assert other is not None
    assert "one-way mode" in other
