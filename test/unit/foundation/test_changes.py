"""A change request's fields: UNSET leaves a field as it is, None clears it."""

from __future__ import annotations

from apps.oms.domain import targets
from apps.oms.domain.changes import UNSET, Unset, given, or_unset


def test_given_keeps_what_is_set_in_order_and_none_clears() -> None:
    assert given(label=None, status=UNSET, name="x") == {"label": None, "name": "x"}
    assert list(given(b=1, a=2)) == ["b", "a"]
    assert given(a=UNSET) == {}


def test_or_unset_reads_a_null_as_unchanged() -> None:
    assert or_unset(None) is UNSET
    assert or_unset("active") == "active"
    assert or_unset(0) == 0  # only None is absent


def test_one_marker_for_every_change() -> None:
    assert (targets.UNSET, targets.Unset) == (UNSET, Unset)
