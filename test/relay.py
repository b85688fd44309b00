"""A TCP relay to MariaDB that a test can cut (every open connection dropped, new ones refused)
and restore on the same port: a real store outage for one client, the server left running.

A cut keeps the relay's port bound and refuses each new connection with a reset: a closed
port would be free for any other test's server to take (tests bind ephemeral ports side by
side), and a client of the store connecting to that server would wait forever for a MariaDB
greeting that never comes (`test_outage_is_503_logged_once_and_recovers` hung for 600 s so)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

from test.conftest import MYSQL_HOST, MYSQL_PORT


def _refuse(writer: asyncio.StreamWriter) -> None:
    """Close with a reset (SO_LINGER 0), as a refused or dropped connection reads."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


class Relay:
    """127.0.0.1:<port> → MariaDB, with `cut()`, `restore()` and, at the end, `close()`."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0
        self.open = False
        self.writers: set[asyncio.StreamWriter] = set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            _refuse(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(MYSQL_HOST, MYSQL_PORT)
        except OSError:
            # MariaDB did not take the connection: drop the client's too, as a server that is
            # down would (left open, the client would wait for a greeting that never comes)
            _refuse(writer)
            return
        if not self.open:  # accepted while a cut was under way: refused like those after it
            _refuse(writer)
            up_writer.close()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def restore(self) -> None:
        if self.server is None:
            self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
            self.port = self.server.sockets[0].getsockname()[1]
        self.open = True

    async def cut(self) -> None:
        assert self.server is not None
        self.open = False
        for writer in list(self.writers):  # dropped as before the cut: the peer reads an EOF
            writer.close()
        self.writers.clear()

    async def close(self) -> None:
        """Cut, and give the port back."""
        if self.server is not None:
            await self.cut()
            self.server.close()
            await self.server.wait_closed()
            self.server = None
