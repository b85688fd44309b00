"""The web console (`console/`, a static single-page app) served at `/ui` by the API process.

Mounted only when the built directory exists; otherwise `/ui` answers 503 with how to build it.
The console is a client of the public API like any other: it has no private endpoint.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from apps.api.errors import error_response

CONSOLE_DIST = Path(__file__).resolve().parents[2] / "console" / "dist"
BUILD_HINT = (
    "The web console is not built. Build it with `make console` (runs `npm ci && npm run build`"
    " in console/; Node 20 and npm needed), then restart the API; `make run` does both."
)


def console_built(dist: Path = CONSOLE_DIST) -> bool:
    return (dist / "index.html").is_file()


def mount_console(app: FastAPI, dist: Path = CONSOLE_DIST) -> bool:
    """Serves `dist` at `/ui/` when it is built; returns whether it was."""

    async def to_slash() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)

    async def favicon() -> FileResponse:
        # browsers ask the origin's /favicon.ico whatever the page says: the console's icon
        return FileResponse(dist / "favicon.svg", media_type="image/svg+xml")

    if console_built(dist):
        app.add_api_route("/ui", to_slash, include_in_schema=False)
        if (dist / "favicon.svg").is_file():
            app.add_api_route("/favicon.ico", favicon, include_in_schema=False)
        app.mount("/ui", StaticFiles(directory=dist, html=True), name="console")
        return True

    async def not_built(path: str = "") -> JSONResponse:
        return error_response(503, "console_not_built", BUILD_HINT, {"expected": str(dist)})

    app.add_api_route("/ui", not_built, include_in_schema=False)
    app.add_api_route("/ui/{path:path}", not_built, include_in_schema=False)
    return False
