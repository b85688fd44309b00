"""A JSON response for bodies that are already wire-ready (plain str/int/bool/None/list/dict):
skips FastAPI's response-model validation and `jsonable_encoder`, which dominate large lists."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse


class WireJSONResponse(JSONResponse):
    # a JSONResponse for OpenAPI (routes declare their body model with `responses=`)

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()
