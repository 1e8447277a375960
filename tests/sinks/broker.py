"""A real mosquitto broker on a free loopback port, for the MQTT sink tests."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import random
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from enphase_local.fleet.records import ReadingKey
from enphase_local.sinks.base import stop_task
from enphase_local.sinks.keys import key_text
from enphase_local.sinks.puback import PUBACK_REASONS

#: Set to 1 (as CI does, after ``scripts/mosquitto.sh``) to fail instead of skipping.
REQUIRE_ENV = "ENPHASE_REQUIRE_MOSQUITTO"


#: Waiting for a subscriber reads the PUBACK's reason code: paho-mqtt 2.0 and newer.
needs_puback_reasons = pytest.mark.skipif(
    not PUBACK_REASONS, reason="paho-mqtt before 2.0 does not give the PUBACK's reason code"
)


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
    """A TCP port nothing listens on at 127.0.0.1 right now, below the ephemeral ports.

    A client that keeps reconnecting to a stopped broker whose port is an ephemeral one may,
    now and then, be given that very port as its own and connect to itself (TCP's
    simultaneous open): it then reads its own CONNECT, and holds the port the broker needs.
    """
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(10_000, _first_ephemeral_port())
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free TCP port below the ephemeral range")


def _first_ephemeral_port() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default; other systems start higher


class Broker:
    """mosquitto with a generated config: loopback only, anonymous, and by default no
    persistence.

    ``persistent=True`` keeps the retained messages and the sessions of clients that asked
    for one (:class:`Collector`) across a restart, with no limit on the messages queued
    for them: a consumer that must not miss anything needs a broker set up so.
    """

    def __init__(self, binary: str, folder: Path, *, persistent: bool = False) -> None:
        self.binary = binary
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        self.log = folder / "mosquitto.log"
        # Started as root, mosquitto runs as the user "mosquitto" unless told to stay the
        # user it is (ignored otherwise), and could not write its file in our folder.
        # No cap on the QoS 1 messages queued for a client that reads slower than a sink
        # publishes (1,000 by default: a loaded machine dropped some, and a test waited).
        keep = (
            f"persistence true\npersistence_location {folder}/\nmax_queued_messages 0\n"
            f"user {getpass.getuser()}\n"
            if persistent
            else "persistence false\nmax_queued_messages 0\n"
        )
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            f"{keep}"
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


class Collector:
    """An MQTT 5 consumer with a session the broker keeps (a :class:`Broker` made with
    ``persistent=True`` keeps it across restarts): it reconnects on its own and receives,
    with QoS 1, every event message (a JSON object with a ``key``; not the retained states
    or availability) published under ``topic_filter`` since it first subscribed.
    """

    def __init__(self, port: int, topic_filter: str, *, client_id: str = "collector") -> None:
        self.port = port
        self.topic_filter = topic_filter
        self.client_id = client_id
        #: Every message, in order of arrival: ``(topic, payload, user property "key")``.
        self.messages: list[tuple[str, bytes, str | None]] = []
        #: When each arrived (``time.monotonic()``).
        self.arrived: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def __aenter__(self) -> Collector:
        self._task = asyncio.get_running_loop().create_task(self._run())
        async with asyncio.timeout(10):
            await self._ready.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        await stop_task(self._task)

    def keys(self) -> list[str]:
        """The ``key`` of every message's JSON payload as text, in order of arrival."""
        return [payload_key(payload) for _, payload, _ in self.messages]

    async def _run(self) -> None:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho: no annotations
        properties.SessionExpiryInterval = 3600
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1",
                    self.port,
                    identifier=self.client_id,
                    protocol=aiomqtt.ProtocolVersion.V5,
                    clean_start=False,
                    properties=properties,
                ) as client:
                    await client.subscribe(self.topic_filter, qos=1)
                    self._ready.set()
                    async for message in client.messages:
                        assert isinstance(message.payload, bytes)
                        if not _is_event(message.payload):
                            continue
                        user = dict(getattr(message.properties, "UserProperty", None) or [])
                        self.messages.append((str(message.topic), message.payload, user.get("key")))
                        self.arrived.append(time.monotonic())
            except aiomqtt.MqttError:
                await asyncio.sleep(0.05)


def _is_event(payload: bytes) -> bool:
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return isinstance(body, dict) and "key" in body


def payload_key(payload: bytes) -> str:
    """The idempotency key an event message's payload carries, as text."""
    return key_text(ReadingKey.from_data(orjson.loads(payload)["key"]))
