"""``enphase-local poll``: poll gateways until stopped and keep every event in the sinks.

``enphase-local poll HOST... [--token T | --token-file F]`` or ``enphase-local poll --config
FILE`` (see :mod:`enphase_local.config`). Sinks: ``--sqlite FILE`` (the default,
``./enphase-local.sqlite``, when none is chosen here or in the file), ``--mqtt URL``,
``--postgres DSN`` and ``--prometheus [ADDRESS:]PORT``, several at once; on the command line
they take the place of the file's ``[sinks]``. ``--shard K/N`` polls only the gateways that
rendezvous hashing of their host gives to shard K of N (see :mod:`enphase_local.fleet.shard`).
``--allow-control`` (with an MQTT sink) takes control commands from the MQTT command topics
(see :mod:`enphase_local.sinks.mqtt_commands`); without it (or ``[sinks.mqtt]
allow_control``) no session may write.

Output: a start line (what is polled, how often, where the data goes; never a password) on
standard output; one line per problem on standard error (a gateway leaving the online state
and coming back, an endpoint the gateway does not serve, a sink that drops or loses its
broker); a summary on standard output at the end. ``--verbose`` adds each failed poll and the
library's progress messages; ``--debug`` (before ``poll``) shows tracebacks.

Ctrl-C (SIGINT) or SIGTERM stops polling, writes what the sinks still hold, prints the summary
and exits with status 0; a second Ctrl-C quits at once (status 130).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from enphase_local.auth.token import Token
from enphase_local.build import TokenSources, make_poller, make_sinks
from enphase_local.cli import examples, positive_float
from enphase_local.cli.get import add_gateway_options
from enphase_local.config import (
    ConfigError,
    GatewayConfig,
    MqttConfig,
    PollConfig,
    SinksConfig,
    StaticTokenSetting,
    TokenFileSetting,
    check_mqtt_url,
    check_postgres_dsn,
    check_token_file,
    load_config,
    parse_metrics_address,
)
from enphase_local.errors import EnphaseError, InvalidTokenError
from enphase_local.events import (
    ControlRevertedEvent,
    ErrorEvent,
    Event,
    GatewayState,
    StateEvent,
    UnsupportedEvent,
)
from enphase_local.fleet.shard import Shard
from enphase_local.scheduler import PollerStats, PollPlan
from enphase_local.scheduler.plan import MIN_INTERVAL_S
from enphase_local.sinks import SinkSet
from enphase_local.sinks.forward import DEFAULT_DRAIN_RATE
from enphase_local.sinks.outbox import OutboxLimit
from enphase_local.transport import normalize_fingerprint

_LOGGER = logging.getLogger(__name__)

#: Seconds after the start when what start-up made is frozen (see :func:`freeze_start_up`):
#: by then thousands of gateways have their connections and configuration.
FREEZE_AFTER_S: Final = 120.0
#: The SQLite file written when no sink is chosen.
DEFAULT_SQLITE: Final = Path("enphase-local.sqlite")
#: Loggers whose messages repeat what the events already say (shown with --debug only).
_QUIET_LOGGERS: Final = ("enphase_local.scheduler.gateway_worker",)


def register(subparsers: Any) -> None:
    """Add the ``poll`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "poll",
        help="poll gateways until stopped, into SQLite, MQTT and/or Prometheus",
        description=(
            "Poll gateways politely until Ctrl-C or SIGTERM and keep what they answer: in a "
            "SQLite file (the default), on an MQTT broker (with Home Assistant discovery), "
            "and/or on a Prometheus /metrics endpoint. Give HOSTs with a token option, or a "
            "TOML file with --config."
        ),
        epilog=examples(
            (
                "the gateways `enphase-local init` set up, into its SQLite file",
                "enphase-local poll --config poll.toml",
            ),
            (
                "one gateway, to MQTT with Home Assistant discovery, taking its commands",
                "enphase-local poll envoy.local --token-file envoy.token "
                "--mqtt mqtt://broker.lan/enphase_local --allow-control",
            ),
            (
                "shard 0 of 3 of a fleet's gateways, into PostgreSQL",
                "enphase-local poll --config fleet.toml --shard 0/3 "
                "--postgres postgresql://enphase@db.lan/solar",
            ),
        ),
    )
    add_target_options(parser)
    sinks = parser.add_argument_group("sinks (default: --sqlite enphase-local.sqlite)")
    sinks.add_argument("--sqlite", type=Path, metavar="FILE", help="SQLite file to append to")
    sinks.add_argument(
        "--mqtt",
        type=_mqtt_url,
        metavar="URL",
        help="publish to mqtt[s]://[user[:password]@]host[:port][/prefix]",
    )
    sinks.add_argument(
        "--mqtt-outbox",
        type=Path,
        metavar="FILE",
        help="the MQTT outbox (default $XDG_STATE_HOME/enphase-local/mqtt-outbox.sqlite): "
        "events wait there until the broker has them",
    )
    sinks.add_argument(
        "--mqtt-outbox-limit",
        type=_outbox_limit,
        metavar="SIZE",
        help="the outbox's size, e.g. 512MiB (the default, a week of one gateway) or "
        "100000rows; past it the oldest events go",
    )
    sinks.add_argument(
        "--mqtt-drain-rate",
        type=positive_float,
        metavar="N",
        help=f"messages a second from the outbox's backlog (default {DEFAULT_DRAIN_RATE:g}); "
        "new events go at once",
    )
    sinks.add_argument(
        "--mqtt-wait-for-subscriber",
        action="store_true",
        default=None,
        help="keep an event in the outbox while the broker says no one subscribes to it "
        "(MQTT 5 'no matching subscribers'), for an ingest that must get every event",
    )
    sinks.add_argument(
        "--allow-control",
        action="store_true",
        help="with --mqtt (or [sinks] mqtt): take commands on <prefix>/<id>/set/... (grid "
        "relay, dry contacts, generator, storage mode, reserve, charge from grid) and "
        "announce them to Home Assistant; without it no write is ever sent",
    )
    sinks.add_argument(
        "--postgres",
        type=_postgres_dsn,
        metavar="DSN",
        help="write to PostgreSQL: postgresql://[user[:password]@]host[:port]/database",
    )
    sinks.add_argument(
        "--prometheus",
        type=_metrics_address,
        metavar="[ADDR:]PORT",
        help="serve /metrics on this port (of 127.0.0.1 unless ADDR is given)",
    )
    parser.add_argument(
        "--shard",
        type=_shard,
        metavar="K/N",
        help="poll only the gateways rendezvous hashing of their host gives to shard K "
        "(0 to N-1) of N",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="also report every failed poll and progress"
    )
    parser.set_defaults(run=run)


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """HOST arguments or ``--config``, the token and TLS options, and ``--live-interval``."""
    parser.add_argument("hosts", nargs="*", metavar="HOST", help="gateway name, address or URL")
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="TOML file listing gateways (instead of HOST)"
    )
    add_gateway_options(parser)
    parser.add_argument(
        "--live-interval",
        type=_interval,
        metavar="S",
        help="seconds between meter readings (default 10); other live data no more often",
    )


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from err
    if not value >= MIN_INTERVAL_S:  # also refuses NaN
        raise argparse.ArgumentTypeError(
            f"the floor is {MIN_INTERVAL_S:g} s (gateways are fragile)"
        )
    return value


def _mqtt_url(text: str) -> str:
    try:
        check_mqtt_url(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None  # the URL may hold a password
    return text


def _outbox_limit(text: str) -> OutboxLimit:
    try:
        return OutboxLimit.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _postgres_dsn(text: str) -> str:
    try:
        check_postgres_dsn(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None  # the DSN may hold a password
    return text


def _shard(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _metrics_address(text: str) -> tuple[str, int]:
    try:
        return parse_metrics_address(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


# -- configuration from the command line -----------------------------------------------------


def config_from_args(args: argparse.Namespace) -> PollConfig:
    """The gateways, plan and sinks the command line (and ``--config``) describe."""
    if args.config is not None:
        if args.hosts:
            raise ConfigError("give HOSTs or --config, not both")
        if args.token is not None or args.token_file is not None or args.fingerprint:
            raise ConfigError("with --config, tokens and fingerprints belong in the file")
        config = load_config(args.config)
        config = attrs.evolve(
            config, gateways=tuple(_with_options(g, args) for g in config.gateways)
        )
    elif args.hosts:
        config = PollConfig(gateways=tuple(_gateways_from_args(args)))
    else:
        raise ConfigError("name the gateways: HOST... or --config FILE")
    plan = config.plan
    if args.live_interval is not None:
        plan = plan.with_live_interval(args.live_interval)
    sinks = _sinks_from_args(args)
    sinks = _with_outbox_options(config.sinks if sinks.empty else sinks, args)
    if getattr(args, "allow_control", False):
        if sinks.mqtt is None:
            raise ConfigError(
                "--allow-control takes commands over MQTT: give --mqtt URL "
                "(or [sinks] mqtt in the file)"
            )
        sinks = attrs.evolve(sinks, mqtt=attrs.evolve(sinks.mqtt, allow_control=True))
    return PollConfig(gateways=config.gateways, plan=plan, sinks=sinks)


def _gateways_from_args(args: argparse.Namespace) -> Iterator[GatewayConfig]:
    if args.fingerprint and len(args.hosts) > 1:
        raise ConfigError("--fingerprint pins one gateway: give one HOST, or use --config")
    token: StaticTokenSetting | TokenFileSetting | None = None
    if args.token is not None:
        try:
            Token.parse(args.token)
        except InvalidTokenError as err:
            raise ConfigError(f"--token: {err}") from None
        token = StaticTokenSetting(token=args.token)
    elif args.token_file is not None:
        try:
            check_token_file(args.token_file)
        except ConfigError as err:
            raise ConfigError(f"--token-file: {err}") from err
        token = TokenFileSetting(path=args.token_file)
    fingerprint = None
    if args.fingerprint:
        try:
            fingerprint = normalize_fingerprint(args.fingerprint).hex()
        except ValueError as err:
            raise ConfigError(f"--fingerprint: {err}") from err
    for host in args.hosts:
        yield GatewayConfig(
            host=host,
            token=token,
            fingerprint=fingerprint,
            insecure_http=args.insecure_http,
            trust_store=args.trust_store,
            timeout_s=args.timeout,
        )


def _with_options(gateway: GatewayConfig, args: argparse.Namespace) -> GatewayConfig:
    """``--insecure-http`` and ``--trust-store`` for every gateway, ``--timeout`` where the
    file sets none."""
    return attrs.evolve(
        gateway,
        insecure_http=gateway.insecure_http or args.insecure_http,
        trust_store=args.trust_store,
        timeout_s=gateway.timeout_s if gateway.timeout_s is not None else args.timeout,
    )


def _sinks_from_args(args: argparse.Namespace) -> SinksConfig:
    return SinksConfig(
        sqlite=getattr(args, "sqlite", None),
        mqtt=MqttConfig(url=args.mqtt) if getattr(args, "mqtt", None) else None,
        postgres=getattr(args, "postgres", None),
        prometheus=getattr(args, "prometheus", None),
    )


def _with_outbox_options(sinks: SinksConfig, args: argparse.Namespace) -> SinksConfig:
    """The ``--mqtt-outbox*``, ``--mqtt-drain-rate`` and ``--mqtt-wait-for-subscriber``
    options applied to the MQTT sink, whether ``--mqtt`` or the file chose it."""
    given = {
        name: value
        for name, value in (
            ("outbox", getattr(args, "mqtt_outbox", None)),
            ("outbox_limit", getattr(args, "mqtt_outbox_limit", None)),
            ("drain_rate", getattr(args, "mqtt_drain_rate", None)),
            ("wait_for_subscriber", getattr(args, "mqtt_wait_for_subscriber", None)),
        )
        if value is not None
    }
    if not given:
        return sinks
    if sinks.mqtt is None:
        raise ConfigError(
            "--mqtt-outbox, --mqtt-outbox-limit, --mqtt-drain-rate and "
            "--mqtt-wait-for-subscriber need --mqtt"
        )
    return attrs.evolve(sinks, mqtt=attrs.evolve(sinks.mqtt, **given))


# -- output ------------------------------------------------------------------------------------


class _LineHandler(logging.Handler):
    """One line per record on the current ``sys.stderr`` (which a live view may redirect)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(self.format(record), file=sys.stderr, flush=True)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


class _LineFormatter(logging.Formatter):
    """``2025-06-21 12:00:03 message``: no level, no logger name, no traceback."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S")

    def formatException(self, ei: Any) -> str:
        return ""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).rstrip()


def configure_logging(*, verbose: bool, debug: bool) -> None:
    """Problems as plain one-line messages; ``--debug`` keeps the full logging of ``main``."""
    if debug:
        return
    handler = _LineHandler()
    handler.setFormatter(_LineFormatter())
    package = logging.getLogger("enphase_local")
    package.handlers[:] = [handler]
    package.propagate = False
    package.setLevel(logging.INFO if verbose else logging.WARNING)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def gateway_label(host: str, serial: str | None) -> str:
    """``127.0.0.1:8443 (122199900001)``, or the host alone before the serial is known."""
    return f"{host} ({serial})" if serial else host


#: States worth a line when a gateway enters them.
_PROBLEM_STATES: Final = frozenset(
    {
        GatewayState.DEGRADED,
        GatewayState.BACKING_OFF,
        GatewayState.AUTH_FAILED,
        GatewayState.UNREACHABLE,
    }
)


class ProblemReporter:
    """Turns events into one log line per problem (a plain callback for the poller)."""

    def __init__(self, *, verbose: bool = False) -> None:
        self._verbose = verbose

    def __call__(self, event: Event) -> None:
        """Report ``event`` if it is news."""
        label = gateway_label(event.host, event.serial)
        if isinstance(event, StateEvent):
            if event.state in _PROBLEM_STATES:
                _LOGGER.warning("gateway %s: %s (%s)", label, _state(event.state), event.reason)
            elif event.previous in _PROBLEM_STATES:
                _LOGGER.warning("gateway %s: online again", label)
            else:
                _LOGGER.info("gateway %s: %s", label, _state(event.state))
        elif isinstance(event, UnsupportedEvent):
            _LOGGER.warning("gateway %s: %s not polled: %s", label, event.endpoint, event.reason)
        elif isinstance(event, ControlRevertedEvent):
            _LOGGER.warning("gateway %s: a control write was undone: %s", label, event.reason)
        elif isinstance(event, ErrorEvent) and self._verbose:
            _LOGGER.info("gateway %s: %s failed: %s", label, event.endpoint, event.error)


def _state(state: GatewayState) -> str:
    return state.value.replace("_", " ")


def span(seconds: float) -> str:
    """``45 s``, ``2.5 min``, ``4 h``: short, for cadences and durations."""
    if seconds < 100:
        return f"{round(seconds, 1):g} s"
    if seconds < 6000:
        return f"{round(seconds / 60, 1):g} min"
    return f"{round(seconds / 3600, 1):g} h"


def describe_plan(plan: PollPlan) -> str:
    """``meter_readings every 10 s, live_data ... every 60 s, ... after each report, ...``."""
    by_interval: dict[float, list[str]] = {}
    for name, interval in plan.live.items():
        by_interval.setdefault(interval, []).append(name)
    parts = [
        f"{', '.join(names)} every {span(interval)}"
        for interval, names in sorted(by_interval.items())
    ]
    if plan.periodic:
        parts.append(f"{', '.join(plan.periodic)} after each report")
    parts.append(f"configuration every {span(plan.config_interval_s)}")
    return ", ".join(parts)


def describe_targets(config: PollConfig, hosts: Sequence[str]) -> str:
    """What is polled: the gateways (with their own cadences) and the poller's cadence."""
    names = []
    for label, gateway in zip(hosts, config.gateways, strict=True):
        own = f" ({describe_plan(gateway.plan)})" if gateway.plan is not None else ""
        names.append(label + own)
    count = f"{len(hosts)} gateway{'s' if len(hosts) != 1 else ''}"
    return f"{count} ({'; '.join(names)}): {describe_plan(config.plan)}"


# -- sinks -------------------------------------------------------------------------------------


def _sink_places(sinks: SinkSet, where: list[str]) -> str:
    places = []
    for sink, text in zip(sinks.sinks, where, strict=True):
        url = getattr(sink, "url", None)
        places.append(f"Prometheus {url}" if url else text)
    return ", ".join(places)


# -- running -----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def stop_on_signals() -> AsyncIterator[asyncio.Event]:
    """An event set by the first SIGINT or SIGTERM; a second SIGINT interrupts at once."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def first(sig: signal.Signals) -> None:
        stop.set()
        if sig is signal.SIGINT:
            # Back to Python's handler: a second Ctrl-C raises KeyboardInterrupt (status 130).
            loop.remove_signal_handler(signal.SIGINT)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, first, sig)
    try:
        yield stop
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(sig)


def print_summary(stats: PollerStats, sinks: SinkSet | None, seconds: float) -> None:
    """Per gateway: polls, successes, failures, skipped; per sink: written, dropped."""
    print(f"stopped after polling for {span(seconds)}:")
    for gateway in stats.gateways:
        label = gateway_label(gateway.host, gateway.serial)
        print(
            f"  {label}: {_state(gateway.state)}, {gateway.polls} polls, "
            f"{gateway.successes} ok, {gateway.failures} failed, {gateway.skipped} skipped"
        )
    for sink in sinks.all_stats() if sinks is not None else ():
        kept = f", {sink.kept} kept in the outbox for the next start" if sink.kept else ""
        print(f"  {sink.name}: {sink.written} written, {sink.dropped} dropped{kept}")
    sys.stdout.flush()


def freeze_start_up() -> None:
    """Leave what start-up made out of the garbage collector's full passes.

    With thousands of gateways, their sessions, connections and configuration are millions
    of long-lived objects, and each full pass over them stops the event loop for most of a
    second (0.8-0.9 s at 3,000 gateways), holding up every poll due meanwhile. Frozen, they
    are no longer traversed; what they hold is freed as usual, except cycles among them,
    which stay for the life of the process (at most what was alive at the freeze).
    """
    gc.collect()
    gc.freeze()


def _error(message: str) -> int:
    print(f"enphase-local: error: {message}", file=sys.stderr)
    return 1


async def run(args: argparse.Namespace) -> int:
    """Poll until SIGINT or SIGTERM."""
    configure_logging(verbose=args.verbose, debug=args.debug)
    config = config_from_args(args)
    if args.shard is not None:
        config = _sharded(config, args.shard)
    if config.sinks.empty:
        config = PollConfig(
            gateways=config.gateways, plan=config.plan, sinks=SinksConfig(sqlite=DEFAULT_SQLITE)
        )
    tokens = TokenSources()
    try:
        return await _poll(args, config, tokens)
    finally:
        await tokens.close()


def _sharded(config: PollConfig, shard: Shard) -> PollConfig:
    """Only the gateways of ``shard``; says how many of the list they are."""
    mine = tuple(g for g in config.gateways if shard.owns(g.host))
    print(f"shard {shard}: {len(mine)} of {len(config.gateways)} gateways", flush=True)
    return attrs.evolve(config, gateways=mine)


async def _poll(args: argparse.Namespace, config: PollConfig, tokens: TokenSources) -> int:
    poller = make_poller(config, tokens, buffer_size=0)
    sinks, where = make_sinks(config.sinks, control=poller.control)
    async with stop_on_signals() as stop:
        try:
            await sinks.start()
        except (OSError, sqlite3.Error, EnphaseError) as err:
            if args.debug:
                raise
            return _error(f"cannot start the sinks ({', '.join(where)}): {err}")
        try:
            if config.sinks.prometheus is not None:
                from enphase_local.sinks.prometheus import add_poller_metrics  # noqa: PLC0415 - optional extra

                add_poller_metrics(sinks, poller)
            print(
                f"polling {describe_targets(config, poller.hosts)}; "
                f"writing to {_sink_places(sinks, where)}",
                flush=True,
            )
            poller.subscribe(sinks.submit, name="sinks")
            poller.subscribe(ProblemReporter(verbose=args.verbose), name="problems")
            started = time.monotonic()
            await poller.start()
            freeze = asyncio.get_running_loop().call_later(FREEZE_AFTER_S, freeze_start_up)
            try:
                await stop.wait()
            finally:
                freeze.cancel()
                polled_s = time.monotonic() - started
                await poller.close()
        finally:
            await sinks.close()
    print_summary(poller.stats(), sinks, polled_s)
    return 0
