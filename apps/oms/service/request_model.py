"""The one base of every request model (HTTP bodies, websocket payloads, signals, commands):
unknown fields refused and strict types. A boolean is a JSON boolean and an integer a JSON
integer (`"8"`, `8.0`, `true` and `"yes"` are 422); decimals keep their string-or-number parser
(`command_models.ExactDecimal`) and timestamps are ISO 8601 text (`IsoDatetime`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Strict


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _iso_text(value: Any) -> Any:
    if isinstance(value, str | datetime):
        return value
    raise ValueError("must be an ISO 8601 date-time string, e.g. 2030-01-31T00:00:00Z")


#: a date-time given as ISO 8601 text (strict models would take only `datetime` objects)
IsoDatetime = Annotated[datetime, BeforeValidator(_iso_text), Strict(False)]
