"""What identifies a site in a gateway's replies, replaced by consistent pseudonyms.

A capture is meant to be posted publicly, so a :class:`Redactor` first learns the identifiers
in every reply, then replaces each one wherever it appears, in bodies and headers alike; the
same value always gets the same pseudonym, so relations between files still hold:

- **serial numbers** (gateway, inverters, batteries, meters, controllers), learned from the
  JSON keys that hold them (``serialNumber``, ``serial_num``, ``sn``, ``device_id``, the keys
  of ``serial_nums``, ...), ``<sn>`` in ``/info`` and the token's audience; then replaced
  everywhere, also at the start of a longer word (a meter's ``122125067699EIM1``). A
  pseudonym keeps the length, the first four digits (the year and week the device was made)
  and any letters, then reads ``99`` and a sequence number: a 12-digit serial stays 12 digits.
- **the token** (and any other JWT) and the **session cookie**;
- **MAC addresses** (the maker's prefix is kept), **IP addresses** (mapped into the networks
  reserved for documentation) and **e-mail addresses**;
- the **site's location**: what JSON holds under ``latitude``, ``longitude``, ``address``,
  ``city``, ``zip`` and the like.

:meth:`Redactor.leaks` is the final check on the output: anything that still looks like a
token, a real identifier seen during the capture, or an address that was not issued here.
"""

from __future__ import annotations

import collections
import enum
import ipaddress
import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

import attrs

from enphase_local.errors import EnphaseError


class Kind(enum.StrEnum):
    """The kinds of identifier a capture redacts."""

    SERIAL = "serial number"
    TOKEN = "token"  # noqa: S105 - the name of a kind, not a token
    SESSION = "session cookie"
    MAC = "MAC address"
    IP = "IP address"
    EMAIL = "e-mail address"
    LOCATION = "location"


class CaptureLeakError(EnphaseError):
    """The output of a capture still holds something that identifies the site: not written."""


@attrs.frozen
class Leak:
    """Something identifying that the final check found in the output."""

    #: The file it is in.
    file: str
    #: What it looks like.
    kind: Kind
    #: Its first characters: enough to find it, too few to use it.
    hint: str

    def __str__(self) -> str:
        return f"a {self.kind} in {self.file} ({self.hint}...)"


#: What replaces a token and a session cookie's value.
TOKEN_PSEUDONYM: Final = "REDACTED-TOKEN"  # noqa: S105 - what replaces one
SESSION_PSEUDONYM: Final = "REDACTED"
#: Serial values are runs of at least this many digits.
_MIN_SERIAL_DIGITS: Final = 8
#: Location values shorter than this pinpoint nothing (``"US"``, a 2-digit degree).
_MIN_LOCATION_CHARS: Final = 4

#: JSON keys (lowercase, without ``_`` and ``-``) whose values, list items or object keys are
#: serial numbers; and ``s``, the terse key of the ``/inv`` rows, for 12-digit strings only.
_SERIAL_KEYS: Final = frozenset({"sn", "deviceid", "devicesn", "generatorid"})
_TERSE_SERIAL_KEY: Final = "s"
#: A scalar under a JSON key that places the site, as written (a number's digits exactly as
#: sent, a string with its escapes), so that the text itself is what gets replaced.
_LOCATION = re.compile(
    r'"(?:latitude|longitude|lat|lng|lon|long|geo_?location|address|street_?address|street'
    r'|city|zip|zip_?code|postal_?code|post_?code)"\s*:\s*'
    r'(?:"((?:[^"\\]|\\.)*)"|(-?\d[\d.eE+-]*))',
    re.IGNORECASE,
)

_DIGIT_RUN = re.compile(rf"\d{{{_MIN_SERIAL_DIGITS},}}")
_XML_SERIAL = re.compile(r"<(?:sn|serial\w*)>\s*([^<\s]+)\s*</", re.IGNORECASE)
#: A JWT, or one of its JSON parts alone (base64url of ``{"`` starts ``eyJ``).
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,2}")
_SESSION = re.compile(r"(sessionId=)([^;,\s\"'<&]+)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_MAC = re.compile(
    r"(?<![0-9A-Fa-f:-])[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![0-9A-Fa-f:-])"
)
# Not after a letter and a slash: ``openresty/1.17.8.1`` is a version, not an address.
_IPV4 = re.compile(r"(?<![\w.])(?<![A-Za-z]/)(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:.])")
#: Where IP pseudonyms come from: the networks reserved for documentation (RFC 5737, 3849).
_DOCUMENTATION: Final = tuple(
    ipaddress.ip_network(net)
    for net in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
_NO_MACS: Final = frozenset({"00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"})


def _norm_key(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


def _is_serial_key(key: str) -> bool:
    norm = _norm_key(key)
    return "serial" in norm or norm in _SERIAL_KEYS


def _revealing_ip(text: str) -> bool:
    """Whether ``text`` is an IP address that could say where a site is."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    if ip.is_loopback or ip.is_unspecified or ip.is_multicast:
        return False
    if any(ip in net for net in _DOCUMENTATION):
        return False
    if isinstance(ip, ipaddress.IPv4Address):  # a netmask: ones, then zeros
        host_bits = int(ip) ^ 0xFFFFFFFF
        return host_bits & (host_bits + 1) != 0
    return True


def _mac_key(text: str) -> str:
    return text.lower().replace("-", ":")


def _bounded(value: str) -> str:
    """A pattern for ``value`` that does not match inside a longer number or word."""
    start = r"(?<!\d)" if value[0].isdigit() else r"(?<!\w)" if value[0].isalnum() else ""
    end = r"(?!\d)" if value[-1].isdigit() else r"(?!\w)" if value[-1].isalnum() else ""
    return start + re.escape(value) + end


def _with_digits(value: str, digits: str) -> str:
    """``value`` with its digits, in order, replaced by ``digits``."""
    fill = iter(digits)
    return "".join(next(fill) if c.isdigit() else c for c in value)


def serial_pseudonym(value: str, index: int) -> str:
    """The ``index``-th serial pseudonym, shaped like ``value``: its length and letters, its
    first four digits when it has ten or more, then ``99`` and the sequence number."""
    count = sum(c.isdigit() for c in value)
    kept = "".join(c for c in value if c.isdigit())[:4] if count >= 10 else ""
    tail = f"99{index:0{max(count - len(kept) - 2, 1)}d}"
    return _with_digits(value, (kept + tail)[:count])


class Redactor:
    """Learns the identifiers in a set of replies, then replaces them with pseudonyms.

    Learn from everything first (:meth:`learn_token`, :meth:`learn_serial`,
    :meth:`learn_body`), then :meth:`redact` each body and header: serials are numbered in
    the order they were learned. Addresses, e-mail addresses, other JWTs and session cookies
    need no learning: they are recognised wherever they are.
    """

    def __init__(self) -> None:
        self._literals: dict[str, Kind] = {}
        #: Real value (addresses in a normal form) -> pseudonym.
        self._pseudonyms: dict[str, str] = {}
        #: The pseudonyms given out (addresses in a normal form).
        self._issued: set[str] = set()
        self._kinds: dict[str, Kind] = {}
        self._counts: collections.Counter[Kind] = collections.Counter()
        self._pattern: re.Pattern[str] | None = None

    def __repr__(self) -> str:  # the values themselves are what must not be shown
        return f"Redactor({dict(self.counts())})"

    # -- learning ---------------------------------------------------------------------------

    def learn_token(self, raw: str) -> None:
        """The token in use (and so its parts: a part alone is as good as a hint)."""
        self._learn(raw, Kind.TOKEN)
        for part in raw.split("."):
            if len(part) >= 16:
                self._learn(part, Kind.TOKEN)

    def learn_serial(self, value: str) -> None:
        """A serial number known from elsewhere (the gateway's, the token's audience)."""
        for run in _DIGIT_RUN.findall(value):
            self._learn(run, Kind.SERIAL)

    def learn_body(self, body: bytes) -> None:
        """The serials and location a body holds (JSON keys, ``<sn>`` in XML)."""
        text = body.decode("latin-1")
        for match in _XML_SERIAL.finditer(text):
            self.learn_serial(match.group(1))
        for match in _LOCATION.finditer(text):
            value = match.group(1) or match.group(2) or ""
            if len(value) >= _MIN_LOCATION_CHARS and not _is_address(value):
                self._learn(value, Kind.LOCATION)
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            return
        self._walk(document)

    def _walk(self, node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                self._walk(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                self._learn_item(str(key), value)
                self._walk(value)

    def _learn_item(self, key: str, value: Any) -> None:
        if _is_serial_key(key):
            for candidate in _serial_candidates(value):
                self.learn_serial(candidate)
        elif key == _TERSE_SERIAL_KEY and isinstance(value, str) and re.fullmatch(r"\d{12}", value):
            self.learn_serial(value)

    def _learn(self, value: str, kind: Kind) -> None:
        if value not in self._literals:
            self._literals[value] = kind
            self._pattern = None

    # -- replacing --------------------------------------------------------------------------

    def redact(self, data: bytes) -> bytes:
        """``data`` with every identifier replaced (bytes other than those are kept as they are)."""
        return self.redact_text(data.decode("latin-1")).encode("latin-1")

    def redact_text(self, text: str) -> str:
        """``text`` with every identifier replaced."""
        # Whole tokens first: their parts are also learned, and a part replaced alone would
        # leave the rest of a token unrecognisable.
        text = _JWT.sub(lambda m: self._issue(m.group(), Kind.TOKEN), text)
        if self._literals:
            text = self._literal_pattern().sub(lambda m: self._literal(m.group()), text)
        text = _SESSION.sub(lambda m: m.group(1) + self._issue(m.group(2), Kind.SESSION), text)
        text = _EMAIL.sub(lambda m: self._address(m.group(), Kind.EMAIL), text)
        text = _MAC.sub(lambda m: self._address(m.group(), Kind.MAC), text)
        text = _IPV4.sub(lambda m: self._address(m.group(), Kind.IP), text)
        return _IPV6.sub(lambda m: self._address(m.group(), Kind.IP), text)

    def _literal_pattern(self) -> re.Pattern[str]:
        if self._pattern is None:
            longest_first = sorted(self._literals, key=len, reverse=True)
            self._pattern = re.compile("|".join(_bounded(v) for v in longest_first))
        return self._pattern

    def _literal(self, value: str) -> str:
        kind = self._literals[value]
        return self._issue(value, kind)

    def _address(self, text: str, kind: Kind) -> str:
        """The pseudonym of an address, or the text itself when it reveals nothing."""
        if _key(text, kind) in self._issued or not _reveals(text, kind):
            return text
        return self._issue(text, kind)

    def _issue(self, value: str, kind: Kind) -> str:
        key = _key(value, kind)
        pseudonym = self._pseudonyms.get(key)
        if pseudonym is None:
            pseudonym = self._new_pseudonym(value, kind)
            self._pseudonyms[key] = pseudonym
            self._issued.add(pseudonym)
            self._kinds[value] = kind
            self._counts[kind] += 1
        if kind is Kind.MAC:  # in the original's separator and case
            pseudonym = pseudonym.replace(":", value[2])
            return pseudonym.upper() if value.isupper() else pseudonym
        return pseudonym

    def _new_pseudonym(self, value: str, kind: Kind) -> str:
        make = _PSEUDONYMS[kind]
        index = self._counts[kind] + 1
        pseudonym = make(value, index)
        if kind in _SHARED_PSEUDONYMS:
            return pseudonym
        # Never another identifier's real value, nor another's pseudonym.
        while pseudonym in self._literals or pseudonym in self._issued:
            index += 1
            pseudonym = make(value, index)
        return pseudonym

    # -- what was done, and the final check -------------------------------------------------

    def counts(self) -> dict[Kind, int]:
        """How many distinct identifiers of each kind were replaced so far."""
        return {kind: self._counts[kind] for kind in Kind if self._counts[kind]}

    def leaks(self, files: Mapping[str, bytes]) -> list[Leak]:
        """What in ``files`` still identifies the site (see :func:`find_leaks`)."""
        known = dict(self._literals) | self._kinds
        return find_leaks(files, known=known, issued=frozenset(self._issued))


def find_leaks(
    files: Mapping[str, bytes],
    *,
    known: Mapping[str, Kind],
    issued: frozenset[str] = frozenset(),
) -> list[Leak]:
    """Everything in ``files`` that looks like a token, a session cookie, one of the ``known``
    real values, or an address or e-mail address that is neither harmless nor ``issued``."""
    literal = (
        re.compile("|".join(_bounded(v) for v in sorted(known, key=len, reverse=True)))
        if known
        else None
    )
    leaks: list[Leak] = []
    for name, data in files.items():
        text = data.decode("latin-1")
        found: list[tuple[Kind, str]] = []
        if literal is not None:
            found += [(known[m.group()], m.group()) for m in literal.finditer(text)]
        found += [(Kind.TOKEN, m.group()) for m in _JWT.finditer(text)]
        found += [
            (Kind.SESSION, m.group(2)) for m in _SESSION.finditer(text) if m.group(2) not in issued
        ]
        found += _addresses(text, issued)
        leaks += [Leak(name, kind, value[:3]) for kind, value in found]
    return leaks


_DETECTORS: Final = ((Kind.EMAIL, _EMAIL), (Kind.MAC, _MAC), (Kind.IP, _IPV4), (Kind.IP, _IPV6))


def _addresses(text: str, issued: frozenset[str]) -> Iterator[tuple[Kind, str]]:
    for kind, pattern in _DETECTORS:
        for match in pattern.finditer(text):
            value = match.group()
            if _reveals(value, kind) and _key(value, kind) not in issued:
                yield kind, value


def _key(value: str, kind: Kind) -> str:
    """The form an identifier is known by: MAC and e-mail addresses ignore case."""
    if kind is Kind.MAC:
        return _mac_key(value)
    return value.lower() if kind is Kind.EMAIL else value


def _reveals(text: str, kind: Kind) -> bool:
    if kind is Kind.IP:
        return _revealing_ip(text)
    if kind is Kind.MAC:
        return _mac_key(text) not in _NO_MACS
    return True


def _is_address(text: str) -> bool:
    return bool(_EMAIL.fullmatch(text) or _MAC.fullmatch(text) or _revealing_ip(text))


def _serial_candidates(value: Any) -> Iterator[str]:
    """What may be a serial under a serial key: the value, the items of a list, or the keys of
    an object (``serial_nums`` is keyed by serial); not what those objects hold."""
    if isinstance(value, dict):
        yield from (str(key) for key in value)
    elif isinstance(value, list):
        yield from (str(item) for item in value if isinstance(item, str | int))
    elif isinstance(value, str | int) and not isinstance(value, bool):
        yield str(value)


def _ip_pseudonym(value: str, index: int) -> str:
    if ":" in value:
        return str(_DOCUMENTATION[3][index])
    net, offset = divmod(index - 1, 254)
    return str(_DOCUMENTATION[net % 3][offset + 1])


def _mac_pseudonym(value: str, index: int) -> str:
    device = f"{0x990000 + index:06x}"
    return f"{_mac_key(value)[:8]}:{device[0:2]}:{device[2:4]}:{device[4:6]}"


def _location_pseudonym(value: str, index: int) -> str:
    if re.fullmatch(r"-?[\d.]+", value):
        count = sum(c.isdigit() for c in value)  # led by a 1: JSON has no leading zeros
        return _with_digits(value, f"1{index:0{count - 1}d}"[:count])
    return f"place-{index}"


#: Kinds whose every value gets the same pseudonym (nothing relates one to another).
_SHARED_PSEUDONYMS: Final = frozenset({Kind.TOKEN, Kind.SESSION})
_PSEUDONYMS: Final[dict[Kind, Callable[[str, int], str]]] = {
    Kind.SERIAL: serial_pseudonym,
    Kind.TOKEN: lambda _value, _index: TOKEN_PSEUDONYM,
    Kind.SESSION: lambda _value, _index: SESSION_PSEUDONYM,
    Kind.MAC: _mac_pseudonym,
    Kind.IP: _ip_pseudonym,
    Kind.EMAIL: lambda _value, index: f"user{index}@example.com",
    Kind.LOCATION: _location_pseudonym,
}
