"""The poll configuration file (TOML): gateways, their token sources, cadences and sinks.

::

    # Every table but [[gateway]] is optional; times are seconds; relative paths are
    # relative to this file's folder.
    [poll]                       # cadences of every gateway
    live_interval = 10           # meter readings; other live endpoints no more often
    config_interval = 14400      # /info and the configuration are read again
    [poll.intervals]             # a live interval per endpoint, or false: not polled
    grid_readings = 120

    [sinks]
    sqlite = "enphase-local.sqlite"
    mqtt = "mqtt://user:password@broker.lan:1883/enphase_local"
    postgres = "postgresql://enphase:password@db.lan:5432/solar"
    prometheus = 9531            # port on 127.0.0.1, or "0.0.0.0:9531"

    [[gateway]]
    host = "envoy.local"
    token_file = "envoy.token"   # or: token = "eyJ..."
    fingerprint = "3f2a..."      # pin the certificate (SHA-256, hex)
    live_interval = 5            # this gateway's own cadence ([poll]'s keys)

    [[gateway]]
    host = "envoy-2.local"
    username = "me@example.com"  # Enlighten login: one token per serial, cached
    password_file = "enlighten-password"   # or: password = "..."

A gateway has at most one token source: ``token``, ``token_file``, or Enlighten credentials
(``username`` with ``password`` or ``password_file``, optional ``enlighten_url``,
``entrez_url`` and ``token_cache``, default :func:`~enphase_local.auth.cache.default_cache_path`).
No token source is for legacy firmware (before 7.0). Gateways of the same account share one
login. ``[sinks] mqtt`` may also be a table with ``url``, ``prefix``, ``outbox`` (the
outbox file), ``outbox_limit`` (``"512 MiB"``, ``"100000 rows"``), ``drain_rate``
(messages a second from the outbox's backlog), ``wait_for_subscriber`` (true: an event
message the broker gave to no subscriber stays in the outbox) and ``allow_control``
(``true``: take control commands over MQTT, see :mod:`enphase_local.sinks.mqtt_commands`;
the only way a poll configuration makes sessions that allow control writes). The file
``enphase-local simulate --write-config`` writes (``[[gateway]]`` tables with ``host``,
``token`` and ``fingerprint``, empty strings meaning none) is a valid configuration.
:mod:`enphase_local.build` makes the token sources, the poller and the sinks it describes.

Mistakes are reported as :class:`ConfigError` naming the file and the key, e.g.
``poll.toml: gateway[2].token_file: no such file`` (gateways are counted from 1); never with
a token or password in the message.
"""

from __future__ import annotations

import logging
import os
import stat
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final, TypeAlias, TypeVar
from urllib.parse import urlsplit

import attrs

from enphase_local.auth.cache import default_cache_path
from enphase_local.auth.cloud import DEFAULT_ENLIGHTEN_URL, DEFAULT_ENTREZ_URL
from enphase_local.auth.token import Token
from enphase_local.errors import EnphaseError, InvalidTokenError
from enphase_local.scheduler import PollPlan
from enphase_local.sinks.outbox import OutboxLimit
from enphase_local.transport import normalize_fingerprint, parse_address
from enphase_local.trust import TrustStore

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

#: Cadence keys, allowed in ``[poll]`` and in each ``[[gateway]]``.
_CADENCE_KEYS: Final = frozenset({"live_interval", "config_interval", "intervals"})
_TOKEN_KEYS: Final = frozenset({"token", "token_file"})
_CLOUD_KEYS: Final = frozenset(
    {"username", "password", "password_file", "enlighten_url", "entrez_url", "token_cache"}
)
_GATEWAY_KEYS: Final = frozenset(
    {"host", "fingerprint", "insecure_http", "timeout"} | _TOKEN_KEYS | _CLOUD_KEYS | _CADENCE_KEYS
)
_SINK_KEYS: Final = frozenset({"sqlite", "mqtt", "postgres", "prometheus"})
_MQTT_KEYS: Final = frozenset(
    {
        "url",
        "prefix",
        "outbox",
        "outbox_limit",
        "drain_rate",
        "wait_for_subscriber",
        "allow_control",
    }
)
_TOP_KEYS: Final = frozenset({"gateway", "poll", "sinks"})
#: Where the Prometheus sink listens unless the file names an address.
DEFAULT_METRICS_HOST: Final = "127.0.0.1"


class ConfigError(EnphaseError):
    """The configuration is wrong; the message names the file and the key."""


@attrs.frozen(kw_only=True)
class StaticTokenSetting:
    """A token written in the file."""

    #: The JWT text (a secret: never shown).
    token: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class TokenFileSetting:
    """A file holding the token, read again when it changes."""

    #: The token file.
    path: Path


@attrs.frozen(kw_only=True)
class EnlightenAccount:
    """An Enlighten login; gateways with equal accounts share one cloud client."""

    #: The account's e-mail address.
    username: str
    #: The password (a secret: never shown).
    password: str = attrs.field(repr=False)
    #: Login service base URL.
    enlighten_url: str = DEFAULT_ENLIGHTEN_URL
    #: Token service base URL.
    entrez_url: str = DEFAULT_ENTREZ_URL


@attrs.frozen(kw_only=True)
class EnlightenSetting:
    """Tokens from the Enphase cloud, one per gateway serial, kept in a cache file."""

    #: Whose tokens.
    account: EnlightenAccount
    #: The token cache file (mode 0600).
    cache_path: Path


#: One gateway's token source, as configured.
TokenSetting: TypeAlias = StaticTokenSetting | TokenFileSetting | EnlightenSetting


@attrs.frozen(kw_only=True)
class GatewayConfig:
    """One gateway to poll."""

    #: ``envoy.local``, an address, or a URL with scheme and port.
    host: str
    #: Where its token comes from (None: legacy firmware, no token).
    token: TokenSetting | None = None
    #: The pinned certificate fingerprint, lowercase hex SHA-256 (None: not pinned).
    fingerprint: str | None = None
    #: Allow plain HTTP for firmware that needs a token.
    insecure_http: bool = False
    #: A trust-on-first-use store for its certificate (used when no fingerprint is pinned).
    trust_store: Path | None = None
    #: Seconds one request may take in all (None: the session's default, 45).
    timeout_s: float | None = None
    #: Its own cadences (None: the poller's plan).
    plan: PollPlan | None = None

    def session_options(self) -> dict[str, Any]:
        """Keyword arguments for its :class:`~enphase_local.GatewaySession`."""
        options: dict[str, Any] = {}
        if self.fingerprint is not None:
            options["fingerprint"] = self.fingerprint
        elif self.trust_store is not None:
            options["trust"] = TrustStore(self.trust_store)
        if self.insecure_http:
            options["allow_http"] = True
        if self.timeout_s is not None:
            options["timeout"] = self.timeout_s
        return options


@attrs.frozen(kw_only=True)
class MqttConfig:
    """Where the MQTT sink publishes."""

    #: ``mqtt[s]://[user[:password]@]host[:port][/prefix]`` (may hold a password: not shown).
    url: str = attrs.field(repr=False)
    #: Root of the topic tree (None: the URL's path, else the sink's default).
    prefix: str | None = None
    #: The outbox file (None: :func:`~enphase_local.sinks.outbox.default_outbox_path`).
    outbox: Path | None = None
    #: The outbox's size limit (None: the default, a week of one gateway).
    outbox_limit: OutboxLimit | None = None
    #: Messages a second published from the outbox's backlog (None: the default).
    drain_rate: float | None = None
    #: Keep an event message the broker gave to no subscriber in the outbox, to send again.
    wait_for_subscriber: bool = False
    #: Take control commands from the command topics (and make the gateway sessions with
    #: ``allow_control=True``); off by default.
    allow_control: bool = False


@attrs.frozen(kw_only=True)
class SinksConfig:
    """Where the events go; all None means nothing was chosen."""

    #: The SQLite file.
    sqlite: Path | None = None
    #: The MQTT broker.
    mqtt: MqttConfig | None = None
    #: The PostgreSQL database, ``postgresql://[user[:password]@]host[:port]/database``
    #: (may hold a password: not shown).
    postgres: str | None = attrs.field(default=None, repr=False)
    #: Address and port of the ``/metrics`` endpoint.
    prometheus: tuple[str, int] | None = None

    @property
    def empty(self) -> bool:
        """Whether no sink is chosen."""
        return (
            self.sqlite is None
            and self.mqtt is None
            and self.postgres is None
            and self.prometheus is None
        )


@attrs.frozen(kw_only=True)
class PollConfig:
    """Everything ``enphase-local poll`` needs."""

    #: The gateways, in the file's order.
    gateways: tuple[GatewayConfig, ...]
    #: The poller-wide plan.
    plan: PollPlan = attrs.Factory(PollPlan)
    #: The sinks.
    sinks: SinksConfig = attrs.Factory(SinksConfig)

    @property
    def allow_control(self) -> bool:
        """Whether control writes are allowed: only for commands over MQTT
        (``[sinks.mqtt] allow_control``, ``poll --allow-control``)."""
        return self.sinks.mqtt is not None and self.sinks.mqtt.allow_control


def load_config(path: str | os.PathLike[str]) -> PollConfig:
    """Read and check a configuration file; raises :class:`ConfigError`."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            document = tomllib.load(file)
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err
    config = parse_config(document, source=str(path), base=path.parent)
    if stat.S_IMODE(mode) & 0o077 and _holds_secrets(config):
        _LOGGER.warning(
            "%s holds tokens or passwords and is readable by others; consider chmod 600", path
        )
    return config


def parse_config(document: Mapping[str, Any], *, source: str, base: Path) -> PollConfig:
    """Check a decoded TOML document; ``source`` names it in errors, ``base`` anchors paths."""
    reader = _Reader(source, base)
    reader.known_keys(document, _TOP_KEYS, "")
    poll = reader.table(document.get("poll", {}), "poll")
    reader.known_keys(poll, _CADENCE_KEYS, "poll")
    plan = reader.plan(PollPlan(), poll, "poll")
    gateways = reader.gateways(document.get("gateway"), plan)
    sinks = reader.sinks(reader.table(document.get("sinks", {}), "sinks"))
    return PollConfig(gateways=gateways, plan=plan, sinks=sinks)


def _holds_secrets(config: PollConfig) -> bool:
    mqtt, postgres = config.sinks.mqtt, config.sinks.postgres
    if postgres is not None and urlsplit(postgres).password is not None:
        return True
    return (mqtt is not None and urlsplit(mqtt.url).password is not None) or any(
        isinstance(g.token, StaticTokenSetting)
        or (isinstance(g.token, EnlightenSetting) and g.token.account.password)
        for g in config.gateways
    )


class _Reader:
    """Checks one document, raising :class:`ConfigError` with the file and the key."""

    def __init__(self, source: str, base: Path) -> None:
        self._source = source
        self._base = base

    def error(self, key: str, message: str) -> ConfigError:
        where = f"{self._source}: {key}" if key else self._source
        return ConfigError(f"{where}: {message}")

    # -- shapes ----------------------------------------------------------------------------

    def known_keys(self, table: Mapping[str, Any], known: Iterable[str], key: str) -> None:
        allowed = frozenset(known)
        for name in table:
            if name not in allowed:
                listed = ", ".join(sorted(allowed))
                raise self.error(_join(key, name), f"unknown key (known: {listed})")

    def table(self, value: object, key: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table, not {_kind(value)}")
        return value

    def typed(self, value: object, kind: type[T], key: str) -> T:
        if not isinstance(value, kind):
            raise self.error(key, f"expected {_NAMES[kind]}, not {_kind(value)}")
        return value

    def text(self, table: Mapping[str, Any], name: str, key: str) -> str | None:
        """An optional string; the empty string counts as absent (as simulate writes it)."""
        value = table.get(name)
        if value is None:
            return None
        text = self.typed(value, str, _join(key, name)).strip()
        return text or None

    def seconds(self, value: object, key: str) -> float:
        # bool is an int in Python, never a number in TOML.
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.error(key, f"expected a number of seconds, not {_kind(value)}")
        number = float(value)
        if not number > 0:  # also refuses NaN
            raise self.error(key, f"must be a positive number of seconds, not {value}")
        return number

    def path(self, value: str) -> Path:
        return self._base / Path(value).expanduser()

    # -- parts -----------------------------------------------------------------------------

    def plan(self, plan: PollPlan, table: Mapping[str, Any], key: str) -> PollPlan:
        """``plan`` with the cadence keys of ``table`` applied."""
        for name in ("live_interval", "intervals", "config_interval"):
            if name not in table:
                continue
            value, where = table[name], _join(key, name)
            try:
                if name == "live_interval":
                    plan = plan.with_live_interval(self.seconds(value, where))
                elif name == "intervals":
                    plan = plan.with_intervals(**self.intervals(value, where))
                else:
                    plan = attrs.evolve(plan, config_interval_s=self.seconds(value, where))
            except ValueError as err:
                raise self.error(where, str(err)) from err
        return plan

    def intervals(self, value: object, key: str) -> dict[str, float | None]:
        intervals: dict[str, float | None] = {}
        for name, interval in self.table(value, key).items():
            if interval is False:
                intervals[name] = None
            else:
                intervals[name] = self.seconds(interval, _join(key, name))
        return intervals

    def gateways(self, value: object, plan: PollPlan) -> tuple[GatewayConfig, ...]:
        if value is None:
            raise self.error("", "no [[gateway]] table: list at least one gateway")
        if not isinstance(value, list) or not value:
            raise self.error("gateway", "expected [[gateway]] tables")
        gateways = tuple(
            self.gateway(self.table(item, f"gateway[{n}]"), f"gateway[{n}]", plan)
            for n, item in enumerate(value, start=1)
        )
        seen: dict[str, int] = {}
        for number, gateway in enumerate(gateways, start=1):
            address = parse_address(gateway.host)
            label = f"{address.host.lower()}:{address.port}"
            if label in seen:
                raise self.error(
                    f"gateway[{number}].host", f"the same gateway as gateway[{seen[label]}]"
                )
            seen[label] = number
        return gateways

    def gateway(self, table: Mapping[str, Any], key: str, plan: PollPlan) -> GatewayConfig:
        self.known_keys(table, _GATEWAY_KEYS, key)
        host = self.text(table, "host", key)
        if host is None:
            raise self.error(_join(key, "host"), "missing: every gateway needs a host")
        try:
            parse_address(host)
        except ValueError as err:
            raise self.error(_join(key, "host"), str(err)) from err
        fingerprint = self.text(table, "fingerprint", key)
        if fingerprint is not None:
            try:
                fingerprint = normalize_fingerprint(fingerprint).hex()
            except ValueError as err:
                raise self.error(_join(key, "fingerprint"), str(err)) from err
        timeout = table.get("timeout")
        own_plan = None
        if any(name in table for name in _CADENCE_KEYS):
            own_plan = self.plan(plan, table, key)
        return GatewayConfig(
            host=host,
            token=self.token(table, key),
            fingerprint=fingerprint,
            insecure_http=self.typed(
                table.get("insecure_http", False), bool, _join(key, "insecure_http")
            ),
            timeout_s=None if timeout is None else self.seconds(timeout, _join(key, "timeout")),
            plan=own_plan,
        )

    def token(self, table: Mapping[str, Any], key: str) -> TokenSetting | None:
        given = [
            name for name in ("token", "token_file", "username") if self.text(table, name, key)
        ]
        if len(given) > 1:
            raise self.error(key, f"choose one token source, not {' and '.join(given)}")
        cloud_only = sorted(name for name in _CLOUD_KEYS - {"username"} if name in table)
        if cloud_only and given != ["username"]:
            raise self.error(_join(key, cloud_only[0]), "only goes with username (Enlighten)")
        if not given:
            return None
        name = given[0]
        text = self.text(table, name, key)
        assert text is not None
        if name == "token":
            try:
                Token.parse(text)
            except InvalidTokenError as err:
                raise self.error(_join(key, "token"), str(err)) from None
            return StaticTokenSetting(token=text)
        if name == "token_file":
            path = self.path(text)
            try:
                check_token_file(path)
            except ConfigError as err:
                raise self.error(_join(key, "token_file"), str(err)) from err
            return TokenFileSetting(path=path)
        return self.enlighten(table, key, text)

    def enlighten(self, table: Mapping[str, Any], key: str, username: str) -> EnlightenSetting:
        password = self.text(table, "password", key)
        password_file = self.text(table, "password_file", key)
        if (password is None) == (password_file is None):
            raise self.error(key, "username needs either password or password_file")
        if password_file is not None:
            password = self.read_secret(self.path(password_file), _join(key, "password_file"))
        assert password is not None
        urls = {}
        for name in ("enlighten_url", "entrez_url"):
            url = self.text(table, name, key)
            if url is not None:
                if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
                    raise self.error(_join(key, name), "expected an http(s):// URL")
                urls[name] = url
        cache = self.text(table, "token_cache", key)
        return EnlightenSetting(
            account=EnlightenAccount(username=username, password=password, **urls),
            cache_path=self.path(cache) if cache is not None else default_cache_path(),
        )

    def read_secret(self, path: Path, key: str) -> str:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise self.error(key, f"cannot read {path}: {err.strerror}") from err
        except UnicodeDecodeError:
            raise self.error(key, f"{path} is not UTF-8 text") from None  # no bytes shown
        secret = text.strip("\r\n")
        if not secret:
            raise self.error(key, f"{path} is empty")
        return secret

    def sinks(self, table: Mapping[str, Any]) -> SinksConfig:
        self.known_keys(table, _SINK_KEYS, "sinks")
        sqlite = self.text(table, "sqlite", "sinks")
        prometheus = table.get("prometheus")
        postgres = self.text(table, "postgres", "sinks")
        if postgres is not None:
            try:
                check_postgres_dsn(postgres)
            except ValueError as err:
                raise self.error("sinks.postgres", str(err)) from None  # may hold a password
        return SinksConfig(
            sqlite=None if sqlite is None else self.path(sqlite),
            mqtt=None if "mqtt" not in table else self.mqtt(table["mqtt"]),
            postgres=postgres,
            prometheus=None if prometheus is None else self.metrics_address(prometheus),
        )

    def mqtt(self, value: object) -> MqttConfig:
        key = "sinks.mqtt"
        if isinstance(value, str):
            value = {"url": value}
            url_key = key
        else:
            url_key = f"{key}.url"
        table = self.table(value, key)
        self.known_keys(table, _MQTT_KEYS, key)
        url = self.text(table, "url", key)
        if url is None:
            raise self.error(url_key, "missing: mqtt://host[:port]")
        try:
            check_mqtt_url(url)
        except ValueError as err:
            raise self.error(url_key, str(err)) from None  # the URL may hold a password
        outbox = self.text(table, "outbox", key)
        allow = self.typed(table.get("allow_control", False), bool, f"{key}.allow_control")
        drain_rate = table.get("drain_rate")
        return MqttConfig(
            url=url,
            prefix=self.text(table, "prefix", key),
            outbox=None if outbox is None else self.path(outbox),
            outbox_limit=self.outbox_limit(table.get("outbox_limit"), f"{key}.outbox_limit"),
            drain_rate=None if drain_rate is None else self.rate(drain_rate, f"{key}.drain_rate"),
            wait_for_subscriber=self.typed(
                table.get("wait_for_subscriber", False), bool, f"{key}.wait_for_subscriber"
            ),
            allow_control=allow,
        )

    def outbox_limit(self, value: object, key: str) -> OutboxLimit | None:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        try:
            return OutboxLimit.parse(self.typed(value, str, key))
        except ValueError as err:
            raise self.error(key, str(err)) from err

    def rate(self, value: object, key: str) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
            raise self.error(key, f"expected a positive number of messages a second, not {value!r}")
        return float(value)

    def metrics_address(self, value: object) -> tuple[str, int]:
        key = "sinks.prometheus"
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        try:
            return parse_metrics_address(self.typed(value, str, key))
        except ValueError as err:
            raise self.error(key, str(err)) from err


_NAMES: Final[Mapping[type, str]] = {str: "a string", bool: "true or false"}


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def check_token_file(path: Path) -> None:
    """Raise :class:`ConfigError` unless ``path`` holds a token (the message never shows it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ConfigError(f"no such file: {path}") from err
    except UnicodeDecodeError:
        # The decode error holds the file's bytes, perhaps a token: do not chain it.
        raise ConfigError(f"{path} is not UTF-8 text") from None
    except (OSError, ValueError) as err:  # ValueError: a NUL byte in the path
        reason = err.strerror if isinstance(err, OSError) else err
        raise ConfigError(f"cannot read {path}: {reason}") from err
    try:
        Token.parse(text)
    except InvalidTokenError as err:
        raise ConfigError(f"{path}: {err}") from err


def check_mqtt_url(url: str) -> None:
    """Raise ``ValueError`` (without the URL: it may hold a password) unless it is mqtt(s)://."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("not a valid URL (bad port?)") from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError("expected mqtt[s]://[user[:password]@]host[:port][/prefix]")
    if port == 0:
        raise ValueError("port 0 is not a broker's port")


def check_postgres_dsn(dsn: str) -> None:
    """Raise ``ValueError`` (without the DSN: it may hold a password) unless it is a
    ``postgresql://`` (or ``postgres://``) URL."""
    try:
        parts = urlsplit(dsn)
        port = parts.port
    except ValueError:
        raise ValueError("not a valid URL (bad port?)") from None
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("expected postgresql://[user[:password]@]host[:port]/database")
    if port == 0:
        raise ValueError("port 0 is not a database's port")


def parse_metrics_address(text: str) -> tuple[str, int]:
    """``9531``, ``0.0.0.0:9531`` or ``[::1]:9531`` as (address, port); port 0 picks one."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep:
        host = DEFAULT_METRICS_HOST
    host = host.removeprefix("[").removesuffix("]")
    if not port_text.isdigit() or int(port_text) > 65535 or (sep and not host):
        raise ValueError(f"expected PORT or ADDRESS:PORT, not {text!r}")
    return host, int(port_text)
