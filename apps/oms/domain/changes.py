"""A change request's fields: a value (None clears it where the field may be null) or `UNSET`,
which leaves the field as it is."""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

T = TypeVar("T")


class Unset(Enum):
    """Marks a field absent from a change request (distinct from an explicit null that clears)."""

    UNSET = "unset"


UNSET = Unset.UNSET


def given(**fields: object) -> dict[str, object]:
    """The fields that are not `UNSET`, in the order given."""
    return {name: value for name, value in fields.items() if value is not UNSET}


def or_unset(value: T | None) -> T | Unset:
    """`value`, or `UNSET` for None (where a request's null means: as it is)."""
    return UNSET if value is None else value
