"""A TCP proxy on 127.0.0.1 in front of the simulator, that a test unplugs and plugs back.

Unplugged, it refuses connections and cuts the open ones, as a bk-job gone away does; plugged
back, it listens on the same port again. Frozen, it accepts connections and forwards nothing
either way, as a bk-job stopped with SIGSTOP (or a hung gateway) does; thawed, what waited
flows again. The simulator behind it keeps its jobs running.
"""

from __future__ import annotations

import asyncio


class Unpluggable:
    """``await proxy.plug()`` / ``await proxy.unplug()``; ``proxy.url`` stays the same."""

    def __init__(self, target_url: str) -> None:
        self.target_port = int(target_url.rsplit(":", 1)[1])
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    async def __aenter__(self) -> Unpluggable:
        await self.plug()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None:
            await self.unplug()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def plug(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def unplug(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()
        await self._server.wait_closed()
        self._server = None

    def freeze(self) -> None:
        """Accept connections, answer nothing, until ``thaw``."""
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        await self._flowing.wait()
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            self._open.discard(writer)
            writer.transport.abort()
            return
        self._open |= {writer, up_writer}
        await asyncio.gather(
            _pipe(reader, up_writer, self._flowing), _pipe(up_reader, writer, self._flowing)
        )
        self._open -= {writer, up_writer}


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, flowing: asyncio.Event
) -> None:
    try:
        while data := await reader.read(65536):
            await flowing.wait()
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.transport.abort()
