"""Building token sources, a poller and sinks from a configuration made in code."""

from __future__ import annotations

import sys
from pathlib import Path

import attrs
import pytest

from enphase_local.auth.cache import TokenCache
from enphase_local.auth.sources import CachedTokenSource, TokenFileSource
from enphase_local.auth.token import Token
from enphase_local.build import TokenSources, make_poller, make_sinks
from enphase_local.config import (
    ConfigError,
    EnlightenAccount,
    EnlightenSetting,
    GatewayConfig,
    MqttConfig,
    PollConfig,
    SinksConfig,
    StaticTokenSetting,
    TokenFileSetting,
)
from enphase_local.control import ControlResult
from enphase_local.energy import EnergyTracker
from enphase_local.errors import CertificateMismatchError
from enphase_local.events import DataEvent, ErrorEvent, Event
from enphase_local.scheduler import PollPlan
from enphase_local.simulator.pytest_plugin import SimulationFactory
from enphase_local.sinks import SqliteSink
from enphase_local.sinks.mqtt import MqttSink
from enphase_local.sinks.outbox import OutboxLimit
from enphase_local.sinks.prometheus import PrometheusSink
from tests.helpers import make_jwt
from tests.sinks.builders import wait_until

TOKEN = make_jwt("122199900001")

# -- token sources -----------------------------------------------------------------------------


async def test_token_sources_share_one_login_per_account(
    enphase_simulation_factory: SimulationFactory, tmp_path: Path
) -> None:
    sim = await enphase_simulation_factory(gateways=3, speed=0, cloud_tls=False)
    assert sim.cloud is not None
    account = EnlightenAccount(
        username=sim.owner.username,
        password=sim.owner.password,
        enlighten_url=sim.cloud.url,
        entrez_url=sim.cloud.url,
    )
    settings = [
        EnlightenSetting(account=account, cache_path=tmp_path / name)
        for name in ("tokens.json", "tokens.json", "other.json")
    ]
    sources = TokenSources()
    try:
        first, second, third = map(sources.source, settings)
        assert isinstance(first, CachedTokenSource)
        assert first is second  # same account, same cache file
        assert isinstance(third, CachedTokenSource)
        assert third is not first  # another cache file, the same login
        tokens = [
            await source.get(g.serial)
            for source, g in zip((first, second, third), sim.gateways, strict=True)
        ]
    finally:
        await sources.close()
    assert [t.serial for t in tokens] == [g.serial for g in sim.gateways]
    assert sim.cloud.stats.logins == 1
    assert sim.cloud.stats.tokens == 3
    assert set(TokenCache(tmp_path / "tokens.json").load()) == {
        sim.gateways[0].serial,
        sim.gateways[1].serial,
    }
    assert set(TokenCache(tmp_path / "other.json").load()) == {sim.gateways[2].serial}


async def test_static_and_file_settings_become_what_the_session_takes(tmp_path: Path) -> None:
    token_file = tmp_path / "envoy.token"
    token_file.write_text(f"  {TOKEN}\n")
    sources = TokenSources()
    assert sources.source(None) is None
    assert sources.source(StaticTokenSetting(token=TOKEN)) == TOKEN
    from_file = sources.source(TokenFileSetting(path=token_file))
    assert isinstance(from_file, TokenFileSource)
    assert await from_file.get("122199900001") == Token.parse(TOKEN)
    await sources.close()


# -- the poller --------------------------------------------------------------------------------


async def test_each_gateway_is_polled_with_its_own_settings(
    enphase_simulation_factory: SimulationFactory, tmp_path: Path
) -> None:
    sim = await enphase_simulation_factory(gateways=3, speed=0)
    pinned, from_file, mispinned = sim.gateways
    assert pinned.token is not None
    assert from_file.token is not None
    assert mispinned.token is not None
    token_file = tmp_path / "envoy.token"
    token_file.write_text(from_file.token)
    config = PollConfig(
        gateways=(
            GatewayConfig(
                host=pinned.url,
                token=StaticTokenSetting(token=pinned.token),
                fingerprint=pinned.fingerprint,
                plan=PollPlan().with_live_interval(1),
            ),
            GatewayConfig(host=from_file.url, token=TokenFileSetting(path=token_file)),
            GatewayConfig(
                host=mispinned.url,
                token=StaticTokenSetting(token=mispinned.token),
                fingerprint="ab" * 32,
            ),
        )
    )
    events: list[Event] = []

    def readings(serial: str) -> int:
        return sum(
            1
            for e in events
            if isinstance(e, DataEvent) and e.serial == serial and e.endpoint == "meter_readings"
        )

    def refused() -> list[ErrorEvent]:
        return [e for e in events if isinstance(e, ErrorEvent) and e.host == poller.hosts[2]]

    tokens = TokenSources()
    try:
        poller = make_poller(config, tokens, buffer_size=0)
        poller.subscribe(events.append)
        async with poller:
            await wait_until(
                lambda: (
                    readings(pinned.serial) >= 3
                    and readings(from_file.serial) > 0
                    and any(refused())
                ),
                30,
            )
    finally:
        await tokens.close()
    assert poller.hosts == tuple(g.url.removeprefix("https://") for g in sim.gateways)
    # Its own plan polls the first gateway every second, the poller's the second less often.
    assert readings(from_file.serial) < readings(pinned.serial)
    assert all(isinstance(e.error, CertificateMismatchError) for e in refused())


def test_a_gateway_listed_twice_is_a_configuration_error() -> None:
    config = PollConfig(
        gateways=(GatewayConfig(host="envoy.local"), GatewayConfig(host="ENVOY.local"))
    )
    with pytest.raises(ConfigError, match="listed twice"):
        make_poller(config, TokenSources())


def test_sessions_allow_control_only_with_control_over_mqtt() -> None:
    gateways = (
        GatewayConfig(host="envoy.local"),
        GatewayConfig(host="envoy-2.local", plan=PollPlan().with_live_interval(5)),
    )
    sinks = SinksConfig(mqtt=MqttConfig(url="mqtt://broker.lan"))
    for allowed in (False, True):
        mqtt = MqttConfig(url="mqtt://broker.lan", allow_control=allowed)
        config = PollConfig(gateways=gateways, sinks=attrs.evolve(sinks, mqtt=mqtt))
        poller = make_poller(config, TokenSources())
        assert [s.allow_control for s in poller.sessions] == [allowed, allowed]  # type: ignore[attr-defined]
        # The generator command is read too (the generator mode entity shows it).
        plans = [worker.plan for worker in poller._workers]
        assert [("generator_mode" in plan.config) for plan in plans] == [allowed, allowed]
    assert not make_poller(PollConfig(gateways=gateways), TokenSources()).sessions[0].allow_control  # type: ignore[attr-defined]


# -- sinks -------------------------------------------------------------------------------------


def test_every_sink_with_a_description_that_hides_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    database = tmp_path / "data.sqlite"
    config = SinksConfig(
        sqlite=database,
        mqtt=MqttConfig(url="mqtts://me:hunter2@broker.lan/solar", prefix="roof"),
        prometheus=("::1", 0),
    )
    sinks, where = make_sinks(config)
    assert [type(sink) for sink in sinks.sinks] == [SqliteSink, MqttSink, PrometheusSink]
    assert isinstance(sinks.energy, EnergyTracker)  # every energy value through the guard
    outbox = tmp_path / "state" / "enphase-local" / "mqtt-outbox.sqlite"
    assert where == [
        f"SQLite {database.resolve()}",
        # the table's prefix wins over the URL's
        f"MQTT mqtts://me@broker.lan:8883/roof (outbox {outbox.resolve()})",
        "Prometheus on [::1]:0",
    ]
    assert "hunter2" not in repr(where)
    mqtt = sinks.sinks[1]
    assert isinstance(mqtt, MqttSink)
    assert mqtt.outbox.path == outbox
    assert mqtt.outbox.limit == OutboxLimit()
    assert not outbox.exists()  # made when the sink starts


def test_the_mqtt_outbox_options(tmp_path: Path) -> None:
    limit = OutboxLimit(max_bytes=None, max_rows=500)
    mqtt = MqttConfig(url="mqtt://broker.lan", outbox=tmp_path / "o.sqlite", outbox_limit=limit)
    sinks, where = make_sinks(SinksConfig(mqtt=mqtt))
    sink = sinks.sinks[0]
    assert isinstance(sink, MqttSink)
    assert (sink.outbox.path, sink.outbox.limit) == (tmp_path / "o.sqlite", limit)
    assert where == [f"MQTT mqtt://broker.lan:1883/enphase_local (outbox {tmp_path}/o.sqlite)"]


def test_the_mqtt_sink_takes_commands_only_when_allowed(tmp_path: Path) -> None:
    async def control(host: str, name: str, **arguments: object) -> ControlResult:
        raise AssertionError("not called here")

    outbox = tmp_path / "o.sqlite"
    mqtt = MqttConfig(url="mqtt://broker.lan/solar", outbox=outbox, allow_control=True)
    sinks, where = make_sinks(SinksConfig(mqtt=mqtt), control=control)
    (sink,) = sinks.sinks
    assert isinstance(sink, MqttSink)
    assert sink._commands is not None
    assert where == [
        f"MQTT mqtt://broker.lan:1883/solar (outbox {outbox}, commands on solar/+/set/#)"
    ]
    with pytest.raises(ConfigError, match="allow_control: commands need the poller"):
        make_sinks(SinksConfig(mqtt=mqtt))
    without = attrs.evolve(mqtt, allow_control=False)
    sinks, where = make_sinks(SinksConfig(mqtt=without), control=control)
    (sink,) = sinks.sinks
    assert isinstance(sink, MqttSink)
    assert sink._commands is None
    assert where == [f"MQTT mqtt://broker.lan:1883/solar (outbox {outbox})"]


def test_the_prometheus_sink_reports_every_sink_of_the_set(tmp_path: Path) -> None:
    config = SinksConfig(sqlite=tmp_path / "data.sqlite", prometheus=("127.0.0.1", 0))
    sinks, _ = make_sinks(config)
    metrics = sinks.sinks[1]
    assert isinstance(metrics, PrometheusSink)
    backlog = {family.name: family for family in metrics.registry.collect()}["enphase_sink_backlog"]
    assert {sample.labels["sink"] for sample in backlog.samples} == {"sqlite", "prometheus"}


def test_no_sink_chosen_builds_an_empty_set() -> None:
    sinks, where = make_sinks(SinksConfig())
    assert sinks.sinks == ()
    assert where == []


@pytest.mark.parametrize(
    ("config", "extra"),
    [
        (SinksConfig(mqtt=MqttConfig(url="mqtt://broker.lan")), "mqtt"),
        (SinksConfig(prometheus=("127.0.0.1", 9531)), "prometheus"),
    ],
)
def test_a_sink_without_its_extra_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, config: SinksConfig, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, f"enphase_local.sinks.{extra}", None)  # not importable
    with pytest.raises(ConfigError, match=rf"pip install 'enphase-local\[{extra}\]'"):
        make_sinks(config)
