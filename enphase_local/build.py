"""Build what a poll configuration describes: token sources, a poller, sinks.

The configuration is a :class:`~enphase_local.config.PollConfig`, made in code or read from a
TOML file. ``enphase-local poll`` and ``watch`` run on these builders; a program runs the same
configuration without the command line::

    config = load_config("poll.toml")
    tokens = TokenSources()
    try:
        poller = make_poller(config, tokens, buffer_size=0)  # events go to the sinks only
        sinks, _ = make_sinks(config.sinks, control=poller.control)
        poller.subscribe(sinks.submit)
        await sinks.start()
        try:
            async with poller:
                ...  # until the program stops
        finally:
            await sinks.close()
    finally:
        await tokens.close()

The sinks come as a :class:`~enphase_local.sinks.SinkSet` that runs an
:class:`~enphase_local.energy.EnergyTracker` between the poller and them: every energy value
they keep or publish has been through the counter guard, and the SQLite sink keeps the
energy ledger (and the tracker's state across restarts). With a Prometheus sink,
:func:`~enphase_local.sinks.prometheus.add_poller_metrics` serves the poller's own counters
too.

With ``[sinks.mqtt] allow_control = true`` (``poll --allow-control``) and only then, the
poller's sessions allow control writes and also read the generator command, and the MQTT
sink takes commands through ``control`` (see :mod:`enphase_local.sinks.mqtt_commands`).

Mistakes found while building (a gateway listed twice, a sink whose extra is not installed)
raise :class:`~enphase_local.config.ConfigError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from enphase_local import endpoints as ep
from enphase_local.auth.cloud import EnphaseCloud
from enphase_local.auth.sources import CachedTokenSource, CloudTokenSource, TokenFileSource
from enphase_local.config import (
    ConfigError,
    EnlightenAccount,
    EnlightenSetting,
    PollConfig,
    SinksConfig,
    StaticTokenSetting,
    TokenFileSetting,
    TokenSetting,
)
from enphase_local.energy import EnergyTracker
from enphase_local.scheduler import GatewaySpec, Poller, PollPlan
from enphase_local.sinks import Sink, SinkSet, SinkStats, SqliteSink
from enphase_local.sinks.forward import DEFAULT_DRAIN_RATE
from enphase_local.sinks.outbox import default_outbox_path

if TYPE_CHECKING:
    from enphase_local.sinks.mqtt_commands import ControlCall


class TokenSources:
    """Turns token settings into token sources, sharing one cloud login per account.

    Gateways of one Enlighten account (same username and service URLs) share a
    :class:`~enphase_local.auth.sources.CloudTokenSource`, and so one login; with the same
    cache file they share its :class:`~enphase_local.auth.sources.CachedTokenSource` too.
    :meth:`close` closes the cloud clients.
    """

    def __init__(self) -> None:
        self._clouds: dict[EnlightenAccount, CloudTokenSource] = {}
        self._cached: dict[tuple[EnlightenAccount, Path], CachedTokenSource] = {}

    def __repr__(self) -> str:
        return f"TokenSources({len(self._clouds)} cloud account(s))"

    def source(
        self, setting: TokenSetting | None
    ) -> str | TokenFileSource | CachedTokenSource | None:
        """What to give the session as ``token`` for this setting."""
        if setting is None:
            return None
        if isinstance(setting, StaticTokenSetting):
            return setting.token
        if isinstance(setting, TokenFileSetting):
            return TokenFileSource(setting.path)
        key = (setting.account, setting.cache_path)
        cached = self._cached.get(key)
        if cached is None:
            cached = self._cached[key] = CachedTokenSource(self._cloud(setting), setting.cache_path)
        return cached

    def _cloud(self, setting: EnlightenSetting) -> CloudTokenSource:
        account = setting.account
        cloud = self._clouds.get(account)
        if cloud is None:
            cloud = self._clouds[account] = CloudTokenSource(
                EnphaseCloud(
                    account.username,
                    account.password,
                    enlighten_url=account.enlighten_url,
                    entrez_url=account.entrez_url,
                )
            )
        return cloud

    async def close(self) -> None:
        """Close every cloud client made here."""
        for cloud in self._clouds.values():
            await cloud.close()
        self._clouds.clear()
        self._cached.clear()


def make_poller(config: PollConfig, tokens: TokenSources, **options: Any) -> Poller:
    """A poller for the configured gateways; ``options`` go to :class:`Poller`."""
    control = config.allow_control
    specs = [
        GatewaySpec(
            host=gateway.host,
            token=tokens.source(gateway.token),
            plan=None if gateway.plan is None else _for_control(gateway.plan, control),
            options=gateway.session_options() | ({"allow_control": True} if control else {}),
        )
        for gateway in config.gateways
    ]
    try:
        return Poller(specs, plan=_for_control(config.plan, control), **options)
    except ValueError as err:  # a host the session cannot use, or one listed twice
        raise ConfigError(str(err)) from err


def _for_control(plan: PollPlan, control: bool) -> PollPlan:
    """With control, ``plan`` reading the generator command too (the generator mode entity
    shows it) unless it already does."""
    name = ep.GENERATOR_MODE.name
    if not control or name in (*plan.live, *plan.periodic, *plan.config, *plan.fallback):
        return plan
    return attrs.evolve(plan, config=(*plan.config, name))


def make_sinks(
    config: SinksConfig, *, control: ControlCall | None = None
) -> tuple[SinkSet, list[str]]:
    """The sinks (with an energy tracker in front) and a description of each for a start
    line (no password in it). ``control`` is the poller's
    :meth:`~enphase_local.Poller.control`: the MQTT sink takes commands through it where
    the configuration allows control (and needs it then)."""
    sinks: list[Sink] = []
    where: list[str] = []

    def all_stats() -> list[SinkStats]:
        return sink_set.all_stats()  # the set made below, once scraped

    if config.sqlite is not None:
        sinks.append(SqliteSink(config.sqlite))
        where.append(f"SQLite {config.sqlite.resolve()}")
    if config.mqtt is not None:
        try:
            from enphase_local.sinks.mqtt import MqttSettings, MqttSink  # noqa: PLC0415 - optional extra
        except ImportError:
            raise ConfigError(
                "the MQTT sink needs aiomqtt: pip install 'enphase-local[mqtt]'"
            ) from None
        mqtt = config.mqtt
        options = {"prefix": mqtt.prefix} if mqtt.prefix else {}
        settings = MqttSettings.from_url(mqtt.url, **options)
        outbox = mqtt.outbox if mqtt.outbox is not None else default_outbox_path()
        rate = mqtt.drain_rate if mqtt.drain_rate is not None else DEFAULT_DRAIN_RATE
        if mqtt.allow_control and control is None:
            raise ConfigError(
                "sinks.mqtt.allow_control: commands need the poller "
                "(make_sinks(config.sinks, control=poller.control))"
            )
        commands = control if mqtt.allow_control else None
        try:
            mqtt_sink = MqttSink(
                settings,
                outbox=outbox,
                outbox_limit=mqtt.outbox_limit,
                drain_rate=rate,
                wait_for_subscriber=mqtt.wait_for_subscriber,
                control=commands,
            )
        except ValueError as err:
            raise ConfigError(f"sinks.mqtt: {err}") from None
        sinks.append(mqtt_sink)
        taking = f", commands on {settings.prefix}/+/set/#" if commands else ""
        where.append(f"MQTT {settings.describe()} (outbox {outbox.resolve()}{taking})")
    if config.postgres is not None:
        try:
            from enphase_local.sinks.postgres import PostgresSink  # noqa: PLC0415 - optional extra
        except ImportError:
            raise ConfigError(
                "the PostgreSQL sink needs asyncpg: pip install 'enphase-local[postgres]'"
            ) from None
        postgres = PostgresSink(config.postgres)
        sinks.append(postgres)
        where.append(f"PostgreSQL {postgres.describe()}")
    if config.prometheus is not None:
        try:
            from enphase_local.sinks.prometheus import PrometheusSink  # noqa: PLC0415 - optional extra
        except ImportError:
            raise ConfigError(
                "the Prometheus sink needs prometheus-client: "
                "pip install 'enphase-local[prometheus]'"
            ) from None
        host, port = config.prometheus
        sinks.append(PrometheusSink(port, host=host, sink_stats=all_stats))
        shown = f"[{host}]" if ":" in host else host
        where.append(f"Prometheus on {shown}:{port}")  # the URL once listening (port 0 picks)
    sink_set = SinkSet(sinks, energy=EnergyTracker())
    return sink_set, where
