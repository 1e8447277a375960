"""A real mosquitto broker on a free loopback port, for the MQTT sink tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
import pytest

#: Set to 1 (as CI does, after ``scripts/mosquitto.sh``) to fail instead of skipping.
REQUIRE_ENV = "ENPHASE_REQUIRE_MOSQUITTO"


def mosquitto_binary() -> str | None:
    """The mosquitto executable, also where Debian puts it outside a root PATH."""
    found = shutil.which("mosquitto")
    if found is not None:
        return found
    return "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None


def require_mosquitto() -> str:
    """The binary; skip the test when it is absent, unless CI requires it."""
    binary = mosquitto_binary()
    if binary is None:
        reason = "mosquitto is not installed (run scripts/mosquitto.sh as root)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)
    return binary


def free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Broker:
    """mosquitto with a generated config: loopback only, anonymous, no persistence."""

    def __init__(self, binary: str, folder: Path) -> None:
        self.binary = binary
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        self.log = folder / "mosquitto.log"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "log_dest stderr\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
        )
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        with self.log.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                self.binary, "-c", str(self.config), stdout=log, stderr=log
            )
        async with asyncio.timeout(10):
            while True:
                if self._process.returncode is not None:
                    raise RuntimeError(f"mosquitto exited: {self.log.read_text()}")
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                except OSError:
                    await asyncio.sleep(0.02)
                    continue
                writer.close()
                await writer.wait_closed()
                return

    async def stop(self) -> None:
        """Stop the broker (its retained messages are gone: persistence is off)."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            async with asyncio.timeout(10):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


class Subscriber:
    """Collects every message under some topic filters, keeping the latest per topic."""

    def __init__(self, port: int, *filters: str) -> None:
        self.port = port
        self.filters = filters
        self.latest: dict[str, bytes] = {}
        self.retained: set[str] = set()
        self.count: dict[str, int] = {}
        #: Every message received, in order, as ``"<topic> <payload as text>"``.
        self.texts: list[str] = []
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def __aenter__(self) -> Subscriber:
        self._task = asyncio.get_running_loop().create_task(self._run())
        async with asyncio.timeout(10):
            await self._ready.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        async with aiomqtt.Client("127.0.0.1", self.port) as client:
            for topic_filter in self.filters:
                await client.subscribe(topic_filter, qos=1)
            self._ready.set()
            async for message in client.messages:
                topic = str(message.topic)
                assert isinstance(message.payload, bytes)
                async with self._changed:
                    self.latest[topic] = message.payload
                    self.count[topic] = self.count.get(topic, 0) + 1
                    self.texts.append(f"{topic} {message.payload.decode('utf-8', 'replace')}")
                    if message.retain:
                        self.retained.add(topic)
                    self._changed.notify_all()

    def json(self, topic: str) -> Any:
        """The latest message on ``topic``, decoded."""
        return orjson.loads(self.latest[topic])

    async def wait_for(
        self, topic: str, check: Callable[[bytes], bool] = lambda _: True, timeout_s: float = 15
    ) -> bytes:
        """Wait for a message on ``topic`` that passes ``check``; return its payload."""
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: topic in self.latest and check(self.latest[topic]))
            return self.latest[topic]
