"""The store's JSON codec (orjson) reads and writes the values the standard library does, and
refuses what it refuses."""

from __future__ import annotations

import dataclasses
import json
import math
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.oms.store.json_codec import dumps, dumps_with_copy, loads

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
keys = st.text() | st.integers(min_value=-(10**6), max_value=10**6)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=30,
)


@given(values)
def test_round_trips_as_the_standard_library_does(value: Any) -> None:
    expected = json.loads(json.dumps(value))
    assert loads(dumps(value)) == expected
    assert loads(json.dumps(value)) == expected  # rows written by earlier versions
    text, copy = dumps_with_copy(value)
    assert (loads(text), copy) == (expected, expected)


def test_integers_beyond_64_bits_stay_exact() -> None:
    big = [2**64, -(2**70), 123456789012345678901234567890, -(2**63) - 1, -(10**19) + 1]
    assert loads(dumps(big)) == big
    assert all(isinstance(v, int) for v in loads(dumps(big)))


def test_old_rows_with_nan_still_read() -> None:
    assert str(loads('{"a": NaN}')["a"]) == "nan"


@dataclasses.dataclass
class _Row:
    a: int


@pytest.mark.parametrize(
    "value", [Decimal("1.5"), datetime(2026, 1, 1, tzinfo=UTC), {1, 2}, object(), _Row(1)]
)
def test_refuses_what_the_standard_library_refuses(value: Any) -> None:
    with pytest.raises(TypeError):
        json.dumps({"x": value})
    with pytest.raises(TypeError):
        dumps({"x": value})
    with pytest.raises(TypeError):
        dumps_with_copy({"x": value})


def test_default_converts_as_json_dumps_default_does() -> None:
    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        raise TypeError(type(value).__name__)

    assert loads(dumps({"q": Decimal("0.5"), "t": (1, 2)}, default=plain)) == {
        "q": "0.5",
        "t": [1, 2],
    }
    with pytest.raises(TypeError):
        dumps({"when": datetime(2026, 1, 1, tzinfo=UTC)}, default=plain)


class _Pair(NamedTuple):
    a: int
    b: str


def test_named_tuples_are_lists_as_in_json() -> None:
    assert loads(dumps({"p": _Pair(1, "x")})) == json.loads(json.dumps({"p": _Pair(1, "x")}))
    assert dumps_with_copy([_Pair(2, "y")])[1] == [[2, "y"]]


def test_chosen_differences_nan_as_null_enums_and_uuids_as_values() -> None:
    """JSON has no NaN (MariaDB's JSON check refused the standard library's); enums and UUIDs
    the standard library refused are written as their values."""

    class Side(Enum):
        BUY = "buy"

    key = uuid.UUID(int=1)
    assert loads(dumps([math.nan, math.inf, -math.inf])) == [None, None, None]
    assert loads(dumps({"side": Side.BUY, "id": key})) == {"side": "buy", "id": str(key)}
