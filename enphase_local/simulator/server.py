"""Running an aiohttp application on a loopback port that can be closed and reopened.

A reboot must *really* stop listening (clients get "connection refused") and then come back
on the same port, so each start makes a fresh runner and site on the remembered port.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

from aiohttp import web

#: How long a stopping server waits for handlers (hung ones are then cancelled), seconds.
SHUTDOWN_TIMEOUT_S = 0.2


class Listener:
    """One aiohttp application bound to ``host:port``, HTTP or HTTPS."""

    def __init__(
        self,
        make_app: Callable[[], web.Application],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._make_app = make_app
        self.host = host
        self.port = port
        self._ssl = ssl_context
        self._runner: web.AppRunner | None = None

    def __repr__(self) -> str:
        return f"Listener({self.url}, running={self.running})"

    @property
    def running(self) -> bool:
        """Whether the port is open."""
        return self._runner is not None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``https://127.0.0.1:54321`` (port 0 until first started)."""
        scheme = "https" if self._ssl is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    async def start(self) -> None:
        """Open the port (the OS picks one the first time when ``port`` is 0)."""
        if self._runner is not None:
            return
        runner = web.AppRunner(
            self._make_app(),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
            # A client that gives up ends its request, so a hung one stops counting as in flight.
            handler_cancellation=True,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=self._ssl, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        if self.port == 0:
            self.port = runner.addresses[0][1]
        self._runner = runner

    def set_ssl_context(self, ssl_context: ssl.SSLContext) -> None:
        """Serve with this TLS context from the next :meth:`start` on."""
        self._ssl = ssl_context

    async def stop(self) -> None:
        """Close the port and every open connection."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
