"""Shared CLI plumbing: settings, store and running async use cases with one-line errors."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from apps.cli.output import fail
from apps.oms.config import Settings, load_settings
from apps.oms.errors import OmsError
from apps.oms.listen import port_busy, port_refused
from apps.oms.security.credentials import CredentialCipher
from apps.oms.store.boundary import DBAPIError, SQLAlchemyError
from apps.oms.store.engine import parse_database_url
from apps.oms.store.store import Store

T = TypeVar("T")


def settings() -> Settings:
    try:
        return load_settings()
    except OmsError as exc:
        fail(exc.message, 2)
        raise  # pragma: no cover - fail exits


def set_config_path(path: str | None) -> None:
    if path:
        os.environ["CONFIG_JSON_PATH"] = path


def safe_url(url: str) -> str:
    """The database URL with its password hidden, for messages."""
    return parse_database_url(url).render_as_string(hide_password=True)


def cipher(current: Settings) -> CredentialCipher:
    sec = current.security
    key = sec.encryption_master_key.get_secret_value() if sec.encryption_master_key else None
    return CredentialCipher(key, [k.get_secret_value() for k in sec.previous_master_keys])


def run(use_case: Callable[[Store], Awaitable[T]], current: Settings | None = None) -> T:
    """Run an async use case against the configured store; every failure is one line."""
    current = current or settings()

    async def _main() -> T:
        store = Store.from_url(current.database.url, pool_size=2)
        try:
            return await use_case(store)
        finally:
            await store.close()

    return run_sync(lambda: asyncio.run(_main()), current)  # type: ignore[no-any-return]


def run_sync(action: Callable[[], Any], current: Settings) -> Any:
    """Run `action` with the CLI's error policy: every failure is one line and an exit code
    (2: refused or misconfigured, 3: the database is unreachable or failed)."""
    try:
        return action()
    except OmsError as exc:
        fail(exc.message, 2)
    except (DBAPIError, OSError) as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        fail(f"cannot use the database at {safe_url(current.database.url)}: {reason}", 3)
    except SQLAlchemyError as exc:
        fail(f"database error: {str(exc).splitlines()[0]}", 3)
    return None  # pragma: no cover


def check_port(current: Settings, hint: str) -> None:
    """Before anything else starts (no banner, no store, no worker): the API's port must be
    free, else one line that says how to pick another."""
    host, port = current.api.host, current.api.port
    busy = port_busy(host, port)
    if busy is not None:
        fail(port_refused("the API", host, port, busy, hint).message, 2)


def check_store(current: Settings) -> None:
    """Fail fast with one line when the store URL is wrong or the server is unreachable."""
    run_sync(lambda: parse_database_url(current.database.url), current)
    if not current.database.url.startswith("sqlite"):
        run(lambda store: store.ping(), current)
