"""Settings sources and their priority: flat aliases > nested env > JSON file > defaults."""

import json
from pathlib import Path

import pytest

from apps.oms.config import DEFAULT_SQLITE_URL, load_settings
from apps.oms.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("OMS_") or name in ("CONFIG_JSON_PATH", "ENCRYPTION_MASTER_KEY"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = load_settings()
    assert settings.database.url == DEFAULT_SQLITE_URL
    assert (settings.api.host, settings.api.port) == ("127.0.0.1", 8000)
    assert settings.env == "dev"
    assert settings.worker.concurrency == 16
    assert settings.worker.lease_seconds == 30
    assert settings.paper.price_source == "random_walk"
    assert settings.websocket.queue_size == 1000
    assert not settings.credentials_must_be_encrypted


def test_json_file_then_nested_env_then_flat_alias(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"api": {"port": 7000, "host": "0.0.0.0"}, "worker": {"concurrency": 3}})
    )
    monkeypatch.setenv("CONFIG_JSON_PATH", str(config))
    assert load_settings().api.port == 7000
    monkeypatch.setenv("OMS_API__PORT", "7100")
    assert load_settings().api.port == 7100
    monkeypatch.setenv("OMS_API_PORT", "7200")
    settings = load_settings()
    assert settings.api.port == 7200
    assert settings.api.host == "0.0.0.0"
    assert settings.worker.concurrency == 3


def test_every_flat_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_DATABASE_URL", "mysql+aiomysql://u:p@db:3306/oms")
    monkeypatch.setenv("OMS_API_HOST", "0.0.0.0")
    monkeypatch.setenv("OMS_WORKER_CONCURRENCY", "4")
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", "zz-master-zz")
    monkeypatch.setenv("OMS_PAPER_PRICE_SOURCE", "manual")
    monkeypatch.setenv("OMS_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("OMS_LOG_FORMAT", "json")
    s = load_settings()
    assert s.database.url.startswith("mysql+aiomysql://")
    assert s.worker.concurrency == 4
    assert s.security.encryption_master_key is not None
    assert s.security.encryption_master_key.get_secret_value() == "zz-master-zz"
    assert "zz-master-zz" not in repr(s.security)
    assert (s.paper.price_source, s.logging.level, s.logging.format) == ("manual", "DEBUG", "json")


def test_prod_refuses_placeholder_pepper(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_ENV", "prod")
    with pytest.raises(ConfigError, match="api_key_pepper"):
        load_settings()
    monkeypatch.setenv("OMS_SECURITY__API_KEY_PEPPER", "a-real-long-random-pepper-value")
    settings = load_settings()
    assert settings.credentials_must_be_encrypted


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1]", "JSON object"),
        ('{"api": {"port": "x"}}', "api.port"),
    ],
)
def test_bad_config_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, message: str
) -> None:
    config = tmp_path / "c.json"
    config.write_text(content)
    monkeypatch.setenv("CONFIG_JSON_PATH", str(config))
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_missing_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFIG_JSON_PATH", "/nonexistent/config.json")
    with pytest.raises(ConfigError, match="not found"):
        load_settings()


def test_prod_refuses_change_me_placeholders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_ENV", "prod")
    monkeypatch.setenv("OMS_SECURITY__API_KEY_PEPPER", "CHANGE_ME")
    with pytest.raises(ConfigError, match="api_key_pepper"):
        load_settings()
    monkeypatch.setenv("OMS_SECURITY__API_KEY_PEPPER", "a-real-long-random-pepper-value")
    monkeypatch.setenv("ENCRYPTION_MASTER_KEY", "CHANGE_ME")
    with pytest.raises(ConfigError, match="encryption_master_key"):
        load_settings()


def test_non_json_list_in_env_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_API__CORS_ORIGINS", "not-json")
    with pytest.raises(ConfigError, match="invalid configuration"):
        load_settings()


def test_production_posture_by_default_outside_the_embedded_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 13: `env` defaulted to dev on MySQL and plaintext credentials were stored."""
    monkeypatch.delenv("OMS_ENV", raising=False)
    demo = load_settings()
    assert (demo.env, demo.credentials_must_be_encrypted) == ("dev", False)
    monkeypatch.setenv("OMS_DATABASE_URL", "mysql+aiomysql://u:p@db:3306/oms")
    mysql = load_settings()
    assert mysql.env == "prod"
    assert mysql.env_inferred
    assert mysql.credentials_must_be_encrypted
    monkeypatch.setenv("OMS_ENV", "dev")  # an explicit env wins, plaintext stays refused
    explicit = load_settings()
    assert explicit.env == "dev"
    assert explicit.credentials_must_be_encrypted
    monkeypatch.setenv("OMS_SECURITY__REQUIRE_ENCRYPTED_CREDENTIALS", "false")
    assert not load_settings().credentials_must_be_encrypted  # the operator's explicit choice


def test_dev_pepper_warning_only_off_the_demo_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (issue 36, item 7): the first `make run` warned that the pepper was the public
    development value "on a non-demo store" although the store was the embedded demo."""
    from apps.oms.config import posture_warnings

    assert posture_warnings(load_settings()) == []  # make run: the demo store, dev
    monkeypatch.setenv("OMS_DATABASE_URL", "mysql+aiomysql://u:p@db:3306/oms")
    (warning,) = posture_warnings(load_settings())  # prod by default, dev pepper
    assert "non-demo store" in warning
    monkeypatch.setenv("OMS_SECURITY__API_KEY_PEPPER", "a-real-long-random-pepper-value")
    assert posture_warnings(load_settings()) == []
