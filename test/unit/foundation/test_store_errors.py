"""Which store errors a worker waits out at start (`is_store_unreachable`) and which the API
answers 503 for (`is_store_outage`): a server that cannot be reached or is overloaded, yes;
a server that answers this client no (credentials, unknown database or column), no."""

from __future__ import annotations

import sqlite3

import pymysql
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from apps.oms.store.store import is_store_outage, is_store_unreachable


def mysql_error(code: int, kind: type[Exception] = OperationalError) -> Exception:
    orig = pymysql.err.OperationalError(code, "message")
    return kind("SELECT 1", {}, orig)


@pytest.mark.parametrize("code", [2003, 2006, 2013, 1040, 1047, 1053, 1205, 1213, 1927])
def test_an_unreachable_or_busy_server_is_waited_for(code: int) -> None:
    assert is_store_outage(mysql_error(code))
    assert is_store_unreachable(mysql_error(code))


@pytest.mark.parametrize("code", [1044, 1045, 1049, 1054, 1142, 1146, 1227])
def test_a_server_that_answers_no_is_not_waited_for(code: int) -> None:
    assert not is_store_unreachable(mysql_error(code))


def test_errors_of_the_request_are_no_outage() -> None:
    assert not is_store_outage(mysql_error(1062, IntegrityError))
    assert not is_store_outage(mysql_error(1146, ProgrammingError))


def test_a_missing_sqlite_table_is_no_outage() -> None:
    """SQLITE_ERROR is the request's (here: no schema), not the store's state."""
    with sqlite3.connect(":memory:") as conn, pytest.raises(sqlite3.OperationalError) as raised:
        conn.execute("SELECT * FROM no_such_table")
    error = OperationalError("SELECT", {}, raised.value)
    assert not is_store_outage(error)
    assert not is_store_unreachable(error)


def test_sqlite_busy_is_an_outage() -> None:
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
    assert is_store_unreachable(OperationalError("UPDATE x", {}, busy))


async def test_a_connection_closed_while_it_is_set_up_is_an_outage(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """asyncmy raises `RuntimeError` when the server side closes a connection it is still
    setting up (HAProxy with no node up accepts, then closes: seen as a 500 in the R8 test);
    the engine's connect turns it into the lost connection it is."""
    import asyncmy


    async def closed_while_connecting(**_: object) -> None:
        raise RuntimeError("Transport does not expose socket instance")

    monkeypatch.setattr(asyncmy, "connect", closed_while_connecting)
    await connecting_is_an_outage("mysql+asyncmy://root@127.0.0.1:1/none")


async def connecting_is_an_outage(url: str) -> None:
    """A connection through the store's engine at `url` fails as an outage the worker waits
    out and the API answers 503 for."""
    from sqlalchemy import text

    from apps.oms.store.engine import create_engine

    engine = create_engine(url)
    try:
        with pytest.raises(OperationalError) as raised:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        assert is_store_outage(raised.value)
        assert is_store_unreachable(raised.value)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("driver", ["asyncmy", "aiomysql"])
async def test_a_server_that_accepts_and_never_greets_is_an_outage(
        monkeypatch: pytest.MonkeyPatch, driver: str) -> None:
    """A server that accepts the TCP connection and then says nothing (a frozen node, a
    proxy with nothing behind it): the drivers' own `connect_timeout` bounds only the TCP
    connect, and the connecting request waited for good; the engine bounds the whole set-up
    and answers the lost connection it is. The half-made connection's socket is closed then,
    not left open for the collector (whose "unclosed connection" warning failed a test run
    on a slow machine, where a set-up under load outlived the timeout)."""
    import asyncio
    import gc
    import warnings

    from apps.oms.store import engine as engine_module

    accepted: list[asyncio.StreamWriter] = []
    hung_up: list[bytes] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # held open, never a byte of greeting
        hung_up.append(await reader.read())  # b"": the client closed its end

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setitem(engine_module.CONNECT_ARGS, "connect_timeout", 1)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await connecting_is_an_outage(f"mysql+{driver}://root@127.0.0.1:{port}/none")
            gc.collect()
        assert accepted  # it did reach the server
        assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
        for _ in range(600):  # the client's close reaches the server (a safety net only)
            if len(hung_up) == len(accepted):
                break
            await asyncio.sleep(0.05)
        assert hung_up == [b""] * len(accepted)  # every socket closed by the client, at once
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
