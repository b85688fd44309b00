"""The dialects' position-mode names (`wire/position_modes.py`): one table per exchange turns
its mode switch and order position sides into the engine's, and refuses a side the account's
mode does not take with the exchange's own error."""

from __future__ import annotations

import pytest

from apps.paper.wire.binance_usdm import POSITION_MODE as BINANCE
from apps.paper.wire.position_modes import PositionModeNames
from apps.paper.wire.signing import WireError

MISMATCH = WireError(400, 1, "mismatch")
OKX_LIKE = PositionModeNames("net_mode", "long_short_mode", "net", "long", "short")


def test_modes_both_ways() -> None:
    assert (BINANCE.mode_of("true"), BINANCE.mode_of("FALSE"), BINANCE.mode_of("x")) == (
        "hedge", "oneway", None)
    assert (BINANCE.raw_mode("hedge"), OKX_LIKE.raw_mode("oneway")) == ("true", "net_mode")
    assert OKX_LIKE.mode_of("long_short_mode") == "hedge"


@pytest.mark.parametrize(("names", "raw", "hedged", "side"), [
    (BINANCE, None, False, "both"),
    (BINANCE, "BOTH", False, "both"),
    (BINANCE, "LONG", True, "long"),
    (BINANCE, "short", True, "short"),
    (OKX_LIKE, "net", False, "both"),
    (OKX_LIKE, "long", True, "long"),
])  # fmt: skip
def test_order_sides(names: PositionModeNames, raw: str | None, hedged: bool, side: str) -> None:
    assert names.order_side(raw, hedged, MISMATCH) == side
    assert names.side_of(names.raw_side(side)) == side


@pytest.mark.parametrize(("raw", "hedged"), [
    ("LONG", False), ("SHORT", False), ("BOTH", True), (None, True), ("SIDEWAYS", False),
])  # fmt: skip
def test_a_side_the_mode_does_not_take_is_the_dialects_error(raw: str | None,
                                                             hedged: bool) -> None:  # fmt: skip
    with pytest.raises(WireError) as excinfo:
        BINANCE.order_side(raw, hedged, MISMATCH)
    assert excinfo.value is MISMATCH
