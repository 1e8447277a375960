"""QoS 1 publishes that tell what the broker answered: the reason code of its PUBACK.

aiomqtt's ``publish`` returns once the PUBACK came and drops its reason code. MQTT 5 lets a
broker answer 0x10, *no matching subscribers*: it accepted the message and gave it to no
one (mosquitto does; the code is optional, so a broker may answer *success* instead). For
the MQTT sink's event messages that is worth knowing: right after a mosquitto 2.0 restart a
consumer's shared subscription (``$share/...``, ``enphase-local ingest``) is gone until the
consumer connects again, even with a persistent session (mosquitto keeps the session and
its plain subscriptions, not its shared ones), and what the pollers publish meanwhile
reaches nobody. :class:`Acknowledgements` publishes through the paho client under aiomqtt
and hands back the reason code, so the sink can keep such a message and send it again.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.properties import Properties

#: The PUBACK reason code of a message the broker accepted but gave to no subscriber.
NO_MATCHING_SUBSCRIBERS: Final = 0x10
#: Whether the installed paho-mqtt hands the PUBACK's reason code to its callback (2.0 and
#: newer, under aiomqtt 2.1 and newer; paho-mqtt 1.6, aiomqtt 2.0's, gives the message id
#: only).
PUBACK_REASONS: Final = hasattr(paho, "CallbackAPIVersion")


class NoSubscriberError(aiomqtt.MqttError):
    """The broker took a message but no subscription matched it (PUBACK 0x10)."""


class Acknowledgements:
    """QoS 1 publishes on one aiomqtt client that return their PUBACK's reason code.

    Installed on a new client, before it connects: it hooks the paho client's ``on_publish``
    (still calling aiomqtt's own), so aiomqtt's publishes work as before beside these.
    """

    def __init__(self, client: aiomqtt.Client) -> None:
        self._client = client
        # aiomqtt drives paho from the event loop, so PUBACKs arrive on it, never before a
        # publish below has registered its future (that needs the loop to read the socket).
        self._waiting: dict[int, asyncio.Future[int]] = {}
        paho_client = client._client
        self._chained = paho_client.on_publish
        paho_client.on_publish = self._on_publish

    def _on_publish(self, *args: Any) -> None:
        """paho's callback: ``(client, userdata, mid, reason_code, properties)``; without
        :data:`PUBACK_REASONS` only ``(client, userdata, mid)``, taken as success."""
        mid = args[2]
        code = getattr(args[3], "value", 0) if len(args) > 3 else 0
        future = self._waiting.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(code if isinstance(code, int) else 0)
        if self._chained is not None:
            self._chained(*args)

    async def publish(
        self, topic: str, payload: bytes, *, properties: Properties, timeout_s: float
    ) -> int:
        """Publish with QoS 1; return the PUBACK's reason code (0: success, or
        :data:`NO_MATCHING_SUBSCRIBERS`); :class:`aiomqtt.MqttError` when it cannot be
        sent or no PUBACK comes within ``timeout_s`` seconds."""
        info = self._client._client.publish(topic, payload, qos=1, properties=properties)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting[info.mid] = future
        try:
            async with asyncio.timeout(timeout_s):
                return await future
        except TimeoutError:
            raise aiomqtt.MqttError(f"no PUBACK within {timeout_s:g} s") from None
        finally:
            self._waiting.pop(info.mid, None)
