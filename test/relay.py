"""A TCP relay to MariaDB that a test can cut (every open connection dropped, new ones refused)
and restore on the same port: a real store outage for one client, the server left running."""

from __future__ import annotations

import asyncio
import contextlib

from test.conftest import MYSQL_HOST, MYSQL_PORT


class Relay:
    """127.0.0.1:<port> → MariaDB, with `cut()` and `restore()`."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0
        self.writers: set[asyncio.StreamWriter] = set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(MYSQL_HOST, MYSQL_PORT)
        except OSError:
            # MariaDB did not take the connection: drop the client's too, as a server that is
            # down would (left open, the client would wait for a greeting that never comes)
            writer.close()
            return
        if self.server is None or not self.server.is_serving():
            # accepted while a cut was closing the relay: refused like the connections after it
            writer.close()
            up_writer.close()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def restore(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.close()
        self.writers.clear()
        await self.server.wait_closed()
