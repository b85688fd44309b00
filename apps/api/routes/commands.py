"""`POST /oms/commands`: one command or a batch; body parsed exactly (JSON numbers never float)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from apps.api.body import read_exact_json
from apps.api.deps import PrincipalDep, SettingsDep, StoreDep
from apps.api.read_schemas import CommandResults
from apps.oms.service.command_models import PAYLOAD_MODELS, CommandEnvelope
from apps.oms.service.submit import submit

router = APIRouter(tags=["oms"])
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
    response_model=None,
    responses={
        200: {"model": CommandResults, "description": "every item accepted (or executed)"},
        207: {"model": CommandResults, "description": "some items failed"},
    },
)
async def post_commands(
    request: Request,
    principal: PrincipalDep,
    store: StoreDep,
    settings: SettingsDep,
    wait: Annotated[Literal["accepted", "completed"], Query()] = "accepted",
) -> JSONResponse:
    body = await read_exact_json(request)
    status, content = await submit(store, settings, principal, body, wait=wait == "completed")
    return JSONResponse(status_code=status, content=content)


def register_schemas(openapi: dict[str, Any]) -> None:
    """Add the command envelope schema referenced by the hand-written request body, with one
    payload schema per command (`x-command` names the command it belongs to)."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    ref = "#/components/schemas/{model}"
    envelope = CommandEnvelope.model_json_schema(ref_template=ref)
    refs = []
    for command, model in PAYLOAD_MODELS.items():
        schema = model.model_json_schema(ref_template=ref)
        schemas.update(schema.pop("$defs", {}))  # nested models (a group's members)
        schemas[model.__name__] = schema | {"x-command": command}
        refs.append({"$ref": ref.format(model=model.__name__)})
    envelope["properties"]["payload"] = {
        "oneOf": refs, "title": "Payload", "description": "the fields of `command`"}  # fmt: skip
    schemas["CommandEnvelope"] = envelope


__all__ = ["read_exact_json", "register_schemas", "router"]
