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
leaves no session behind and its share of the stream goes to the others as soon as the broker
sees its connection close; what it had received but not acknowledged is gone from a broker
that does not hand it to another member (mosquitto 2.0 does not). With a ``name`` (one per
process, e.g. the StatefulSet pod name) the session outlives the connection for
``session_expiry_s``: nothing it had not acknowledged is lost, and a broken connection loses
nothing. A broker keeps queueing a dead member's share of the stream in its session (mosquitto
does), so the named members take the sessions of the dead over: each says ``online`` on the
retained topic ``<prefix>/bridge/ingest/<group>/<name>`` (the broker says ``offline`` for it,
its will, when its connection breaks; it says so itself when it stops), and when a member is
away the online member that rendezvous hashing of its name picks connects as it, reads what it
held and its share of what comes, until it is back (it then takes its session back, and the
holder lets it go).

Malformed messages (not JSON, not a reading the MQTT sink publishes) and readings the
database refuses (``DataError``: a string it cannot store; the rest of their batch is written
one by one) are logged, counted and acknowledged: redelivering them could never make them fit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
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
    #: Malformed messages, and readings the database refused: acknowledged and dropped.
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
    """A message, the connection it came on (acknowledged only on that one), and its
    reading (None when it is not one, or is malformed)."""

    connection: int
    message: aiomqtt.Message
    reading: Reading | None = None


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
        self._clients: dict[int, aiomqtt.Client] = {}
        self._connection = 0
        self._members: dict[str, bool] = {}
        self._adopting: dict[str, asyncio.Task[None]] = {}
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
        """Ask :meth:`run` to write and acknowledge what it holds, and return."""
        self._stopping.set()
        if self._client is None or self.name is not None:
            # A named session keeps its subscription: what comes now waits in it.
            self._unsubscribed.set()

    async def run(self) -> None:
        """Connect to the database (and migrate), then ingest until :meth:`stop`."""
        await self._database()
        receiving = asyncio.get_running_loop().create_task(
            self._consume(self.name), name="enphase-local ingest mqtt"
        )
        try:
            await self._write_loop()
        finally:
            await self._say_offline()
            for task in (receiving, *self._adopting.values()):
                task.cancel()
            for task in (receiving, *self._adopting.values()):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            conn, self._conn = self._conn, None
            if conn is not None:
                with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    await conn.close(timeout=5)

    # --- the broker --------------------------------------------------------------------------

    @property
    def members_filter(self) -> str:
        """``<prefix>/bridge/ingest/<group>/+``: the named members' retained availability."""
        return f"{self.mqtt.prefix}/bridge/ingest/{self.group}/+"

    def _member_topic(self, name: str) -> str:
        return f"{self.mqtt.prefix}/bridge/ingest/{self.group}/{name}"

    def _new_client(self, identifier: str | None, *, own: bool) -> aiomqtt.Client:
        s = self.mqtt
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho
        properties.ReceiveMaximum = self._receive_maximum
        if identifier is not None:
            properties.SessionExpiryInterval = self._session_expiry_s
        will = None
        if own and identifier is not None:
            will = aiomqtt.Will(self._member_topic(identifier), b"offline", qos=1, retain=True)
        client = aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password,
            identifier=identifier,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=identifier is None,
            properties=properties,
            will=will,
            tls_context=ssl.create_default_context() if s.tls else None,
            timeout=10,
        )
        # aiomqtt has no switch for acknowledging after processing yet (aiomqtt issue #345):
        # paho, underneath, has; acknowledgements go through it too (_ack).
        client._client.manual_ack_set(True)
        return client

    async def _consume(self, identifier: str | None, *, adopted: bool = False) -> None:
        """Read the stream on the session ``identifier`` (ours, or a dead member's we adopt)
        into the queue, reconnecting after failures; an adoption ends when the session is no
        longer ours to hold."""
        first, longest = self._reconnect_delay_s
        delay = first
        while not adopted or self._should_adopt(identifier):
            connection = 0
            try:
                async with self._new_client(identifier, own=not adopted) as client:
                    self._connection += 1
                    connection = self._connection
                    self._clients[connection] = client
                    await client.subscribe(self.topic_filter, qos=1)
                    if adopted:
                        _LOGGER.warning("holding the session of %s, which is away", identifier)
                    else:
                        await self._announce(client)
                    delay = first
                    async with asyncio.TaskGroup() as group:
                        if not adopted and self.name is None:
                            group.create_task(self._unsubscribe_on_stop(client))
                        async for message in client.messages:
                            self._take(connection, message)
            except* aiomqtt.MqttError as group:
                err = group.exceptions[0]
                _LOGGER.warning(
                    "MQTT broker %s%s: %s; reconnecting in %.1f s",
                    self.mqtt.describe(),
                    f" (the session of {identifier})" if adopted else "",
                    err,
                    delay,
                )
            finally:
                self._clients.pop(connection, None)
                if not adopted:
                    self._client = None
                    self._subscribed.clear()
                    if self._stopping.is_set():
                        self._unsubscribed.set()  # nothing more can come
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter
            delay = min(delay * 2, longest)

    async def _announce(self, client: aiomqtt.Client) -> None:
        """Our own connection is up: subscribe to the members and say we are online."""
        self._client = client
        self.stats.broker_connections += 1
        if self.name is not None:
            await client.subscribe(self.members_filter, qos=1)
            await client.publish(
                self._member_topic(self.name), b"online", qos=1, retain=True, timeout=5
            )
        _LOGGER.info("subscribed to %s on %s", self.topic_filter, self.mqtt.describe())
        self._subscribed.set()

    def _take(self, connection: int, message: aiomqtt.Message) -> None:
        """A message from the broker: a member's availability, or one for the queue."""
        topic = str(message.topic)
        member = topic.removeprefix(self._member_topic(""))
        if self.name is not None and member != topic and "/" not in member:
            self._ack(_Received(connection, message))
            self._member(member, message.payload == b"online")
            return
        if self._stopping.is_set() and self.name is not None:
            return  # not acknowledged: the session keeps it for whoever holds it next
        self.stats.received += 1
        # Decoded as it arrives, while the writer waits for the database.
        self._queue.put_nowait(_Received(connection, message, self._decode(message)))

    def _member(self, name: str, online: bool) -> None:
        """A named member came or went: adopt the sessions of the away ones that fall to us."""
        if name == self.name:
            return
        self._members[name] = online
        holding = self._adopting.get(name)
        if online and holding is not None:
            holding.cancel()  # it is back and has taken its session over
        for other, up in self._members.items():
            if not up and other not in self._adopting and self._should_adopt(other):
                self._adopting[other] = asyncio.get_running_loop().create_task(
                    self._adopt(other), name=f"enphase-local ingest adopting {other}"
                )

    def _should_adopt(self, name: str | None) -> bool:
        """Whether ``name`` is away and we are the online member its session falls to (the
        highest rendezvous weight: every member agrees without asking)."""
        if self.name is None or name is None or self._stopping.is_set() or self._client is None:
            return False
        if self._members.get(name, True):
            return False
        online = [n for n, up in self._members.items() if up] + [self.name]
        return max(set(online), key=lambda member: _weight(name, member)) == self.name

    async def _adopt(self, name: str) -> None:
        try:
            await self._consume(name, adopted=True)
        finally:
            self._adopting.pop(name, None)
            _LOGGER.warning("no longer holding the session of %s", name)

    async def _say_offline(self) -> None:
        """A named member stopping says so, for another to take its session over."""
        client = self._client
        if self.name is None or client is None:
            return
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
            await client.publish(
                self._member_topic(self.name), b"offline", qos=1, retain=True, timeout=5
            )

    async def _unsubscribe_on_stop(self, client: aiomqtt.Client) -> None:
        """At the stop of a clean session, ask the broker to send no more (what it sent
        before still comes, and is written)."""
        await self._stopping.wait()
        try:
            await client.unsubscribe(self.topic_filter, timeout=5)
        finally:
            self._unsubscribed.set()

    def _ack(self, item: _Received) -> None:
        if item.message.qos == 0:
            return
        client = self._clients.get(item.connection)
        if client is None:
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

    def _decode(self, message: aiomqtt.Message) -> Reading | None:
        """The message's reading; None (counted) for what is not one or is malformed."""
        try:
            reading = reading_from_mqtt(self.mqtt.prefix, str(message.topic), message.payload)
        except BadMessageError as err:
            self.stats.bad += 1
            _LOGGER.warning("dropping a message on %s: %s", message.topic, err)
            return None
        if reading is None:
            self.stats.skipped += 1
        return reading

    async def _write_loop(self) -> None:
        while True:
            batch = await self._next_batch()
            if not batch:
                return  # stopping, and nothing left
            readings = [item.reading for item in batch if item.reading is not None]
            if readings:
                await self._write(readings)
            for item in batch:  # in the order they came, as MQTT wants
                self._ack(item)

    async def _write(self, readings: list[Reading]) -> None:
        """Write until it works (the database may be restarting)."""
        first, longest = self._reconnect_delay_s
        delay = first
        while True:
            conn = await self._database()
            try:
                result, refused = await self._writer.write_or_split(conn, readings)
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
            self.stats.bad += len(refused)
            if self._on_written is not None:
                self._on_written(result.new)
            return


def _weight(session: str, member: str) -> int:
    digest = hashlib.blake2b(f"{session}\0{member}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


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
