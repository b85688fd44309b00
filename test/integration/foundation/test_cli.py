"""Every installer CLI command against real MariaDB and SQLite stores (in-process, via typer)."""

import asyncio
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from apps.cli.main import app
from apps.oms.security.credentials import CredentialCipher
from apps.oms.store import accounts as account_store
from apps.oms.store import audit, identity
from apps.oms.store.migrate import upgrade
from apps.oms.store.store import Store
from test.conftest import MYSQL_HOST, MYSQL_PORT, create_mysql_database, drop_mysql_database

pytestmark = pytest.mark.mysql
runner = CliRunner()
MASTER = Fernet.generate_key().decode()


@pytest.fixture(scope="module", params=["sqlite", "mysql"])
def cli_store_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database of this module's own: the CLI opens the store in a new process-like
    context each call, and must not wait behind other modules' writers on the session SQLite
    file (seen as 'database is locked' after the 30 s busy timeout on a loaded machine)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('cli') / 'oms.sqlite3'}"
        upgrade(url)
        yield url
        return
    db, url = create_mysql_database("oms_cli")
    upgrade(url)
    yield url
    drop_mysql_database(db)


@pytest.fixture
def cli_env(cli_store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    store_url = cli_store_url
    monkeypatch.setenv("OMS_DATABASE_URL", store_url)
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", MASTER)
    monkeypatch.delenv("CONFIG_JSON_PATH", raising=False)
    return store_url


def cli(*args: str, ok: bool = True) -> dict[str, Any]:
    result = runner.invoke(app, list(args))
    if ok:
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return dict(json.loads(result.stdout))
    assert result.exit_code != 0
    return {"exit_code": result.exit_code, "stderr": result.stderr}


def name(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


def on_store(url: str, query: Any) -> Any:
    async def go() -> Any:
        store = Store.from_url(url)
        try:
            async with store.read() as conn:
                return await query(conn)
        finally:
            await store.close()

    return asyncio.run(go())


def test_install_output_shape_with_account(cli_env: str) -> None:
    out = cli(
        "install",
        "--admin-name",
        name("adm"),
        "--with-account",
        "--user-name",
        name("tr"),
        "--position-mode",
        "netting",
        "--label",
        "main",
    )
    assert set(out) == {"ok", "admin", "user", "api_key", "account"}
    assert set(out["admin"]) == {"user_id", "api_key"}
    assert set(out["admin"]["api_key"]) == {"id", "plain", "label"}
    assert set(out["user"]) == {"id", "name", "role"}
    assert out["user"]["role"] == "trader"
    assert set(out["api_key"]) == {"id", "plain", "label"}
    assert out["account"]["exchange_id"] == "paper"
    assert out["account"]["position_mode"] == "netting"
    assert out["account"]["is_testnet"] is False
    assert set(out["account"]) == {"id", "exchange_id", "label", "position_mode", "is_testnet"}


def test_install_without_account_returns_admin_as_user(cli_env: str) -> None:
    chosen = "k" * 40 + secrets.token_hex(4)
    out = cli("install", "--skip-schema", "--admin-name", name("adm"), "--api-key", chosen)
    assert "account" not in out
    assert out["user"]["role"] == "admin"
    assert out["api_key"] == out["admin"]["api_key"]
    assert out["admin"]["api_key"]["plain"] == chosen


def test_install_refuses_bad_input_and_writes_nothing(cli_env: str) -> None:
    admin = name("adm")
    bad = cli(
        "install", "--admin-name", admin, "--with-account", "--position-mode", "sideways", ok=False
    )
    assert bad["exit_code"] == 2
    assert bad["stderr"].count("\n") == 1
    assert "position_mode" in bad["stderr"]
    # the admin was not created: installing again with the same name works
    cli("install", "--skip-schema", "--admin-name", admin)


def test_user_key_account_permission_commands(cli_env: str) -> None:
    user = cli("create-user", "--name", name("u"), "--role", "robot")
    key = cli("create-api-key", "--user-id", str(user["user_id"]), "--label", "bot")
    assert set(key) == {"ok", "user_id", "api_key_id", "api_key", "label"}
    account = cli(
        "add-account",
        "--user-id",
        str(user["user_id"]),
        "--exchange-id",
        "ccxt.binance",
        "--label",
        "bin",
        "--position-mode",
        "strategy_netting",
    )
    assert set(account) == {"ok", "account_id", "user_id", "exchange_id", "label", "position_mode"}
    row = on_store(cli_env, lambda c: account_store.get_account(c, account["account_id"]))
    assert row.is_testnet
    assert not row.is_live
    cli("set-account-testnet", "--account-id", str(account["account_id"]), "--disabled")
    row = on_store(cli_env, lambda c: account_store.get_account(c, account["account_id"]))
    assert not row.is_testnet
    restricted = cli(
        "create-api-key",
        "--user-id",
        str(user["user_id"]),
        "--account-ids",
        str(account["account_id"]),
        "--can-trade",
        "--strategy-ids",
        "3,4",
    )
    cli(
        "set-permission",
        "--api-key-id",
        str(restricted["api_key_id"]),
        "--account-id",
        str(account["account_id"]),
        "--can-trade",
        "--can-close-position",
        "--strategy-ids",
        "5",
    )
    from apps.oms.store.identity import permissions_of_key

    grants = on_store(cli_env, lambda c: permissions_of_key(c, restricted["api_key_id"]))
    flags = grants[account["account_id"]]
    assert flags.can_trade
    assert flags.can_close_position
    assert flags.restrict_to_strategies
    assert flags.strategy_ids == frozenset({5})
    entries = on_store(cli_env, lambda c: audit.list_entries(c, limit=50))
    actions = {e["action"] for e in entries}
    assert {
        "create_user",
        "create_api_key",
        "add_account",
        "set_account_testnet",
        "set_permission",
    } <= actions


def test_unknown_references_are_one_line_errors(cli_env: str) -> None:
    for args in (
        ("create-api-key", "--user-id", "999999"),
        ("add-account", "--user-id", "999999"),
        ("set-account-testnet", "--account-id", "999999"),
        ("create-user", "--name", "x y", "--role", "trader"),
        ("create-user", "--name", name("u"), "--role", "wizard"),
        ("add-account", "--exchange-id", "ccxt.nosuchex"),
        ("add-account", "--exchange-id", "nosuchex"),
        ("add-account", "--exchange-id", "ccxtpro.nosuchex"),
        ("add-account", "--exchange-id", "kraken.binance"),
    ):
        out = cli(*args, ok=False)
        assert out["exit_code"] == 2, args
        assert out["stderr"].startswith("error: ")
        assert out["stderr"].count("\n") == 1


def test_add_account_takes_the_reference_spelling_of_ccxt_ids(cli_env: str) -> None:
    """`binance` (the reference design's spelling) is stored as `ccxt.binance`; an id CCXT does
    not have is refused above (`test_unknown_references_are_one_line_errors`)."""
    for given, stored in (("binance", "ccxt.binance"), ("ccxt.kraken", "ccxt.kraken"),
                          ("ccxtpro.binance", "ccxtpro.binance"), ("OKX", "ccxt.okx")):
        out = cli("add-account", "--exchange-id", given, "--label", "spelling", "--testnet")
        assert out["exchange_id"] == stored
        account_id = out["account_id"]
        row = on_store(cli_env, lambda conn, a=account_id: account_store.get_account(conn, a))
        assert row.exchange_id == stored


def test_create_user_defaults_to_the_trader_role(cli_env: str) -> None:
    out = cli("create-user", "--name", name("d"))
    assert out["role"] == "trader"
    user_id = out["user_id"]
    row = on_store(cli_env, lambda conn: identity.get_user(conn, user_id))
    assert row.role == "trader"


def test_credentials_are_encrypted_and_rotated(
    cli_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = cli("add-account", "--label", "creds")["account_id"]
    secret_value = "very-secret-" + secrets.token_hex(6)
    out = cli(
        "upsert-account-credentials",
        "--account-id",
        str(account),
        "--api-key",
        "AK",
        "--secret",
        secret_value,
        "--encrypt-input",
    )
    assert secret_value not in json.dumps(out)
    stored = on_store(cli_env, lambda c: account_store.get_credentials(c, account))
    assert stored["secret"].startswith("enc:v1:")
    assert secret_value not in stored["secret"]
    assert CredentialCipher(MASTER).decrypt(stored["secret"]) == secret_value
    # rotation: new master key, old one kept as previous
    new_master = Fernet.generate_key().decode()
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", new_master)
    monkeypatch.setenv("OMS_SECURITY__PREVIOUS_MASTER_KEYS", json.dumps([MASTER]))
    assert cli("rotate-master-key")["accounts_rewritten"] >= 1
    rotated = on_store(cli_env, lambda c: account_store.get_credentials(c, account))
    assert CredentialCipher(new_master).decrypt(rotated["secret"]) == secret_value


def test_plaintext_credentials_refused_when_required(
    cli_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = cli("add-account", "--label", "plain")["account_id"]
    monkeypatch.setenv("OMS_SECURITY__REQUIRE_ENCRYPTED_CREDENTIALS", "true")
    out = cli(
        "upsert-account-credentials", "--account-id", str(account), "--secret", "plain-s", ok=False
    )
    assert "plaintext credentials are refused" in out["stderr"]
    assert on_store(cli_env, lambda c: account_store.get_credentials(c, account)) is None


def test_master_key_and_encrypt(cli_env: str) -> None:
    key = cli("generate-master-key")["master_key"]
    Fernet(key.encode())
    token = cli("encrypt", "--value", "hello")["value"]
    assert CredentialCipher(MASTER).decrypt(token) == "hello"


def test_db_commands(cli_env: str) -> None:
    assert cli("db", "upgrade")["up_to_date"] is True
    assert cli("db", "current")["up_to_date"] is True


COMMANDS = [
    "install",
    "create-user",
    "create-api-key",
    "add-account",
    "upsert-account-credentials",
    "set-account-testnet",
    "set-permission",
    "generate-master-key",
    "encrypt",
    "rotate-master-key",
    "api",
    "worker",
    "up",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_example(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("nonsense", "not a valid database URL"),
        ("postgresql://u@h/db", "not supported"),
        ("mysql+aiomysql://root@127.0.0.1:1/nowhere", "cannot use the database"),
    ],
)
@pytest.mark.parametrize("command", ["db current", "up", "api"])
def test_wrong_database_url_is_one_line_and_exit_code(url: str, fragment: str, command: str) -> None:
    env = {**os.environ, "OMS_DATABASE_URL": url}
    proc = subprocess.run(
        [sys.executable, "-m", "apps.cli", *command.split()],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode in (2, 3)
    assert fragment in proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.mysql
@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("nonsense", "not a valid database URL"),
        (f"mysql+aiomysql://root@{MYSQL_HOST}:{MYSQL_PORT}/oms_no_such_database",
         "Unknown database"),
    ],
)
def test_worker_with_a_wrong_database_url_ends_with_one_line(url: str, fragment: str) -> None:
    """A worker waits for a store it cannot reach yet (test_worker_start.py), but one that
    answers "no such database" (or a URL that is not one) ends it at once: retrying would not
    help. An unreachable server is not tried here: the worker would wait for it."""
    env = {**os.environ, "OMS_DATABASE_URL": url}
    proc = subprocess.run([sys.executable, "-m", "apps.cli", "worker"], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert proc.returncode in (2, 3), proc.stderr
    assert fragment in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
