"""`/docs`, `/redoc` and `/docs/websocket` work without internet: every asset they reference is
served by this app from an installed package; the websocket protocol document matches the code."""

import re

import httpx
import pytest

from apps.api.asyncapi import ACTIONS, EVENTS
from apps.api.ws.actions import ACTIONS as WS_ACTIONS

from .conftest import World

pytestmark = pytest.mark.mysql
Api = tuple[httpx.AsyncClient, World]
ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


def referenced(html: str) -> list[str]:
    return [a or b for a, b in ASSET.findall(html)]


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/docs", {"/static/docs/swagger-ui-bundle.js", "/static/docs/swagger-ui.css"}),
        ("/redoc", {"/static/docs/redoc.standalone.js"}),
    ],
)
async def test_docs_reference_only_local_assets_and_they_are_served(
    api: Api, page: str, assets: set[str]
) -> None:
    client, _ = api
    response = await client.get(page)
    assert response.status_code == 200
    html = response.text
    assert "http://" not in html
    assert "https://" not in html
    urls = referenced(html)
    assert assets <= set(urls)
    for url in urls:
        assert url.startswith("/"), url
        served = await client.get(url)
        assert served.status_code == 200, url
        assert len(served.content) > 1000 or url == "/openapi.json", url
    js = await client.get("/static/docs/swagger-ui-bundle.js")
    assert "javascript" in js.headers["content-type"]


async def test_openapi_links_the_websocket_protocol(api: Api) -> None:
    client, _ = api
    spec = (await client.get("/openapi.json")).json()
    assert "/docs/websocket" in spec["info"]["description"]
    page = await client.get("/docs/websocket")
    assert page.status_code == 200
    assert "https://" not in page.text
    for _, action, _, _, _ in ACTIONS:
        assert f"<code>{action}</code>" in page.text


async def test_asyncapi_document_covers_every_socket_action_and_event(api: Api) -> None:
    client, _ = api
    doc = (await client.get("/asyncapi.json")).json()
    assert doc["asyncapi"].startswith("2.")
    channel = doc["channels"]["/ws"]
    documented = {m["name"] for m in channel["publish"]["message"]["oneOf"]}
    assert documented == {action for _, action in WS_ACTIONS}
    pushes = {m["name"] for m in channel["subscribe"]["message"]["oneOf"]}
    assert {"order_filled", "deal_created", "position_opened", "ticker_updated"} <= pushes
    assert pushes == {e for _, events, _ in EVENTS for e in events}
    order = doc["components"]["schemas"]["OrderOut"]
    assert {"order_id", "status", "exchange_order_id"} <= set(order["properties"])
