"""A refusal's hint follows its cause, read from the error body the API sends: a role that may
never do the action is not sent to `set-permission`, a missing flag is, and so on."""

import json

import httpx
import pytest

from apps.api.errors import error_response
from apps.cli.http_client import Target, explain
from apps.oms.domain.access import AccessDenied, AccountFlags, Action, Role, authorize

TARGET = Target("http://127.0.0.1:8000", "oms_key")


def refusal(role: Role, flags: AccountFlags | None, action: Action) -> AccessDenied:
    with pytest.raises(AccessDenied) as caught:
        authorize(role, flags, action)
    return caught.value


def line_for(status: int, code: str, message: str, capsys: pytest.CaptureFixture[str],
             details: dict[str, object] | None = None) -> str:  # fmt: skip
    """The CLI's one line for the body the API's error handler builds."""
    body = bytes(error_response(status, code, message, details).body)
    response = httpx.Response(status, content=body, headers={"content-type": "application/json"})
    assert json.loads(body)["error"]["code"] == code
    with pytest.raises(SystemExit) as exited:
        explain("POST", "/oms/reassign", response, TARGET)
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    return lines[0]


def test_a_role_refusal_names_the_roles_that_may_and_not_set_permission(
    capsys: pytest.CaptureFixture[str],
) -> None:
    denied = refusal(Role.TRADER, AccountFlags(can_trade=True), Action.REASSIGN)
    line = line_for(403, denied.code, denied.message, capsys)
    assert "403 permission_denied: role trader may not reassign" in line
    assert "set-permission" not in line
    assert "portfolio_manager" in line
    assert "--role portfolio_manager" in line


def test_a_role_refusal_lists_every_role_that_may(capsys: pytest.CaptureFixture[str]) -> None:
    denied = refusal(Role.READONLY, AccountFlags(), Action.CLOSE)
    line = line_for(403, denied.code, denied.message, capsys)
    assert "trader or portfolio_manager or robot or risk" in line
    assert "set-permission" not in line


def test_a_missing_flag_names_the_flag_and_set_permission(
    capsys: pytest.CaptureFixture[str],
) -> None:
    denied = refusal(Role.PORTFOLIO_MANAGER, AccountFlags(can_trade=False), Action.REASSIGN)
    line = line_for(403, denied.code, denied.message, capsys)
    assert "this key may not reassign on the account" in line
    assert "--can-trade" in line
    assert "set-permission" in line
    denied = refusal(Role.RISK, AccountFlags(can_risk_manage=True), Action.BLOCK_ACCOUNT)
    line = line_for(403, denied.code, denied.message, capsys)
    assert "--can-risk-manage --can-block-account" in line
    denied = refusal(Role.TRADER, AccountFlags(), Action.RECONCILE)
    assert "--can-trade or --can-risk-manage" in line_for(403, denied.code, denied.message, capsys)


def test_other_causes_get_their_own_hint(capsys: pytest.CaptureFixture[str]) -> None:
    denied = refusal(Role.ADMIN, None, Action.TRADE)
    line = line_for(403, denied.code, denied.message, capsys)
    assert "admin_read_only" in line
    assert "trading user" in line
    denied = refusal(Role.TRADER, None, Action.ADMINISTER)
    assert "use an admin key" in line_for(403, denied.code, denied.message, capsys)
    line = line_for(403, "strategy_permission_denied", "this key is not granted strategy 7", capsys)
    assert "--strategy-ids" in line
    line = line_for(403, "function_not_allowed", "withdraw needs an explicit allowed_functions"
                    " grant on this account", capsys,
                    {"function": "withdraw", "class": "restricted"})  # fmt: skip
    assert "grant-function" in line
    assert "--function withdraw" in line
    line = line_for(403, "permission_denied", "setting paper prices needs can_trade on a paper"
                    " account", capsys)  # fmt: skip
    assert "--can-trade" in line
    line = line_for(403, "permission_denied", "something new", capsys)
    assert "list-accounts" in line
    assert "set-permission" not in line
