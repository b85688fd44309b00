"""Request bodies parsed one way everywhere (HTTP and websocket): exact JSON numbers (`Decimal`,
never float), NaN/Infinity refused, size and nesting depth bounded, then a pydantic model.

Deeply nested JSON (`[[[[...]]]]` 100,000 deep) used to blow the parser's recursion and answer
500; the depth is checked before parsing, in C-speed passes (a body with fewer brackets than the
limit is never scanned).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from apps.oms.errors import OmsError, ValidationFailed

MAX_BODY_BYTES = 1_000_000
MAX_DEPTH = 32
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
M = TypeVar("M", bound=BaseModel)


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays/objects nest deeper than `limit` (brackets inside strings do not count)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _refuse_constant(name: str) -> Any:
    raise ValidationFailed(f"{name} is not allowed in a decimal field")


def parse_json(data: bytes | str) -> Any:
    """Exact JSON or `ValidationFailed` (422) for malformed, non-finite or too deeply nested."""
    try:
        text = data.decode() if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise _malformed(f"malformed JSON: {exc}") from exc
    if too_deep(text):
        raise _malformed(f"JSON nests deeper than {MAX_DEPTH} levels", max_depth=MAX_DEPTH)
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        raise _malformed(f"malformed JSON: {exc}") from exc


def _malformed(message: str, **extra: Any) -> ValidationFailed:
    error = {"loc": ["body"], "msg": message, "type": "json_invalid"}
    return ValidationFailed(message, details={"errors": [error], **extra})


async def read_exact_json(request: Request) -> Any:
    """The request's JSON body parsed by `parse_json`; 413 past `MAX_BODY_BYTES`."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise OmsError("request body too large", code="payload_too_large", status=413)
    return parse_json(body)


def validate(model: type[M], data: Any) -> M:
    """`model` from parsed JSON, pydantic errors as one 422 `validation_error`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
        ]
        where = ".".join(map(str, errors[0]["loc"])) if errors else ""
        raise ValidationFailed(f"{where}: {errors[0]['msg']}", details={"errors": errors}) from exc


async def parse_body(request: Request, model: type[M]) -> M:
    """Read, bound and validate a JSON body into `model` (empty body = `{}`)."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise OmsError("request body too large", code="payload_too_large", status=413)
    return validate(model, parse_json(body) if body.strip() else {})
