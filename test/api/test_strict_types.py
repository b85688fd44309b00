"""Regression (issue 36, item 1; quality.md S3): every request body documented in `/openapi.json`
takes booleans as JSON booleans and integers as JSON integers. For each boolean and integer field
of every request schema (nested objects, list items and command payloads included), a body that
is otherwise well formed but carries a wrong-typed value there answers 422 naming that field, and
nothing is written."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from apps.api.app import create_app
from apps.oms.config import load_settings
from apps.oms.store.migrate import upgrade
from apps.oms.store.tables import metadata
from test.api.conftest import PEPPER, World, _seed

ADMIN_PATHS = ("/admin", "/user", "/auth", "/paper")
WRONG = {"boolean": ["true", "yes", 1], "integer": ["8", True, 8.5, 8.0]}
Loc = tuple[str | int, ...]


def _resolve(schema: dict[str, Any], root: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        if ref.startswith("#/components/schemas/"):
            schema = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
        else:  # a model's own `$defs`
            schema = root["$defs"][ref.rsplit("/", 1)[1]]
    return schema


def _options(schema: dict[str, Any]) -> list[dict[str, Any]]:
    alts = schema.get("anyOf") or schema.get("oneOf")
    if alts is None:
        return [schema]
    return [a for a in alts if a.get("type") != "null"]


def _sample(schema: dict[str, Any], ctx: tuple[dict[str, Any], dict[str, Any]]) -> Any:
    """A value that fits `schema` (required properties only)."""
    schema = _resolve(_options(_resolve(schema, *ctx))[0], *ctx)
    kind = schema.get("type")
    if "enum" in schema or "const" in schema:
        return schema.get("enum", [schema.get("const")])[0]
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: _sample(props[name], ctx) for name in schema.get("required", [])}
    if kind == "array":
        return [_sample(schema["items"], ctx)] if schema.get("minItems") else []
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if kind == "number":
        return "1"
    if schema.get("format") == "date-time":
        return "2099-01-01T00:00:00Z"
    return "BTC/USDT" if "pattern" in schema else "abcdefgh12"


def _fields(schema: dict[str, Any], ctx: tuple[dict[str, Any], dict[str, Any]],
            loc: Loc = ()) -> Iterator[tuple[Loc, str, Any, str | None]]:  # fmt: skip
    """(location, type, body, command) for every boolean/integer field below `schema`; `body`
    is a value of `schema` that reaches the location; `command` is the command a payload schema
    belongs to (its `x-command`), for the envelope around it."""
    schema = _resolve(schema, *ctx)
    for option in _options(schema):
        option = _resolve(option, *ctx)
        kind, command = option.get("type"), option.get("x-command")
        if kind in WRONG and "enum" not in option:
            yield loc, kind, _sample(option, ctx), None
        elif kind == "array" and "items" in option:
            for sub, sub_kind, item, _ in _fields(option["items"], ctx, (*loc, 0)):
                yield sub, sub_kind, [item], None
        elif "properties" in option:
            base = _sample(option, ctx)
            for name, prop in option["properties"].items():
                for sub, sub_kind, value, inner in _fields(prop, ctx, (*loc, name)):
                    body = base | {name: value} | ({"command": inner} if inner else {})
                    yield sub, sub_kind, body, command


def _set(body: Any, loc: Loc, value: Any) -> Any:
    if not loc:
        return value
    head, rest = loc[0], loc[1:]
    if isinstance(body, list):
        return [_set(body[0], rest, value)]
    return body | {head: _set(body.get(head), rest, value)}


def cases(spec: dict[str, Any], ids: dict[str, int]) -> Iterator[tuple[str, str, Loc, Any]]:
    """(method, url, field location, body with a wrong-typed value) for the whole API."""
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is None:
                continue
            url = re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m.group(1), "create_order")), path)
            root = body["schema"]
            for loc, kind, valid, _ in _fields(root, (root, spec)):
                for wrong in WRONG[kind]:
                    yield method.upper(), url, loc, _set(valid, loc, wrong)


async def _counts(world: World) -> dict[str, int]:
    async with world.store.read() as conn:
        return {
            t.name: int((await conn.execute(select(func.count()).select_from(t))).scalar_one())
            for t in metadata.sorted_tables
        }


def _error_locs(body: dict[str, Any]) -> list[list[str]]:
    """Locations named by a 422 body; a batch of commands reports per item (`details.results`),
    its locations are prefixed with the item's index."""
    details = body["error"]["details"]
    locs = [[str(p) for p in e["loc"] if p != "body"] for e in details.get("errors", [])]
    for item in details.get("results", []):
        for e in (item.get("error") or {}).get("details", {}).get("errors", []):
            locs.append([str(item["index"]), *map(str, e["loc"])])
    return locs


def _names(loc: Loc, locs: list[list[str]]) -> bool:
    """Whether an error points at `loc` (pydantic may add a union branch name after it)."""
    want = [str(p) for p in loc]
    return any(got[: len(want)] == want for got in locs)


@pytest.fixture
def own_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'oms.sqlite3'}"
    upgrade(url)
    return url


@pytest.fixture
async def own_api(own_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, World]]:
    """An app of its own (a lax parser would rotate keys and trip the login throttle)."""
    url = own_url
    app = create_app(load_settings(database={"url": url}, security={"api_key_pepper": PEPPER}))
    async with app.router.lifespan_context(app):
        world = await _seed(app.state.store)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client, world


ALL_FLAGS = dict.fromkeys(("can_trade", "can_close_position", "can_risk_manage",
                           "can_block_new_positions", "can_block_account"), True)  # fmt: skip


async def _targets(client: httpx.AsyncClient, world: World) -> tuple[dict[str, int], str]:
    """Ids for the path parameters (objects made for this test: a lax parser acts on them) and
    the key of a trader with every flag on the account."""
    admin = {"x-api-key": world.admin_key}
    strategy = await client.post("/admin/strategies", headers=admin,
                                 json={"name": "strict-types", "account_ids": [world.account_id]})
    user = await client.post("/admin/users-with-api-key", headers=admin, json={
        "name": "strict-target", "role": "trader",
        "permissions": [{"account_id": world.account_id, **ALL_FLAGS}]})  # fmt: skip
    own_key = await client.post("/user/api-keys", headers=admin, json={"label": "spare"})
    assert [strategy.status_code, user.status_code, own_key.status_code] == [201] * 3
    ids = {"account_id": world.account_id, "strategy_id": strategy.json()["strategy_id"],
           "user_id": user.json()["user"]["id"], "api_key_id": own_key.json()["id"]}  # fmt: skip
    return ids, user.json()["api_key"]["api_key"]


async def test_wrong_typed_booleans_and_integers_are_refused_everywhere(
    own_api: tuple[httpx.AsyncClient, World],
) -> None:
    client, world = own_api
    ids, trader_key = await _targets(client, world)
    spec = (await client.get("/openapi.json")).json()
    found = list(cases(spec, ids))
    fields = {(method, url, loc) for method, url, loc, _ in found}
    assert any(loc[-1] == "can_trade" for _, url, loc in fields if url == "/admin/api-keys")
    assert any(loc[-1] == "reduce_only" for _, url, loc in fields if url == "/oms/commands")
    before = await _counts(world)
    wrong = []
    for method, url, loc, body in found:
        key = world.admin_key if url.startswith(ADMIN_PATHS) else trader_key
        resp = await client.request(method, url, json=body, headers={"x-api-key": key})
        if resp.status_code != 422 or not _names(loc, _error_locs(resp.json())):
            wrong.append((method, url, loc, body, resp.status_code, resp.text[:200]))
    assert not wrong, "\n".join(map(str, wrong))
    assert await _counts(world) == before
