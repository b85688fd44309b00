"""Stand-in position ids are replaced by real ones everywhere inside event and finish payloads
(`runtime._resolve_in`), exactly where a plain walk of the JSON-like value finds them: every
int (or int subclass other than bool) at or below `STAND_IN_BASE`, at any depth, in dicts and
lists (subclasses included); nothing else changes."""

from __future__ import annotations

import copy
from collections import OrderedDict
from enum import IntEnum
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from apps.oms.service.execution.runtime import STAND_IN_BASE, _resolve_in

STAND_INS = [STAND_IN_BASE - 1 - k for k in range(6)]
REAL = {pid: 1000 + k for k, pid in enumerate(STAND_INS[:4])}  # two stand-ins stay unknown


class Small(IntEnum):
    LOW = STAND_IN_BASE - 1


def reference(value: Any) -> Any:
    """A fresh copy with every stand-in resolved: the rule, written as plainly as possible."""
    if isinstance(value, dict):
        return type(value)((k, reference(v)) for k, v in value.items())
    if isinstance(value, list):
        return type(value)(reference(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool) and value <= STAND_IN_BASE:
        return REAL.get(value, value)
    return value


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**62), max_value=2**62)
    | st.sampled_from(STAND_INS)
    | st.sampled_from([Small.LOW, str(STAND_INS[0]), float(STAND_INS[0]), True, False])
    | st.text(max_size=5)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    | st.dictionaries(st.text(max_size=4), inner, max_size=3).map(OrderedDict),
    max_leaves=25,
)


@given(st.dictionaries(st.text(max_size=6), values, max_size=6))
def test_resolves_exactly_what_a_plain_walk_resolves(payload: dict[str, Any]) -> None:
    expected = reference(copy.deepcopy(payload))
    _resolve_in(payload, REAL)
    assert payload == expected
    # same types too: a bool stays a bool, an unknown stand-in stays where it was
    assert repr(payload) == repr(expected)


def test_a_position_event_payload() -> None:
    stand_in, unknown = STAND_INS[0], STAND_INS[5]
    payload = {
        "position": {"id": stand_in, "symbol": "BTC/USDT:USDT", "qty": "0.001"},
        "deals": [{"id": 7, "position_id": stand_in}, {"position_id": unknown}],
        "flag": True,
        "enum": Small.LOW,
        "text": str(stand_in),
    }
    _resolve_in(payload, REAL)
    assert payload == {
        "position": {"id": REAL[stand_in], "symbol": "BTC/USDT:USDT", "qty": "0.001"},
        "deals": [{"id": 7, "position_id": REAL[stand_in]}, {"position_id": unknown}],
        "flag": True,
        "enum": REAL[Small.LOW],
        "text": str(stand_in),
    }
