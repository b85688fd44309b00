"""`/ui`: the built console is served as static files; without a build, a clear 503 says how."""

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from apps.api.console import mount_console
from apps.api.errors import install_error_handlers


async def get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path)


async def test_built_console_is_served_at_ui(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<html>console</html>")
    (tmp_path / "assets" / "app.js").write_text("console.log(1)")
    app = FastAPI()
    assert mount_console(app, tmp_path)
    assert (await get(app, "/ui")).headers["location"] == "/ui/"
    index = await get(app, "/ui/")
    assert index.status_code == 200
    assert index.text == "<html>console</html>"
    asset = await get(app, "/ui/assets/app.js")
    assert asset.status_code == 200
    assert asset.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert (await get(app, "/favicon.ico")).status_code == 404  # this build has no icon


async def test_the_origins_favicon_is_the_consoles_icon(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<html>console</html>")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    app = FastAPI()
    assert mount_console(app, tmp_path)
    icon = await get(app, "/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text == "<svg/>"


async def test_unbuilt_console_answers_how_to_build_it(tmp_path: Path) -> None:
    app = FastAPI()
    install_error_handlers(app)
    assert not mount_console(app, tmp_path / "missing")
    for path in ("/ui", "/ui/", "/ui/assets/app.js"):
        response = await get(app, path)
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "console_not_built"
        assert "make console" in error["message"]
        assert "npm ci" in error["message"]


def test_banner_names_the_console_url_or_how_to_build_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from apps.cli import runner

    monkeypatch.setattr(runner, "console_built", lambda: True)
    assert runner.console_banner_line("http://127.0.0.1:8000") == (
        "  console:  http://127.0.0.1:8000/ui/"
    )
    monkeypatch.setattr(runner, "console_built", lambda: False)
    assert "make console" in runner.console_banner_line("http://127.0.0.1:8000")
