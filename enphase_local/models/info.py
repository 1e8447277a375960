"""``/info``: who the gateway is and which firmware it runs (XML on the wire)."""

from __future__ import annotations

import re
from datetime import datetime

from attrs import frozen

#: Firmware majors from this one on use JWT tokens; older ones use digest auth or none.
TOKEN_FIRMWARE_MAJOR = 7

#: Leading ASCII digits of a version part, at most nine (int() refuses absurdly long runs).
_VERSION_PART = re.compile(r"[0-9]{1,9}")


@frozen(kw_only=True, slots=True)
class Package:
    """One software package installed on the gateway (``<package name="...">``)."""

    #: Package name, e.g. ``app``, ``kernel``, ``essimg``.
    name: str
    #: Enphase part number of the package (``<pn>``), e.g. ``500-00002-r01``.
    part_number: str | None = None
    #: Package version as written by the gateway (``<version>``), e.g. ``08.03.5169``.
    version: str | None = None
    #: Build identifier (``<build>``), usually a short hex hash.
    build: str | None = None


@frozen(kw_only=True, slots=True)
class BuildInfo:
    """How the installed firmware bundle was built (``<build_info>``; absent on 3.x)."""

    #: Build job and date as written by Enphase (``<build_id>``).
    build_id: str | None = None
    #: When the bundle was built, UTC (``<build_time_gmt>``).
    built_at: datetime | None = None
    #: Release version of the bundle (``<release_ver>``), e.g. ``02.00.1514``.
    release_version: str | None = None
    #: Release stage (``<release_stage>``), e.g. ``700-GA``.
    release_stage: str | None = None


@frozen(kw_only=True, slots=True)
class Info:
    """Identity and firmware of a gateway; ``/info`` never needs authentication."""

    #: Gateway serial number (``<sn>``), e.g. ``122125067699``.
    serial_number: str
    #: Gateway part number (``<pn>``), e.g. ``800-00654-r06``.
    part_number: str | None
    #: Firmware version exactly as reported (``<software>``), e.g. ``D8.3.5169``.
    software: str
    #: Firmware version without its letter prefix, e.g. ``8.3.5169``.
    firmware: str
    #: Whether the gateway announces JWT web tokens (``<web-tokens>``; False when absent).
    web_tokens: bool
    #: Whether the gateway has integrated meters (``<imeter>``; None when absent, as on 3.x).
    imeter: bool | None
    #: Gateway clock when it answered, UTC (``<time>``); None when absent.
    reported_at: datetime | None = None
    #: Installed software packages, in document order.
    packages: tuple[Package, ...] = ()
    #: Firmware build details; None when the gateway does not report them.
    build: BuildInfo | None = None

    @property
    def firmware_version(self) -> tuple[int, ...]:
        """The firmware version as a comparable tuple, e.g. ``(8, 3, 5169)``.

        Each dot-separated part contributes its leading digits; parsing stops at the first
        part without any, so ``7.6.175_beta`` gives ``(7, 6, 175)``.
        """
        numbers: list[int] = []
        for part in self.firmware.split("."):
            match = _VERSION_PART.match(part)
            if match is None:
                break
            numbers.append(int(match.group()))
        return tuple(numbers)

    @property
    def requires_token(self) -> bool:
        """Whether requests need a JWT token: web tokens announced, or firmware 7 or newer."""
        version = self.firmware_version
        return self.web_tokens or (bool(version) and version[0] >= TOKEN_FIRMWARE_MAJOR)

    @property
    def is_legacy(self) -> bool:
        """Whether this is legacy firmware (below 7): plain HTTP, digest auth, no tokens."""
        return not self.requires_token
