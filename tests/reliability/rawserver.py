"""A tiny HTTP/1.1 server on 127.0.0.1 that writes exactly the bytes a test tells it to.

aiohttp's own server is too well-behaved for these tests: it will not send a body that never
ends without chunking it, headers that never end, or a Content-Length it does not keep. Each
route here is a coroutine that gets the connection's writer and writes what it likes; the
server counts every connection (a bait server with no routes proves nobody connected) and
every request line.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Self

import attrs

#: Writes a whole response (or never finishes writing one).
Route = Callable[[asyncio.StreamWriter], Awaitable[None]]


def head(status: int = 200, headers: Mapping[str, str] | None = None) -> bytes:
    """A status line and headers, ending with the blank line (the connection then closes)."""
    lines = [f"HTTP/1.1 {status} X"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def whole(body: bytes, *, status: int = 200, content_type: str = "application/json") -> Route:
    """A route answering ``body`` with its Content-Length."""

    async def route(writer: asyncio.StreamWriter) -> None:
        length = str(len(body))
        writer.write(head(status, {"Content-Type": content_type, "Content-Length": length}))
        writer.write(body)
        await writer.drain()

    return route


@attrs.define
class RawServer:
    """``async with RawServer({"/path": route}) as server:`` then ``server.url + "/path"``."""

    routes: Mapping[str, Route] = attrs.field(factory=dict)
    #: Serve TLS with this context (the URL is then ``https://``).
    tls: ssl.SSLContext | None = None
    #: Connections accepted so far.
    connections: int = 0
    #: ``(method, path)`` of every request read so far.
    requests: list[tuple[str, str]] = attrs.field(factory=list)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = attrs.field(factory=set)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (``https`` with ``tls``)."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0, ssl=self.tls)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (
            ConnectionError,
            ssl.SSLError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ):
            pass  # the client gave up, which is what most of these tests want it to do
        except asyncio.CancelledError:
            # Only __aexit__ cancels these tasks (routes that never end); asyncio's stream
            # protocol would log a cancelled handler task as an error, so it ends quietly.
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        method, path, *_ = request.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        self.requests.append((method, path))
        route = self.routes.get(path)
        if route is None:
            writer.write(head(404, {"Content-Length": "0"}))
        else:
            await route(writer)
        await writer.drain()
