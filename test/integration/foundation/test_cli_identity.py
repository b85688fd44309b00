"""The identity, grant, strategy, audit and risk CLI commands on SQLite and MariaDB."""

from __future__ import annotations

import pytest

from apps.oms.store import accounts as account_store

from .test_cli import cli, cli_env, cli_store_url, name, on_store  # noqa: F401 - fixtures

pytestmark = pytest.mark.mysql


def test_keys_grants_strategies_audit_and_risk(cli_env: str) -> None:  # noqa: F811
    account = cli("add-account", "--label", "idcli")["account_id"]
    user = cli("create-user", "--name", (who := name("id")), "--role", "trader")["user_id"]
    key = cli("create-api-key", "--user-id", str(user), "--account-ids", str(account),
              "--can-trade")  # fmt: skip
    key_id = key["api_key_id"]
    assert any(u["name"] == who for u in cli("list-users")["items"])
    [listed] = cli("list-api-keys", "--user-id", str(user))["items"]
    assert (listed["id"], listed["status"], listed["usable"]) == (key_id, "active", True)
    assert key["api_key"] not in str(listed)
    # restricted-function grants
    refused = cli("grant-function", "--api-key-id", str(key_id), "--account-id", str(account),
                  "--function", "fetch_balance", ok=False)  # fmt: skip
    assert "read function" in refused["stderr"]
    granted = cli("grant-function", "--api-key-id", str(key_id), "--account-id", str(account),
                  "--function", "setLeverage")  # fmt: skip
    assert granted["items"][0]["allowed_functions"] == ["set_leverage"]
    assert granted["items"][0]["can_trade"] is True
    shown = cli("show-permissions", "--api-key-id", str(key_id))
    assert shown["items"][0]["allowed_functions"] == ["set_leverage"]
    cli("revoke-function", "--api-key-id", str(key_id), "--account-id", str(account),
        "--function", "set_leverage")  # fmt: skip
    assert cli("show-permissions", "--api-key-id", str(key_id))["items"][0][
        "allowed_functions"] == []
    # disable, enable, expire, rotate
    assert cli("disable-api-key", "--api-key-id", str(key_id))["api_key"]["usable"] is False
    assert cli("enable-api-key", "--api-key-id", str(key_id))["api_key"]["usable"] is True
    expired = cli("expire-api-key", "--api-key-id", str(key_id), "--at", "2020-01-01T00:00:00Z")
    assert expired["api_key"]["usable"] is False
    assert cli("expire-api-key", "--api-key-id", str(key_id), "--at", "never")["api_key"][
        "usable"] is True
    rotated = cli("rotate-api-key", "--api-key-id", str(key_id))
    assert rotated["new_api_key"] != key["api_key"]
    # user changes
    assert cli("update-user", "--user-id", str(user), "--role", "readonly")["user"]["role"] == (
        "readonly")
    assert "--status" in cli("update-user", "--user-id", str(user), "--status", "x",
                             ok=False)["stderr"]
    # strategies with a numeric label (not unique)
    first = cli("admin-create-strategy", "--name", "g", "--account-ids", str(account),
                "--client-strategy-id", "9")["strategy_id"]  # fmt: skip
    cli("admin-create-strategy", "--name", "g2", "--account-ids", str(account),
        "--client-strategy-id", "9")  # fmt: skip
    assert [s["client_strategy_id"] for s in cli("admin-list-strategies")["items"]
            if s["strategy_id"] == first] == [9]
    # risk actions with a mandatory comment
    blocked = cli("set-account-status", "--account-id", str(account), "--status", "blocked",
                  "--comment", "margin call")  # fmt: skip
    assert blocked["status"] == "blocked"
    assert on_store(cli_env, lambda c: account_store.get_account(c, account)).status == (
        "blocked")
    denied = cli("allow-new-positions", "--account-id", str(account), "--deny",
                 "--comment", "loss limit")  # fmt: skip
    assert denied["allow_new_positions"] is False
    by_strategy = cli("allow-new-positions", "--account-id", str(account), "--deny",
                      "--strategy-id", str(first), "--comment", "robot")  # fmt: skip
    assert by_strategy["strategy_id"] == first
    missing = cli("set-account-status", "--account-id", str(account), "--status", "blocked",
                  "--comment", " ", ok=False)  # fmt: skip
    assert "comment" in missing["stderr"]
    entries = cli("audit", "--target-type", "account", "--target-id", str(account))["items"]
    actions = [e["action"] for e in entries]
    assert {"risk_account_status", "risk_allow_new_positions",
            "risk_strategy_allow_new_positions"} <= set(actions)
    assert next(e for e in entries if e["action"] == "risk_account_status")["comment"] == (
        "margin call")
