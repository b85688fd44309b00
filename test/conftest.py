"""Shared fixtures: real databases (MariaDB/MySQL and SQLite), migrated once per session.

MySQL tests create their own database and drop it afterwards. When the server is unreachable they
skip locally, but fail under CI (`CI=true`): in CI MySQL tests must run.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import inspect
import os
import secrets
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from apps.oms.store.migrate import upgrade

# in-process workers of the tests run no scheduled reconciliation (tests count commands and
# events exactly); the scheduler's own tests call its round directly
os.environ.setdefault("OMS_RECONCILE__SCHEDULE", "false")
# The suite's paper market stands still, quotes bid = ask = price and has unlimited depth unless a
# test says otherwise
# (tests assert exact fills against prices they post); `make run` defaults to a moving random walk
# with a spread (test/integration/paper/test_market_moves.py runs those defaults).
os.environ.setdefault("OMS_PAPER_PRICE_SOURCE", "manual")
os.environ.setdefault("OMS_PAPER__DEFAULT_SPREAD_BPS", "0")
os.environ.setdefault("OMS_PAPER__LEVEL_NOTIONAL_USDT", "0")
# no funding times (00:00/08:00/16:00 UTC would add `funding` commands to counted sequences);
# funding's own tests set an interval or enqueue directly
os.environ.setdefault("OMS_PAPER__FUNDING_INTERVAL_SECONDS", "0")

MYSQL_HOST = os.environ.get("OMS_TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("OMS_TEST_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("OMS_TEST_MYSQL_USER", "root")
MYSQL_PASSWORD = os.environ.get("OMS_TEST_MYSQL_PASSWORD", "")


def _admin_connection() -> pymysql.connections.Connection:
    return pymysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, password=MYSQL_PASSWORD, autocommit=True
    )


#: connections the suite needs at once: three pytest workers, each test's stack with its own
#: pools (API, workers, the paper venue, the harness), beside whatever else uses the server. At
#: the server's default of 151 a loaded machine ran out ("Too many connections", 1040) and
#: kill -9 tests then waited on workers that could not reconnect.
SUITE_CONNECTIONS = 500
_raised: list[bool] = []


def _mysql_available() -> str | None:
    try:
        with _admin_connection() as conn:
            if not _raised:
                _raised.append(True)
                _more_connections(conn)
    except pymysql.err.MySQLError as exc:
        return str(exc)
    return None


def _more_connections(conn: pymysql.connections.Connection) -> None:
    """Lift the server's connection limit to what the suite needs, when this user may (a
    server the suite does not administer keeps its own: the tests then run as they can)."""
    try:
        with conn.cursor() as cur:
            cur.execute("SET GLOBAL max_connections ="
                        f" GREATEST(@@max_connections, {SUITE_CONNECTIONS})")
    except pymysql.err.MySQLError:
        return


def mysql_admin_connection() -> pymysql.connections.Connection:
    """An autocommit session of the test server's configured user (no database chosen)."""
    return _admin_connection()


def kill_mysql_sessions(*session_ids: int) -> None:
    """Drop these server sessions (`KILL CONNECTION`), as a server restart or a network cut
    would: the pool finds out on its next statement on them."""
    with _admin_connection() as conn, conn.cursor() as cur:
        for session_id in session_ids:
            cur.execute(f"KILL CONNECTION {int(session_id)}")


def create_mysql_database(prefix: str = "oms_test") -> tuple[str, str]:
    """Create a uniquely named database; return (name, SQLAlchemy URL)."""
    problem = _mysql_available()
    if problem is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"MySQL/MariaDB is required in CI but unreachable: {problem}")
        pytest.skip(f"MySQL/MariaDB unreachable: {problem}")
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    with _admin_connection() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    auth = MYSQL_USER + (f":{MYSQL_PASSWORD}" if MYSQL_PASSWORD else "")
    return name, f"mysql+aiomysql://{auth}@{MYSQL_HOST}:{MYSQL_PORT}/{name}"


def drop_mysql_database(name: str) -> None:
    with _admin_connection() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def empty_mysql_url() -> Iterator[str]:
    """A brand-new empty MySQL database (function scope), dropped afterwards."""
    name, url = create_mysql_database()
    yield url
    drop_mysql_database(name)


@pytest.fixture
def empty_sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'oms.sqlite3'}"


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    """A migrated MySQL database shared by the session."""
    name, url = create_mysql_database()
    upgrade(url)
    yield url
    drop_mysql_database(name)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite database shared by the session."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'oms.sqlite3'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session", params=["sqlite", "mysql"])
def store_url(request: pytest.FixtureRequest) -> str:
    """A migrated store, once per backend: tests using it run on SQLite and on MySQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "mysql_url"
    return str(request.getfixturevalue(fixture))


# suites that run on their own, as `make test-wire`, `make test-console` and `make test-e2e`
# (`.ci/run` runs them after `make test`): every test under these paths (a directory, or one
# file) carries the marker, so a new file there is in its suite without one of its own
SUITES_BY_PATH = {
    "wire": (("integration", "wire"),),
    "console": (("console",),),
    "e2e": (("e2e",), ("bus", "test_bus_e2e.py")),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).parent
    hung_after = _hung_after(config)
    for item in items:
        parts = item.path.relative_to(root).parts
        for marker, prefixes in SUITES_BY_PATH.items():
            if any(parts[: len(prefix)] == prefix for prefix in prefixes):
                item.add_marker(getattr(pytest.mark, marker))
        if hung_after and isinstance(item, pytest.Function):
            _cancel_when_hung(item, hung_after)


def _hung_after(config: pytest.Config) -> float:
    """pytest-timeout's safety net in seconds (the ini's `timeout`, or `--timeout`); 0: none."""
    try:
        return float(config.getoption("timeout", None) or config.getini("timeout") or 0)
    except (TypeError, ValueError):
        return 0.0


def _cancel_when_hung(item: pytest.Function, seconds: float) -> None:
    """An async test that outlives the safety net is cancelled where it awaits, and fails
    with its own traceback. pytest-timeout alone cannot end it: its signal raises in whatever
    frame runs when the alarm fires, which under an event loop is usually another task (an
    in-process worker's), so the test itself waited on for good and a suite run hung with no
    name to show for it. A test a marker gives its own limit keeps pytest-timeout's handling;
    Hypothesis' async tests (whose runner wraps an inner function) are left as they are."""
    test = item.obj
    if (not inspect.iscoroutinefunction(test) or hasattr(test, "hypothesis")
            or item.get_closest_marker("timeout") is not None):  # fmt: skip
        return
    item.obj = _bounded(test, seconds)


def _bounded(test: Callable[..., Awaitable[Any]], seconds: float) -> Callable[..., Any]:
    """`test`, cancelled at nine tenths of the safety net: pytest-timeout's alarm counts from
    the test's set-up and this from its call, so this fires first and the alarm, which would
    raise in whatever frame runs then, finds the test ended."""
    limit = seconds * 0.9

    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> Any:
        deadline = asyncio.timeout(limit)
        try:
            async with deadline:
                return await test(*args, **kwargs)
        except TimeoutError:
            if deadline.expired():  # ours, not a timeout the test itself ran into
                pytest.fail(f"hung: still waiting after {limit:g} s, cancelled where the "
                            "traceback above shows")
            raise

    return run


@pytest.fixture(autouse=True, scope="module")
def _collect_what_the_module_left() -> Iterator[None]:
    """Collect garbage once each module is done: an object its tests left open (a CCXT
    instance's HTTP session, a socket) warns as unraisable, which fails a test, and it then
    fails the module that left it, not whichever later test happened to trigger a collection
    in the same process."""
    yield
    gc.collect()
