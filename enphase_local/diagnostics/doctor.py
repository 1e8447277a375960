"""A gateway examined step by step: each step a verdict and, when something is wrong, what to do.

:func:`diagnose` yields one :class:`Check` per step, in order: the name resolves; the port
answers; the TLS certificate (its fingerprint; pinned, trusted on first use, or neither;
changed since); ``/info`` (serial, firmware, whether a token is needed); the token (well
formed, issued for this gateway, its role and expiry); the clocks of this machine, the gateway
and the token; ``/auth/check_jwt``; every endpoint of the table (served, not served by this
gateway, refused to the token's role, slow) with its latency; the live stream. What needs an
earlier step that failed is reported as skipped.

It sends nothing but GETs (``check_jwt`` included), no token to a certificate it does not
trust, and writes nothing (a trust store is only read). Known problems have their own advice:
a token for another gateway, an expired token, an installer-only endpoint read with an owner
token, a certificate changed since it was trusted, a token given to legacy firmware, a gateway
that answers ``/info`` but not its data (the nightly window), a clock more than five minutes off.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

import attrs

from enphase_local.auth.gateway import UNCOMMISSIONED
from enphase_local.auth.sources import TokenSource
from enphase_local.auth.token import Token, TokenRole, utc_now
from enphase_local.endpoints import CHECK_JWT_PATH, ENDPOINTS, INFO, LIVE_DATA, Endpoint
from enphase_local.errors import (
    CertificateMismatchError,
    EndpointForbiddenError,
    EnphaseError,
    GatewayConnectionError,
    HttpStatusError,
    InvalidTokenError,
    NotSupportedError,
    PayloadError,
    TokenRejectedError,
)
from enphase_local.models import Info, LiveData
from enphase_local.replies import describe
from enphase_local.session import DEFAULT_TIMEOUT_S, GatewaySession
from enphase_local.transport import (
    GatewayAddress,
    normalize_fingerprint,
    parse_address,
    peer_certificate_sha256,
)
from enphase_local.trust import TrustStore

T = TypeVar("T")

#: How far apart two clocks may be before tokens and timestamps suffer.
CLOCK_TOLERANCE: Final = timedelta(minutes=5)
#: An answer slower than this, seconds, is worth a word.
SLOW_S: Final = 5.0
#: An owner token closer than this to its expiry is worth a word.
EXPIRY_WARNING: Final = timedelta(days=7)
#: The longest wait for a name or a TCP connection, seconds.
NETWORK_WAIT_S: Final = 10.0
#: What openresty answers while the gateway's back end is stuck.
_STUCK_STATUSES: Final = frozenset({502, 503, 504})
_VALID_TOKEN: Final = b"Valid token"
_GONE: Final = "not asked: the gateway stopped answering"
_NIGHTLY: Final = (
    "the gateway answers /info but not this: it is likely in its nightly maintenance window "
    "(shortly after 23:00 its local time) or overloaded (another client polling it hard?); "
    "try again in a few minutes"
)
_BUSY: Final = (
    "the gateway is busy, rebooting, or in its nightly window (shortly after 23:00 its local "
    "time): try again in a few minutes"
)
_REPORT: Final = (
    "please report it with a capture: enphase-local capture --host HOST --token-file FILE --out DIR"
)


class Verdict(enum.StrEnum):
    """What a check found."""

    #: As it should be.
    OK = "ok"
    #: Worth knowing, nothing to do (an endpoint this hardware does not serve).
    NOTE = "note"
    #: Works, but could be better or will break (an unpinned certificate, a token near expiry).
    WARN = "warn"
    #: Broken: the advice says what to do.
    FAIL = "fail"
    #: Not checked, because an earlier step failed.
    SKIP = "skip"


@attrs.frozen(kw_only=True)
class Check:
    """One step of the examination."""

    #: The step: ``name``, ``reach``, ``certificate``, ``info``, ``token``, ``clock``,
    #: ``check_jwt``, an endpoint's command-line name, ``live stream``, or ``rest``.
    name: str
    #: What it found.
    verdict: Verdict
    #: One line on what was seen.
    summary: str
    #: What to do about it, when something is wrong.
    advice: str | None = None
    #: How long the request took, seconds (for the steps that make one).
    latency_s: float | None = None


@attrs.frozen(kw_only=True)
class Patient:
    """The gateway to examine, described as a session would be given it."""

    #: ``envoy.local``, an address, or a URL with scheme and port.
    host: str
    #: The token: its text, a parsed token, or a source (a file, the cloud); None: none given.
    token: str | Token | TokenSource | None = attrs.field(default=None, repr=False)
    #: The pinned certificate fingerprint (hex SHA-256), if any.
    fingerprint: str | None = None
    #: A trust-on-first-use store to compare the certificate with (only read).
    trust: TrustStore | None = None
    #: Allow plain HTTP for firmware that needs a token.
    allow_http: bool = False
    #: Seconds one request may take.
    timeout_s: float = DEFAULT_TIMEOUT_S


def diagnose(patient: Patient) -> AsyncGenerator[Check, None]:
    """Examine the gateway: each check is yielded as soon as it is made (``aclose()`` stops)."""
    return _Visit(patient).run()


def _check(
    name: str, verdict: Verdict, summary: str, advice: str | None = None, **more: Any
) -> Check:
    return Check(name=name, verdict=verdict, summary=summary, advice=advice, **more)


class _Visit:
    """The examination of one gateway, and what each step learned for the next."""

    def __init__(self, patient: Patient) -> None:
        self.patient = patient
        self.address: GatewayAddress | None = None
        #: Port 443 is closed and port 80 answers.
        self.plain_http = False
        #: The certificate seen, which the session is pinned to.
        self.pin: bytes | None = None
        #: The certificate is not the one pinned or trusted: no token goes to it.
        self.distrusted = False
        self.info: Info | None = None
        self.token: Token | None = None
        self.token_usable = False
        #: The gateway stopped answering: nothing more is asked.
        self.silent = False
        self.live: LiveData | None = None
        self.live_missing = False

    async def run(self) -> AsyncGenerator[Check, None]:
        for step in (self.resolve, self.reach):
            check = await step()
            yield check
            if check.verdict is Verdict.FAIL:
                yield _skipped("the gateway cannot be reached")
                return
        yield await self.certificate()
        async with self.session() as session:
            check = await self.read_info(session)
            yield check
            if check.verdict is Verdict.FAIL:
                yield _skipped("/info is needed first")
                return
            yield await self.check_token()
            yield self.check_clock()
            async for check in self.read_endpoints(session):
                yield check

    async def read_endpoints(self, session: GatewaySession) -> AsyncIterator[Check]:
        assert self.info is not None
        if not self.info.requires_token:
            yield _check("check_jwt", Verdict.NOTE, "no tokens below firmware 7")
        elif not self.token_usable:
            why = "certificate" if self.distrusted else "token"
            yield _skipped(f"the {why} must be fixed first", name="check_jwt")
            return
        else:
            check = await self.check_jwt(session)
            yield check
            if check.verdict is Verdict.FAIL:
                yield _skipped(_GONE if self.silent else "the token must be accepted first")
                return
        for endpoint in ENDPOINTS:
            if self.silent:
                yield _skipped(_GONE)
                return
            if endpoint is not INFO:
                yield await self.probe(session, endpoint)
        yield self.live_stream()

    # -- the network ---------------------------------------------------------------------------

    async def resolve(self) -> Check:
        try:
            address = self.address = parse_address(self.patient.host)
        except ValueError as err:
            return _check("name", Verdict.FAIL, str(err))
        if address.is_ip_literal:
            return _check("name", Verdict.OK, f"{address.host}: an address, no name")
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(NETWORK_WAIT_S):
                found = await loop.getaddrinfo(address.host, None, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError) as err:
            return _check(
                "name",
                Verdict.FAIL,
                f"{address.host} does not resolve ({describe(err)})",
                "check the spelling; .local names need mDNS on this machine (Avahi, Bonjour); "
                "or use the gateway's IP address (the router lists it)",
            )
        addresses = ", ".join(sorted({str(entry[4][0]) for entry in found}))
        return _check("name", Verdict.OK, f"{address.host} is {addresses}")

    async def reach(self) -> Check:
        address = self.address
        assert address is not None
        port = address.port or (443 if address.scheme == "https" else 80)
        started = time.monotonic()
        error = await _connect(address.host, port)
        if error is None:
            latency = time.monotonic() - started
            return _check("reach", Verdict.OK, f"port {port} answers", latency_s=latency)
        if not address.explicit_scheme and port == 443 and await _connect(address.host, 80) is None:
            self.plain_http = True
            return _check("reach", Verdict.OK, "port 443 is closed, port 80 answers: plain HTTP")
        return _check(
            "reach",
            Verdict.FAIL,
            f"cannot connect to {address.host} port {port} ({error})",
            "is the gateway powered and on this network, at this address? A firewall or "
            "another network segment between?",
        )

    async def certificate(self) -> Check:
        address = self.address
        assert address is not None
        if address.scheme == "http" or self.plain_http:
            return _check("certificate", Verdict.NOTE, "plain HTTP: no certificate (below 7)")
        try:
            async with asyncio.timeout(NETWORK_WAIT_S):
                seen = await peer_certificate_sha256(address)
        except (OSError, ssl.SSLError, TimeoutError) as err:
            return _check(
                "certificate",
                Verdict.FAIL,
                f"no TLS handshake ({describe(err)})",
                "is it the gateway at this address and port? Firmware below 7 speaks plain "
                "HTTP only: try http://",
            )
        if seen is None:
            return _check("certificate", Verdict.FAIL, "no certificate shown")
        self.pin = seen
        return await self._judge_certificate(address, seen)

    async def _judge_certificate(self, address: GatewayAddress, seen: bytes) -> Check:
        shown = f"sha256 {seen.hex()}"
        trust = self.patient.trust
        if self.patient.fingerprint:
            expected, where = normalize_fingerprint(self.patient.fingerprint), "the pinned one"
        elif trust is not None:
            known = await trust.pinned(address.authority)
            if known is None:
                return _check(
                    "certificate",
                    Verdict.NOTE,
                    f"{shown}: not yet in {trust.path} (a session with it trusts it on first use)",
                )
            expected, where = known, f"the one trusted in {trust.path}"
        else:
            return _check(
                "certificate",
                Verdict.WARN,
                f"{shown}: neither pinned nor trusted",
                f"pin it (--fingerprint {seen.hex()}, or fingerprint = in the configuration), "
                "or trust it on first use with --trust-store",
            )
        if seen == expected:
            return _check("certificate", Verdict.OK, f"{shown}, {where}")
        self.distrusted = True
        return _check(
            "certificate",
            Verdict.FAIL,
            f"{shown} is not {where} (sha256 {expected.hex()}): no token is sent to it",
            "if the gateway was replaced or reset, accept the new certificate (enphase-local "
            f"trust accept {address.authority}, or pin {seen.hex()}); if not, something may "
            "stand between you and the gateway",
        )

    # -- the gateway ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[GatewaySession]:
        """A session pinned to the certificate seen, without retries (one request per step)."""
        token = None if self.distrusted else self.patient.token
        if isinstance(token, str):
            token = _parsed(token)
        async with GatewaySession(
            self.patient.host,
            token=token,
            fingerprint=self.pin.hex() if self.pin is not None else None,
            allow_http=self.patient.allow_http,
            timeout=self.patient.timeout_s,
            retries=0,
        ) as session:
            yield session

    async def read_info(self, session: GatewaySession) -> Check:
        check, info, err = await _timed("info", session.info())
        if info is None:
            return attrs.evolve(check, advice=_BUSY) if err is not None and _stuck(err) else check
        self.info = info
        need = "needs a token" if info.requires_token else "needs no token"
        return _retold(check, f"serial {info.serial_number}, firmware {info.firmware}: {need}")

    async def check_token(self) -> Check:
        info = self.info
        assert info is not None
        given = self.patient.token is not None
        firmware = f"firmware {info.firmware}"
        if not info.requires_token:
            if given:
                return _check(
                    "token",
                    Verdict.WARN,
                    f"{firmware} needs no token: the one given is not used",
                    "leave it out (--token, --token-file, or the configuration)",
                )
            return _check("token", Verdict.OK, f"none needed by {firmware}")
        if not given:
            return _check(
                "token",
                Verdict.FAIL,
                f"none given, and {firmware} needs one",
                "run enphase-local init, or enphase-local token fetch --serial "
                f"{info.serial_number} --username YOU, then --token-file",
            )
        try:
            self.token = await self._load_token(info.serial_number)
        except InvalidTokenError as err:
            return _check(
                "token",
                Verdict.FAIL,
                f"not a token: {err}",
                "paste the whole token: about 400 characters, three parts separated by dots",
            )
        except EnphaseError as err:
            return _check("token", Verdict.FAIL, f"none to be had: {err}")
        return self._judge_token(self.token, info.serial_number)

    async def _load_token(self, serial: str) -> Token:
        token = self.patient.token
        if isinstance(token, str):
            return Token.parse(token)
        if isinstance(token, Token):
            return token
        assert token is not None
        return await token.get(serial)

    def _judge_token(self, token: Token, serial: str) -> Check:
        now = utc_now()
        kind = f"{token.role.value} token"
        fetch = f"enphase-local token fetch --serial {serial} (or enphase-local init)"
        if token.serial not in (serial, UNCOMMISSIONED):
            return _check(
                "token",
                Verdict.FAIL,
                f"issued for gateway {token.serial}, not this one ({serial})",
                f"get a token for {serial}: {fetch}",
            )
        if token.is_expired(now):
            ago = _span(now - token.expires_at)
            summary = f"{kind} expired {_date(token.expires_at)}, {ago} ago"
            return _check("token", Verdict.FAIL, summary, f"get a new one: {fetch}")
        self.token_usable = not self.distrusted
        left = f"expires {_date(token.expires_at)}, in {_span(token.expires_in(now))}"
        if token.role is TokenRole.UNKNOWN:
            return _check(
                "token",
                Verdict.WARN,
                f"a token of unknown role, {left}",
                "gateways know owner and installer tokens; this one may be refused",
            )
        if token.role is TokenRole.OWNER and token.expires_in(now) < EXPIRY_WARNING:
            return _check("token", Verdict.WARN, f"{kind}, {left}", f"get a new one soon: {fetch}")
        return _check("token", Verdict.OK, f"{kind} for {token.serial}, {left}")

    def check_clock(self) -> Check:
        info = self.info
        assert info is not None
        now = utc_now()
        token = self.token
        if token is not None and token.issued_at is not None:
            ahead = token.issued_at - now
            if ahead > CLOCK_TOLERANCE:
                return _check(
                    "clock",
                    Verdict.FAIL,
                    f"the token was issued {_span(ahead)} after this machine's now",
                    "this machine's clock is behind: set it right (NTP)",
                )
        gateway = info.reported_at
        if gateway is None:
            return _check("clock", Verdict.NOTE, "the gateway tells no time")
        skew = gateway - now
        side = "ahead of" if skew > timedelta(0) else "behind"
        summary = f"the gateway's clock is {_span(skew)} {side} this machine's"
        if abs(skew) > CLOCK_TOLERANCE:
            return _check(
                "clock",
                Verdict.FAIL,
                summary,
                "one of them is wrong: check this machine's time (NTP); a gateway sets its "
                "clock over the internet, drifts while offline, and judges tokens by it",
            )
        if token is not None and token.is_expired(gateway) and not token.is_expired(now):
            summary += ", and by its clock the token has expired"
            return _check("clock", Verdict.FAIL, summary, "get a new token")
        return _check("clock", Verdict.OK, summary)

    async def check_jwt(self, session: GatewaySession) -> Check:
        check, reply, err = await _timed("check_jwt", session.raw_get(CHECK_JWT_PATH))
        if reply is None:
            self.silent = err is not None and _stuck(err)
            return check
        if reply.status == 200 and _VALID_TOKEN in reply.body:
            return _retold(check, "the gateway accepts the token")
        return attrs.evolve(
            check, verdict=Verdict.FAIL, summary=f"unexpected answer (HTTP {reply.status})"
        )

    async def probe(self, session: GatewaySession, endpoint: Endpoint[Any]) -> Check:
        check, model, err = await _timed(endpoint.cli_name, session.fetch(endpoint), self.token)
        self.silent = err is not None and _stuck(err)
        if endpoint is LIVE_DATA:
            self.live = model if isinstance(model, LiveData) else None
            self.live_missing = isinstance(err, NotSupportedError)
        return attrs.evolve(check, summary=f"{endpoint.path}: {check.summary}")

    def live_stream(self) -> Check:
        if self.live is None:
            why = "not served by this gateway" if self.live_missing else "live data not read"
            return _check("live stream", Verdict.NOTE, why)
        if self.live.stream_enabled:
            return _check("live stream", Verdict.OK, "on: live data are fresh")
        return _check(
            "live stream",
            Verdict.NOTE,
            "off: live data are stale until a client switches it on (poll and watch do, and "
            "keep it on); doctor only reads",
        )


async def _timed(
    name: str, request: Awaitable[T], token: Token | None = None
) -> tuple[Check, T | None, EnphaseError | None]:
    """Await one request: a check with its latency, and the result or the error."""
    started = time.monotonic()
    try:
        result = await request
    except EnphaseError as err:
        return _failure(name, err, token, time.monotonic() - started), None, err
    latency = time.monotonic() - started
    if latency < SLOW_S:
        return _check(name, Verdict.OK, "answered", latency_s=latency), result, None
    advice = "a busy gateway, or one of its slow endpoints: read it rarely"
    return (
        _check(name, Verdict.WARN, f"slow, {latency:.1f} s", advice, latency_s=latency),
        result,
        None,
    )


def _failure(name: str, err: EnphaseError, token: Token | None, latency: float) -> Check:
    """The check for a request that failed, with what to do about it."""
    verdict, summary, advice = Verdict.FAIL, str(err), None
    if isinstance(err, NotSupportedError):
        verdict, summary = Verdict.NOTE, "not served by this gateway (hardware or firmware)"
    elif isinstance(err, EndpointForbiddenError):
        role = token.role.value if token is not None else "this"
        verdict, summary = Verdict.WARN, f"refused to an {role} token"
        advice = "installer-only on this firmware: an installer token reads it; poll leaves it be"
    elif isinstance(err, TokenRejectedError):
        summary = "the gateway refused the token"
        advice = "revoked, replaced, or not valid by the gateway's clock: get a new token"
    elif _stuck(err):
        summary, advice = f"no answer ({err})", _NIGHTLY
    elif isinstance(err, PayloadError):
        summary, advice = f"the library cannot read the body ({err})", _REPORT
    return _check(name, verdict, summary, advice, latency_s=latency)


def _stuck(err: EnphaseError) -> bool:
    """Whether the error says the gateway is not answering: a time-out, a dropped connection,
    or openresty's 502-504 (a certificate mismatch is not that)."""
    if isinstance(err, HttpStatusError):
        return err.status in _STUCK_STATUSES
    return isinstance(err, GatewayConnectionError) and not isinstance(err, CertificateMismatchError)


def _retold(check: Check, summary: str) -> Check:
    """A successful check in its own words (a slow answer keeps its note)."""
    if check.verdict is Verdict.OK:
        return attrs.evolve(check, summary=summary)
    return attrs.evolve(check, summary=f"{summary}; {check.summary}")


def _skipped(why: str, *, name: str = "rest") -> Check:
    return _check(name, Verdict.SKIP, f"not checked: {why}")


def _parsed(text: str) -> Token | None:
    """The token, or None when it is malformed (the token step says so)."""
    try:
        return Token.parse(text)
    except InvalidTokenError:
        return None


async def _connect(host: str, port: int) -> str | None:
    """None when a TCP connection opens (it is closed at once), else why not."""
    try:
        async with asyncio.timeout(NETWORK_WAIT_S):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError) as err:
        return describe(err)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


def _date(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _span(span: timedelta) -> str:
    """``40 s``, ``12 min``, ``5 h``, ``30 days``."""
    seconds = abs(span.total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
