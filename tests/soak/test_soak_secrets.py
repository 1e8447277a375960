"""No secret in what the soak leaves behind: the SQLite file, MQTT messages, ``/metrics``, logs.

A short soak with all three sinks (a real mosquitto on loopback, the MQTT sink logging in
with a password) while tokens are minted, renewed, revoked and fetched from the simulated
cloud. Every secret made on the way is recorded as it is made: each token minted (whole,
claims part, signature part), the cloud account passwords, every Enlighten ``session_id``
and ``manager_token``, every gateway ``sessionId`` cookie, the legacy digest passwords and
the MQTT password. Then the whole SQLite file (raw bytes and an SQL dump), every MQTT topic
and payload a subscriber to ``#`` received, the ``/metrics`` text and every log record (all
loggers at DEBUG) are searched for them with the reliability suite's finder.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets as stdlib_secrets
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from benchmarks.soak import SoakConfig, run_soak
from enphase_local.sinks.mqtt import MqttSettings, MqttSink
from enphase_local.sinks.prometheus import PrometheusSink
from tests.reliability.hygiene import KeepEverything, Secrets, record_simulation_secrets
from tests.sinks.broker import Broker, Subscriber, require_mosquitto


def database_texts(path: Path) -> list[str]:
    """The file's bytes (and its WAL's, if any) as text, and an SQL dump of it."""
    texts = [
        p.read_bytes().decode("latin-1")
        for p in (path, path.with_name(path.name + "-wal"))
        if p.exists()
    ]
    with contextlib.closing(sqlite3.connect(path)) as conn:
        texts.append("\n".join(conn.iterdump()))
    return texts


async def test_no_secret_in_sqlite_mqtt_metrics_or_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, all_logs: KeepEverything
) -> None:
    broker = Broker(require_mosquitto(), tmp_path)
    await broker.start()
    found = Secrets()
    mqtt_password = "mq-" + stdlib_secrets.token_urlsafe(18)
    found.add("the MQTT password", mqtt_password)
    mqtt = MqttSink(
        MqttSettings(host="127.0.0.1", port=broker.port, username="soak", password=mqtt_password)
    )
    prometheus = PrometheusSink(0)
    metrics: list[str] = []

    async def scrape() -> None:
        await asyncio.sleep(1.0)  # the MQTT sink's last batch
        async with aiohttp.ClientSession() as client, client.get(prometheus.url) as reply:
            assert reply.status == 200
            metrics.append(await reply.text())

    database = tmp_path / "soak.sqlite"
    try:
        async with Subscriber(broker.port, "#") as messages:
            report = await run_soak(
                SoakConfig(gateways=12, duration_s=30.0, database=database),
                extra_sinks=[mqtt, prometheus],
                prepare=lambda sim: record_simulation_secrets(sim, found, monkeypatch),
                before_stop=scrape,
            )
    finally:
        await broker.stop()

    # The run was real: tokens renewed, revoked and fetched from the cloud; sinks fed.
    faults = report["faults"]
    assert faults["token expiry"]["recovered"] >= 5
    assert faults["token revocation"]["recovered"] >= 1
    assert faults["cloud outage"]["recovered"] >= 1
    assert {
        "a minted token",
        "an Enlighten session_id",
        "a gateway sessionId cookie",
        "the MQTT password",
    } <= found.labels()
    assert len(found) > 50
    assert len(messages.texts) > 100
    assert "enphase_production_watts" in metrics[0]
    assert all_logs.texts

    outputs = {
        "the SQLite file": database_texts(database),
        "an MQTT message": messages.texts,
        "/metrics": metrics,
        "a log record": [text for _, text in all_logs.texts],
    }
    leaks = {
        where: sorted({label for text in texts for label in found.found_in(text)})
        for where, texts in outputs.items()
    }
    assert leaks == {where: [] for where in outputs}
