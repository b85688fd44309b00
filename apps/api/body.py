"""Request bodies parsed one way everywhere (HTTP and websocket): exact JSON numbers (`Decimal`,
never float), NaN/Infinity refused, size and nesting depth bounded, then a pydantic model.

Deeply nested JSON (`[[[[...]]]]` 100,000 deep) used to blow the parser's recursion and answer
500; now it is a 422 (see `parse_json`).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from apps.oms.errors import OmsError, ValidationFailed

MAX_BODY_BYTES = 1_000_000
MAX_DEPTH = 32
M = TypeVar("M", bound=BaseModel)


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text's arrays/objects nest deeper than `limit` (brackets inside strings
    do not count). Text too deep for the parser itself counts as too deep."""
    if text.count("[") + text.count("{") <= limit:
        return False
    try:
        return nesting_depth(json.loads(text)) > limit
    except RecursionError:
        return True
    except ValueError:
        return False  # malformed: the parser reports it


def nesting_depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """Depth of nested lists/dicts, iteratively (no recursion however deep); stops counting
    once past `limit` (returns `limit + 1`)."""
    containers = (dict, list)
    level = [value] if type(value) in containers else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return depth
        below = []
        for node in level:
            for child in node.values() if type(node) is dict else node:
                if type(child) in containers:
                    below.append(child)
        level = below
    return depth


def _refuse_constant(name: str) -> Any:
    raise ValidationFailed(f"{name} is not allowed in a decimal field")


def parse_json(data: bytes | str) -> Any:
    """Exact JSON or `ValidationFailed` (422) for malformed, non-finite or too deeply nested.

    The parser's own recursion guard stops pathological depth (100,000 brackets) at ~1,000
    levels cheaply; a depth check on the parsed value (only when the text has more brackets than
    the limit) bounds the rest."""
    try:
        text = data.decode() if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise _malformed(f"malformed JSON: {exc}") from exc
    too_deep_message = f"JSON nests deeper than {MAX_DEPTH} levels"
    try:
        value = json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise _malformed(too_deep_message, max_depth=MAX_DEPTH) from exc
    except (json.JSONDecodeError, ValueError) as exc:
        raise _malformed(f"malformed JSON: {exc}") from exc
    if text.count("[") + text.count("{") > MAX_DEPTH and nesting_depth(value) > MAX_DEPTH:
        raise _malformed(too_deep_message, max_depth=MAX_DEPTH)
    return value


def _malformed(message: str, **extra: Any) -> ValidationFailed:
    error = {"loc": ["body"], "msg": message, "type": "json_invalid"}
    return ValidationFailed(message, details={"errors": [error], **extra})


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting `model` as the JSON body of a route that parses it itself."""
    schema = {"application/json": {"schema": model.model_json_schema()}}
    return {"requestBody": {"required": True, "content": schema}}


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
