"""The operator CLI's refusals before any request: a key that cannot be sent, a profile that does
not exist. Each is one line on stderr and exit 2, never a traceback."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from apps.cli.main import app

runner = CliRunner()
UNREACHABLE = "http://127.0.0.1:9"  # nothing listens: a request would exit 3, not 2


def one_line_error(result: object, code: int) -> str:
    exit_code = getattr(result, "exit_code", None)
    stderr = str(getattr(result, "stderr", ""))
    assert exit_code == code, (getattr(result, "exception", None), stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def invoke(tmp_path: Path, *args: str, **env: str | None) -> object:
    environ: dict[str, str | None] = {
        "OMS_BASE_URL": UNREACHABLE,
        "OMS_API_KEY": None,
        "OMS_PROFILE": None,
        "OMS_PROFILE_FILE": str(tmp_path / "missing.toml"),
    }
    environ.update(env)
    return runner.invoke(app, list(args), env=environ)


@pytest.mark.parametrize("key", ["oms_…", "oms_ключ", "oms_a b", "oms_tab\there"])
def test_a_key_that_cannot_be_a_header_is_one_line_and_exit_2(tmp_path: Path, key: str) -> None:
    line = one_line_error(invoke(tmp_path, "list-accounts", OMS_API_KEY=key), 2)
    assert "OMS_API_KEY" in line
    assert "placeholder" in line
    line = one_line_error(invoke(tmp_path, "list-accounts", "--api-key", key), 2)
    assert "--api-key" in line


def test_a_placeholder_key_in_the_profile_names_the_profile(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[profiles.default]\napi_key = "oms_…"\n', encoding="utf-8")
    line = one_line_error(invoke(tmp_path, "list-accounts", OMS_PROFILE_FILE=str(path)), 2)
    assert "[profiles.default]" in line
    assert str(path) in line


def test_a_missing_profile_named_in_the_environment_is_said_with_those_that_exist(
    tmp_path: Path,
) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[profiles.default]\napi_key = "k"\n[profiles.prod]\napi_key = "k"\n')
    result = invoke(tmp_path, "list-accounts", OMS_PROFILE="nope", OMS_PROFILE_FILE=str(path))
    line = one_line_error(result, 2)
    assert "profile `nope` (OMS_PROFILE) does not exist" in line
    assert "default, prod" in line
    assert "add api_key" not in line
    result = invoke(tmp_path, "list-accounts", "--profile", "nope", OMS_PROFILE_FILE=str(path))
    line = one_line_error(result, 2)
    assert "profile `nope` (--profile) does not exist" in line
    assert "[profiles.nope]" in line


def test_a_named_profile_without_a_profile_file_is_said(tmp_path: Path) -> None:
    line = one_line_error(invoke(tmp_path, "list-accounts", OMS_PROFILE="nope"), 2)
    assert "profile `nope` (OMS_PROFILE) does not exist" in line
    assert "missing.toml" in line


def test_no_profile_named_and_no_file_still_falls_back_to_the_environment(
    tmp_path: Path,
) -> None:
    # the key is fine and the profile unnamed: the CLI gets as far as the request (exit 3)
    line = one_line_error(invoke(tmp_path, "list-accounts", OMS_API_KEY="oms_plain"), 3)
    assert "cannot reach the API" in line
