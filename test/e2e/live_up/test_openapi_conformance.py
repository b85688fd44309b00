"""schemathesis over the whole API against a real `ccxt-oms up` (API + worker, embedded store
with real books): every answer must match the OpenAPI document (status, content type, body)."""

import json
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from apps.api.app import create_app
from apps.oms.config import load_settings

from .conftest import Running

# the first test starts `ccxt-oms up` (module fixture): on a loaded machine that takes minutes
pytestmark = pytest.mark.timeout(900)

schema = schemathesis.openapi.from_dict(
    json.loads(json.dumps(create_app(load_settings()).openapi()))
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def seeded(running: Running) -> Running:
    """Books with something in them: filled and resting orders, positions, deals, a strategy,
    a bracket (an order read with its group's kind and its role)."""
    headers = {"x-api-key": running.trader_key}
    with httpx.Client(base_url=running.base_url, headers=headers, timeout=60) as client:
        client.post(
            "/paper/prices", json={"symbol": "BTC/USDT", "price": "50000"}
        ).raise_for_status()
        for payload in (
            {"symbol": "BTC/USDT", "side": "buy", "qty": "0.01"},
            {
                "symbol": "BTC/USDT",
                "side": "sell",
                "qty": "0.01",
                "order_type": "limit",
                "price": "90000",
            },
            {
                "symbol": "BTC/USDT",
                "side": "buy",
                "qty": "0.01",
                "bracket_stop_loss": {"trigger_price": "40000"},
                "bracket_take_profit": {"trigger_price": "60000"},
            },
        ):
            body = {"account_id": running.account_id, "command": "send_order", "payload": payload}
            answer = client.post("/oms/commands", params={"wait": "completed"}, json=body)
            assert answer.status_code == 200, answer.text
        client.post("/strategies", json={"name": "s1", "account_ids": [running.account_id]})
    return running


READS = [
    ("/oms/orders/open", {}),
    ("/oms/orders/history", {}),
    ("/oms/orders/{ids}", {"ids": "1,2"}),
    ("/oms/deals", {}),
    ("/oms/deals/{ids}", {"ids": "1"}),
    ("/oms/positions/open", {}),
    ("/oms/positions/history", {}),
    ("/oms/positions/{ids}", {"ids": "1"}),
    ("/oms/commands/{ids}", {"ids": "1,2"}),
    ("/oms/stats", {}),
    ("/oms/portfolio", {}),
    ("/oms/accounts", {}),
    ("/strategies", {}),
    ("/paper/prices", {}),
    ("/ccxt/orders/raw", {}),
    ("/ccxt/{account_id}/has", {"account_id": "1"}),
    ("/oms/risk/{account_id}/limits", {"account_id": "1"}),
]


@pytest.mark.parametrize(("path", "path_parameters"), READS)
def test_reads_with_real_rows_match_their_schema(
    seeded: Running, path: str, path_parameters: dict[str, str]
) -> None:
    operation = schema[path]["GET"]
    case = operation.Case(
        path_parameters=path_parameters,
        query={"account_ids": str(seeded.account_id)}
        if "account_ids" in str(operation.definition.raw)
        else {},
        headers={"x-api-key": seeded.trader_key},
    )
    response = case.call_and_validate(base_url=seeded.base_url, checks=CHECKS)
    assert response.status_code == 200, response.text
    body = response.json()
    if "items" in body and path != "/ccxt/orders/raw":
        assert body["items"], f"{path}: nothing to check"
    if path == "/oms/orders/history":
        assert ("bracket", "entry") in {(o["group_kind"], o["group_role"]) for o in body["items"]}


# last: the fuzzing sends random commands (cancels, closes) that change the seeded books
@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_matches_the_openapi_document(case: Any, seeded: Running) -> None:
    key = seeded.admin_key if case.path.startswith("/admin") else seeded.trader_key
    case.headers = {**(case.headers or {}), "x-api-key": key}
    case.call_and_validate(base_url=seeded.base_url, checks=CHECKS)
