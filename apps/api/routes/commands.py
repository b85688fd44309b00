"""`POST /oms/commands`: one command or a batch; body parsed exactly (JSON numbers never float)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from apps.api.body_rules import MAX_BODY_BYTES
from apps.api.deps import PrincipalDep, SettingsDep, StoreDep
from apps.oms.errors import OmsError, ValidationFailed
from apps.oms.service.command_models import CommandEnvelope
from apps.oms.service.submit import submit

router = APIRouter(tags=["oms"])


def _refuse_constant(name: str) -> Any:
    raise ValidationFailed(f"{name} is not allowed in a decimal field")


async def read_exact_json(request: Request) -> Any:
    """JSON body with numbers as `Decimal` (exact) and NaN/Infinity refused."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise OmsError("request body too large", code="payload_too_large", status=413)
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"malformed JSON: {exc}") from exc


BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/CommandEnvelope"},
                        {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/CommandEnvelope"},
                        },
                    ]
                }
            }
        },
    }
}


@router.post(
    "/oms/commands",
    openapi_extra=BODY_SCHEMA,
    responses={207: {"description": "some items failed"}},
)
async def post_commands(
    request: Request,
    principal: PrincipalDep,
    store: StoreDep,
    settings: SettingsDep,
    wait: Annotated[Literal["accepted", "completed"], Query()] = "accepted",
    parallel: Annotated[bool, Query(description="accepted for compatibility")] = False,
) -> JSONResponse:
    body = await read_exact_json(request)
    status, content = await submit(store, settings, principal, body, wait=wait == "completed")
    return JSONResponse(status_code=status, content=content)


def register_schemas(openapi: dict[str, Any]) -> None:
    """Add the command envelope schema referenced by the hand-written request body."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas["CommandEnvelope"] = CommandEnvelope.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
