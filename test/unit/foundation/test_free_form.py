"""`dict[str, Any]` stays out of the service layer (issue 49): its values have types (the
TypedDicts of `domain/events.py` and of each service module, the domain's dataclasses), and
what is truly free-form goes by a name that says so (`ports.Params` and `Structure` for CCXT
params and venue structures, `records.CommandPayload`, `VenueConfig`, `CommandResult`). The
count may only go down."""

from __future__ import annotations

from pathlib import Path

import apps

SERVICE = Path(apps.__file__).parent / "oms" / "service"
LIMIT = 0  # `dict[str, Any]` under apps/oms/service/ today


def occurrences() -> list[str]:
    return [
        f"{path.relative_to(SERVICE)}:{number}"
        for path in sorted(SERVICE.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "dict[str, Any]" in line
    ]


def test_dict_str_any_does_not_grow_back_in_the_service_layer() -> None:
    found = occurrences()
    assert len(found) <= LIMIT, f"name the type (or the free-form alias) instead: {found}"
