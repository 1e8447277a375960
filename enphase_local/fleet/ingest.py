"""Central ingestion: the pollers' MQTT stream into PostgreSQL, each reading once.

Needs the ``mqtt`` and ``postgres`` extras. :class:`Ingest` subscribes (MQTT 5, QoS 1) to the
MQTT sink's event topics ``<prefix>/<gateway>/<level>`` through the shared subscription
``$share/<group>/<prefix>/+/+``: the broker hands each message to one of the group's
members, so several ingest processes (on one machine or several) share the stream, and when
one goes away the broker gives the whole stream to the others. Retained state and
availability messages are not readings and are acknowledged at once.

Messages are written in batches, one transaction each (:class:`~enphase_local.sinks.postgres.
Writer`: idempotent inserts, so a message delivered twice is one row), and acknowledged only
after their transaction has committed. While the database is away the batch is retried on a
new connection with growing delays and nothing more is acknowledged, so the broker holds
back the rest (up to the ``receive_maximum`` messages in flight); while the broker is away the
connection is retried the same way, and a batch already received is still written.

Sessions: without a ``name`` each connection is a clean session, so a process that dies
leaves no session behind and its share of the stream goes to the others at once; what it had
received but not acknowledged is gone from a broker that does not hand it to another member
(mosquitto 2.0 does not). With a ``name`` (one per process, e.g. the StatefulSet pod name) the
session outlives the connection for ``session_expiry_s``: a restarted process gets back
everything it had not acknowledged, and a broken connection loses nothing, but while it is
down the broker keeps queueing its share of the stream for it (mosquitto does) instead of
giving it to the others. See the README's "Many sites".

Malformed messages (not JSON, not a reading the MQTT sink publishes) are logged, counted and
acknowledged: redelivering them could never make them fit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Callable
from typing import Any, Final

import aiomqtt
import asyncpg
import attrs
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from enphase_local.fleet.records import BadMessageError, Reading, reading_from_mqtt
from enphase_local.sinks.mqtt import MqttSettings
from enphase_local.sinks.postgres import Writer, connect, describe_dsn, migrate

_LOGGER = logging.getLogger(__name__)

#: The default shared-subscription group.
DEFAULT_GROUP: Final = "enphase_local"
#: First and longest wait between connection attempts (broker and database), seconds.
RECONNECT_DELAY_S: Final = (0.5, 30.0)
#: How long a running batch may take to be written at shutdown, seconds.
CLOSE_TIMEOUT_S: Final = 30.0


@attrs.define
class IngestStats:
    """What an ingest process has done since start."""

    #: Messages received (readings and others).
    received: int = 0
    #: Readings written that were new to the database.
    new: int = 0
    #: Readings that were already in the database (redeliveries, duplicates).
    duplicates: int = 0
    #: Messages that are not readings (retained state, availability), acknowledged.
    skipped: int = 0
    #: Malformed messages, acknowledged and dropped.
    bad: int = 0
    #: Messages acknowledged to the broker.
    acknowledged: int = 0
    #: Messages written whose acknowledgement could not be sent (their connection was gone;
    #: a persistent session gets them again, as duplicates).
    unacknowledged: int = 0
    #: Failed database writes (each retried).
    write_failures: int = 0
    #: Connections made to the broker, and to the database.
    broker_connections: int = 0
    database_connections: int = 0


@attrs.frozen
class _Received:
    """A message and the connection it came on (acknowledged only on that one)."""

    connection: int
    message: aiomqtt.Message


class Ingest:
    """Reads the pollers' MQTT stream into PostgreSQL until :meth:`stop` (see the module)."""

    def __init__(
        self,
        mqtt: MqttSettings,
        dsn: str,
        *,
        group: str = DEFAULT_GROUP,
        name: str | None = None,
        session_expiry_s: int = 7 * 24 * 3600,
        batch_size: int = 500,
        flush_interval_s: float = 0.5,
        receive_maximum: int = 2000,
        reconnect_delay_s: tuple[float, float] = RECONNECT_DELAY_S,
        on_written: Callable[[int], None] | None = None,
    ) -> None:
        if not group or any(c in group for c in "/+#"):
            raise ValueError(
                f"a shared-subscription group cannot be empty or hold / + #: {group!r}"
            )
        #: Broker settings (``prefix`` is the topic tree read).
        self.mqtt = mqtt
        self._dsn = dsn
        #: The shared-subscription group.
        self.group = group
        #: The persistent session's name (MQTT client id); None: clean sessions.
        self.name = name
        self._session_expiry_s = session_expiry_s
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._receive_maximum = receive_maximum
        self._reconnect_delay_s = reconnect_delay_s
        self._on_written = on_written
        self._queue: asyncio.Queue[_Received] = asyncio.Queue()
        self._client: aiomqtt.Client | None = None
        self._connection = 0
        self._conn: asyncpg.Connection | None = None
        self._writer = Writer()
        self._stopping = asyncio.Event()
        self._unsubscribed = asyncio.Event()
        self._subscribed = asyncio.Event()
        #: Counters (see :class:`IngestStats`).
        self.stats = IngestStats()

    def __repr__(self) -> str:
        return f"Ingest({self.mqtt.describe()!r}, {describe_dsn(self._dsn)!r})"

    @property
    def topic_filter(self) -> str:
        """``$share/<group>/<prefix>/+/+``."""
        return f"$share/{self.group}/{self.mqtt.prefix}/+/+"

    def describe(self) -> str:
        """Where from and where to, without passwords."""
        return (
            f"{self.mqtt.describe()} ({self.topic_filter}) into PostgreSQL "
            f"{describe_dsn(self._dsn)}"
        )

    async def wait_subscribed(self) -> None:
        """Wait until the subscription is in place."""
        await self._subscribed.wait()

    def stop(self) -> None:
        """Ask :meth:`run` to unsubscribe, write and acknowledge what it holds, and return."""
        self._stopping.set()
        if self._client is None:
            self._unsubscribed.set()

    async def run(self) -> None:
        """Connect to the database (and migrate), then ingest until :meth:`stop`."""
        await self._database()
        receiving = asyncio.get_running_loop().create_task(
            self._receive(), name="enphase-local ingest mqtt"
        )
        try:
            await self._write_loop()
        finally:
            receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiving
            conn, self._conn = self._conn, None
            if conn is not None:
                with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    await conn.close(timeout=5)

    # --- the broker --------------------------------------------------------------------------

    def _new_client(self) -> aiomqtt.Client:
        s = self.mqtt
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho
        properties.ReceiveMaximum = self._receive_maximum
        if self.name is not None:
            properties.SessionExpiryInterval = self._session_expiry_s
        client = aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password,
            identifier=self.name,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=self.name is None,
            properties=properties,
            tls_context=ssl.create_default_context() if s.tls else None,
            timeout=10,
        )
        # aiomqtt has no switch for acknowledging after processing yet (aiomqtt issue #345):
        # paho, underneath, has; acknowledgements go through it too (_ack).
        client._client.manual_ack_set(True)
        return client

    async def _receive(self) -> None:
        first, longest = self._reconnect_delay_s
        delay = first
        while True:
            try:
                async with self._new_client() as client:
                    self._connection += 1
                    self._client = client
                    self.stats.broker_connections += 1
                    await client.subscribe(self.topic_filter, qos=1)
                    _LOGGER.info("subscribed to %s on %s", self.topic_filter, self.mqtt.describe())
                    self._subscribed.set()
                    delay = first
                    connection = self._connection
                    async with asyncio.TaskGroup() as group:
                        group.create_task(self._unsubscribe_on_stop(client))
                        async for message in client.messages:
                            self.stats.received += 1
                            self._queue.put_nowait(_Received(connection, message))
            except* aiomqtt.MqttError as group:
                err = group.exceptions[0]
                _LOGGER.warning(
                    "MQTT broker %s: %s; reconnecting in %.1f s", self.mqtt.describe(), err, delay
                )
            finally:
                self._client = None
                self._subscribed.clear()
                if self._stopping.is_set():
                    self._unsubscribed.set()  # nothing more can come
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter
            delay = min(delay * 2, longest)

    async def _unsubscribe_on_stop(self, client: aiomqtt.Client) -> None:
        """At the stop, ask the broker to send no more (what it sent before still comes)."""
        await self._stopping.wait()
        try:
            await client.unsubscribe(self.topic_filter, timeout=5)
        finally:
            self._unsubscribed.set()

    def _ack(self, item: _Received) -> None:
        client = self._client
        if item.message.qos == 0:
            return
        if client is None or item.connection != self._connection:
            self.stats.unacknowledged += 1
            return
        client._client.ack(item.message.mid, item.message.qos)  # see _new_client
        self.stats.acknowledged += 1

    # --- the database ------------------------------------------------------------------------

    async def _database(self) -> asyncpg.Connection:
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        first, longest = self._reconnect_delay_s
        delay = first
        while True:
            try:
                conn = await connect(self._dsn)
                await migrate(conn)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
                _LOGGER.warning(
                    "PostgreSQL %s: %s; reconnecting in %.1f s",
                    describe_dsn(self._dsn),
                    err,
                    delay,
                )
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter
                delay = min(delay * 2, longest)
                continue
            self._conn = conn
            self.stats.database_connections += 1
            _LOGGER.info("connected to PostgreSQL %s", describe_dsn(self._dsn))
            return conn

    # --- batches -----------------------------------------------------------------------------

    async def _next_batch(self) -> list[_Received]:
        """Up to ``batch_size`` messages: waits for a first one, then at most
        ``flush_interval_s`` for more; empty once stopped, unsubscribed and drained."""
        batch: list[_Received] = []
        done = asyncio.ensure_future(self._unsubscribed.wait())
        try:
            while not batch:
                getting = asyncio.ensure_future(self._queue.get())
                finished, _ = await asyncio.wait(
                    (getting, done), return_when=asyncio.FIRST_COMPLETED
                )
                if getting not in finished:
                    getting.cancel()
                    return self._drain(batch)
                batch.append(getting.result())
        finally:
            done.cancel()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._flush_interval_s):
                while len(batch) < self._batch_size:
                    batch.append(await self._queue.get())
        return self._drain(batch)

    def _drain(self, batch: list[_Received]) -> list[_Received]:
        while len(batch) < self._batch_size and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    def _readings(self, batch: list[_Received]) -> tuple[list[Reading], list[_Received]]:
        """The batch's readings, and the messages to acknowledge whatever happens."""
        readings: list[Reading] = []
        settled: list[_Received] = []
        prefix = self.mqtt.prefix
        for item in batch:
            message = item.message
            try:
                reading = reading_from_mqtt(prefix, str(message.topic), message.payload)
            except BadMessageError as err:
                self.stats.bad += 1
                settled.append(item)
                _LOGGER.warning("dropping a message on %s: %s", message.topic, err)
                continue
            if reading is None:
                self.stats.skipped += 1
                settled.append(item)
            else:
                readings.append(reading)
        return readings, settled

    async def _write_loop(self) -> None:
        while True:
            batch = await self._next_batch()
            if not batch:
                return  # stopping, and nothing left
            readings, settled = self._readings(batch)
            for item in settled:
                self._ack(item)
            if readings:
                await self._write(readings)
            acked = {id(item) for item in settled}
            for item in batch:
                if id(item) not in acked:
                    self._ack(item)

    async def _write(self, readings: list[Reading]) -> None:
        """Write until it works (the database may be restarting)."""
        first, longest = self._reconnect_delay_s
        delay = first
        while True:
            conn = await self._database()
            try:
                result = await self._writer.write(conn, readings)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
                self.stats.write_failures += 1
                self._conn = None
                conn.terminate()
                _LOGGER.warning(
                    "writing %d readings failed (%s: %s); retrying in %.1f s",
                    len(readings),
                    type(err).__name__,
                    err,
                    delay,
                )
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter
                delay = min(delay * 2, longest)
                continue
            self.stats.new += result.new
            self.stats.duplicates += result.duplicates
            if self._on_written is not None:
                self._on_written(result.new)
            return


def status_line(stats: IngestStats) -> str:
    """A one-line summary of :class:`IngestStats`."""
    return (
        f"{stats.received} messages: {stats.new} readings written, {stats.duplicates} "
        f"duplicates, {stats.skipped} not readings, {stats.bad} malformed; "
        f"{stats.acknowledged} acknowledged; {stats.write_failures} failed writes retried"
    )


def settings_for(url: str, **options: Any) -> MqttSettings:
    """Broker settings from ``mqtt[s]://[user[:password]@]host[:port][/prefix]`` without
    Home Assistant discovery (an ingest process publishes nothing)."""
    return MqttSettings.from_url(url, discovery_prefix=None, **options)
