"""The one base of every request model (HTTP bodies, websocket payloads, signals, commands):
unknown fields refused and strict types. A boolean is a JSON boolean and an integer a JSON
integer (`"8"`, `8.0`, `true` and `"yes"` are 422); decimals keep their string-or-number parser
(`command_models.ExactDecimal`) and timestamps are ISO 8601 text (`IsoDatetime`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict

from apps.oms.errors import ValidationFailed

COMMENT_REQUIRED = "comment is mandatory: say why (it is kept in the audit log)"


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _iso_text(value: Any) -> Any:
    if isinstance(value, str | datetime):
        return value
    raise ValueError("must be an ISO 8601 date-time string, e.g. 2030-01-31T00:00:00Z")


#: a date-time given as ISO 8601 text (strict models would take only `datetime` objects)
IsoDatetime = Annotated[datetime, BeforeValidator(_iso_text), Strict(False)]


def mandatory_comment(text: str) -> str:
    """The comment of an audited change (risk actions, limits, allocations), stripped; a blank
    one is refused (422 `validation_error`), whoever calls: the API's bodies, the CLI."""
    stripped = text.strip()
    if not stripped:
        raise ValidationFailed(COMMENT_REQUIRED, details={"field": "comment"})
    return stripped


def _comment_text(value: str) -> str:
    if not value.strip():
        raise ValueError(COMMENT_REQUIRED)
    return value.strip()


#: the one type of every body field whose comment is mandatory
MandatoryComment = Annotated[str, Field(max_length=1000), AfterValidator(_comment_text)]
