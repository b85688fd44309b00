"""Regression (issue 13): on a store that is not the embedded demo, the CLI refuses plaintext
credentials by default (no setting needed) and stores nothing."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from apps.cli.main import app
from apps.oms.store import accounts as account_store

from .test_cli import on_store

runner = CliRunner()
pytestmark = pytest.mark.mysql


def test_plaintext_credentials_refused_by_default_on_mysql(
    mysql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OMS_ENV", "CONFIG_JSON_PATH", "OMS_SECURITY__REQUIRE_ENCRYPTED_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMS_DATABASE_URL", mysql_url)
    made = runner.invoke(app, ["add-account", "--label", "posture"])
    assert made.exit_code == 0, made.stderr
    account = json.loads(made.stdout)["account_id"]
    refused = runner.invoke(
        app, ["upsert-account-credentials", "--account-id", str(account), "--secret", "plain-s"]
    )
    assert refused.exit_code != 0
    assert "plaintext credentials are refused" in refused.stderr
    assert on_store(mysql_url, lambda c: account_store.get_credentials(c, account)) is None
