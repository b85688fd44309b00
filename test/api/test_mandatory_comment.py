"""One comment type for every route whose comment is mandatory (docs/identity-and-risk.md): a
blank comment (`""`, `"   "`, whitespace of any kind) is refused with 422 and writes no audit row;
a comment is stored stripped."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from apps.oms.store.tables import audit_log

from .conftest import World
from .test_edges import risk_key

pytestmark = pytest.mark.mysql
Api = tuple[httpx.AsyncClient, World]
BLANKS = ["", "   ", "\t\n "]


def routes(acct: int) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("PUT", f"/oms/risk/{acct}/allocations",
         {"strategy_id": 1, "currency": "USDT", "amount": "100"}),
        ("POST", f"/oms/risk/{acct}/allocations/clear", {"strategy_id": 1}),
        ("PUT", f"/oms/risk/{acct}/limits", {"strategy_id": 0, "max_order_qty": "5"}),
        ("POST", f"/oms/risk/{acct}/allow_new_positions", {"allow_new_positions": True}),
        ("POST", f"/oms/risk/{acct}/strategies/allow_new_positions",
         {"strategy_id": 1, "allow_new_positions": True}),
        ("POST", f"/oms/risk/{acct}/status", {"status": "active"}),
        ("POST", f"/oms/risk/{acct}/shadow", {"shadow": False}),
        ("POST", f"/oms/risk/{acct}/strategies/shadow", {"strategy_id": 1, "shadow": False}),
    ]  # fmt: skip


async def audit_rows(world: World) -> int:
    async with world.store.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(audit_log))).scalar_one())


@pytest.mark.parametrize("blank", BLANKS)
async def test_a_blank_comment_is_refused_on_every_route_that_requires_one(
    api: Api, blank: str
) -> None:
    client, world = api
    key = await risk_key(world)
    before = await audit_rows(world)
    for method, path, body in routes(world.account_id):
        response = await client.request(method, path, json={**body, "comment": blank},
                                        headers={"x-api-key": key})
        assert response.status_code == 422, (path, response.text)
        error = response.json()["error"]
        assert error["code"] == "validation_error", (path, error)
        assert "comment is mandatory" in error["message"], (path, error)
    assert await audit_rows(world) == before


async def test_a_comment_is_stored_stripped(api: Api) -> None:
    client, world = api
    key = await risk_key(world)
    response = await client.put(f"/oms/risk/{world.account_id}/limits",
                                json={"strategy_id": 0, "comment": "  tighter  "},
                                headers={"x-api-key": key})
    assert response.status_code == 200, response.text
    async with world.store.read() as conn:
        comment = (await conn.execute(
            select(audit_log.c.comment).order_by(audit_log.c.id.desc()).limit(1))).scalar_one()
    assert comment == "tighter"
