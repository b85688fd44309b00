"""The operator commands' HTTP side: where the API is and which key to use (flag > environment >
profile file), one client, and every failure turned into one line that says what to do."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx

from apps.cli.hints import hint as hint_for
from apps.cli.output import fail

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
PROFILE_FILE = Path("~/.config/ccxt-oms/profiles.toml")
EXIT_REFUSED = 2  # the API answered no (4xx): fix the input, the key or its grants
EXIT_UNAVAILABLE = 3  # the API is unreachable or failed (5xx): retry later or check the server


@dataclass(frozen=True)
class Target:
    """Where to send requests and as whom."""

    base_url: str
    api_key: str | None
    timeout: float = 30.0


def profile_path() -> Path:
    return Path(os.environ.get("OMS_PROFILE_FILE", str(PROFILE_FILE))).expanduser()


def load_profile(name: str | None) -> tuple[dict[str, Any], str]:
    """The `[profiles.<name>]` table of the profile file and where it is (for messages).

    `name` (`--profile`) or `OMS_PROFILE` names a profile that must exist; unnamed, `default` is
    used when the file has one."""
    path = profile_path()
    named_by = "--profile" if name else "OMS_PROFILE"
    named = name or os.environ.get("OMS_PROFILE") or None
    wanted = named or "default"
    where = f"[profiles.{wanted}] in {path}"
    if not path.exists():
        if named:
            fail(
                f"profile `{named}` ({named_by}) does not exist: there is no profile file {path}"
                " (create it, or set OMS_PROFILE_FILE)",
                EXIT_REFUSED,
            )
        return {}, where
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8")).get("profiles", {})
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read profile file {path}: {exc}", EXIT_REFUSED)
    if wanted not in profiles:
        if named:
            fail(
                f"profile `{named}` ({named_by}) does not exist: no [profiles.{named}] in {path}"
                f" (profiles there: {', '.join(profiles) or 'none'})",
                EXIT_REFUSED,
            )
        return {}, where
    profile: dict[str, Any] = profiles[wanted]
    return profile, where


def resolve(base_url: str | None, api_key: str | None, profile: str | None) -> Target:
    """Flag first, then OMS_BASE_URL / OMS_API_KEY, then the profile, then the local default."""
    stored, where = load_profile(profile)
    url = base_url or os.environ.get("OMS_BASE_URL") or stored.get("base_url") or DEFAULT_BASE_URL
    sources = (("--api-key", api_key), ("OMS_API_KEY", os.environ.get("OMS_API_KEY")),
               (where, stored.get("api_key")))  # fmt: skip
    source, key = next(((s, str(k)) for s, k in sources if k), ("", None))
    if key is not None:
        check_key(key, source)
    return Target(str(url).rstrip("/"), key)


def check_key(key: str, source: str) -> None:
    """Exit 2 unless `key` can be sent as a header: keys are printable ASCII without spaces
    (`oms_` and URL-safe characters), so anything else is a placeholder or a bad paste."""
    bad = next((i for i, char in enumerate(key) if not "!" <= char <= "~"), None)
    if bad is not None:
        fail(
            f"the API key from {source} has {key[bad]!r} at character {bad + 1}: keys are plain"
            " ASCII without spaces; paste the whole key that was printed for you, not the docs'"
            " `oms_…` placeholder",
            EXIT_REFUSED,
        )


class Api:
    """A thin synchronous client: returns the decoded body or exits with one clear line."""

    def __init__(self, target: Target) -> None:
        self.target = target
        headers = {"x-api-key": target.api_key} if target.api_key else {}
        self.client = httpx.Client(
            base_url=target.base_url, headers=headers, timeout=target.timeout
        )

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=_clean(params or {}))

    def post(
        self, path: str, body: Any, params: dict[str, Any] | None = None, *, ok_207: bool = False
    ) -> Any:
        return self.request("POST", path, json=body, params=_clean(params or {}), ok_207=ok_207)

    def request(self, method: str, path: str, *, ok_207: bool = False, **kwargs: Any) -> Any:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            fail(
                f"the API at {self.target.base_url} did not answer within {self.target.timeout:g}s:"
                " it may be overloaded; retry, or check `ccxt-oms healthz`",
                EXIT_UNAVAILABLE,
            )
        except httpx.TransportError as exc:
            fail(
                f"cannot reach the API at {self.target.base_url} ({type(exc).__name__}): start it"
                " with `ccxt-oms up` or pass --base-url / set OMS_BASE_URL",
                EXIT_UNAVAILABLE,
            )
        if response.status_code < 300 or (ok_207 and response.status_code == 207):
            return _body(response)
        explain(method, path, response, self.target)

    def close(self) -> None:
        self.client.close()


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {"text": response.text}


def explain(method: str, path: str, response: httpx.Response, target: Target) -> NoReturn:
    """Exit with one line: the API's code and message, and what to do about it."""
    status = response.status_code
    body = _body(response)
    error = body.get("error") if isinstance(body, dict) else None
    code = str(error.get("code", "")) if isinstance(error, dict) else ""
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    if status == 404 and code in ("", "not_found"):
        fail(
            f"{method} {path}: this API ({target.base_url}) has no such endpoint (404);"
            " the server is older than this CLI or the feature is not built yet",
            EXIT_REFUSED,
        )
    if status == 401 and not target.api_key:
        code = code or "missing_api_key"
    details = error.get("details") if isinstance(error, dict) else None
    hint = hint_for(status, code, message, details if isinstance(details, dict) else {})
    if not hint and status >= 500:
        hint = (
            f"retry later; check `ccxt-oms healthz` (trace {error.get('trace_id')})"
            if isinstance(error, dict)
            else "retry later; check `ccxt-oms healthz`"
        )
    text = f"{status} {code or 'error'}: {message or response.reason_phrase}"
    fail(
        f"{text}{' — ' + hint if hint else ''}", EXIT_REFUSED if status < 500 else EXIT_UNAVAILABLE
    )


def call(target: Target, action: Callable[[Api], Any]) -> Any:
    """Run `action` with a client that is closed afterwards."""
    api = Api(target)
    try:
        return action(api)
    finally:
        api.close()
