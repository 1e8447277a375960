"""Gateway profiles: which firmware, meters, phases and devices a simulated gateway has.

``metered``      firmware 8.2, production + net-consumption CTs, split phase (US, 60 Hz).
``three-phase``  firmware 7.6, production + net-consumption CTs, three phase (EU, 50 Hz).
``standard``     firmware 8.3, no CTs: ``/ivp/meters`` and readings are ``[]``, the device
                 list is ``{"err": "404 - Not Found"}``; production comes from the inverters;
                 two replaced microinverters are still listed as gone (``modGone``).
``battery``      firmware 8.3, production, net-consumption and storage CTs, split phase, two
                 IQ Batteries on CAN (listed by ``/ivp/ensemble/device_list``) and an IQ System
                 Controller (Enpower) with the grid relay; its readings come in another order
                 than its meters, as on 8.3.
``generator``    firmware 8.3.5169, as ``battery`` with three IQ Batteries, the System
                 Controller and a standby generator it starts off grid when charge runs low.
``collar``       firmware 8.3, as ``battery`` but the grid relay is an IQ Meter Collar with an
                 IQ Combiner 6C controller instead of a System Controller.
``acb``          firmware 8.2.4382, production and net-consumption CTs, two AC Batteries (seen
                 in ``/production.json`` and ``/inventory.json``, not in ``/ivp/ensemble/*``).
``legacy``       firmware 5.0 over plain HTTP, no tokens; digest auth on the inverters endpoint.
``legacy-html``  firmware 3.7 over plain HTTP: production only as the HTML page ``/production``.

Any HTTPS profile can present either TLS setup (:class:`TlsSetup`): ``modern`` (the default)
or ``legacy``, the weak handshake of an old embedded TLS stack.
"""

from __future__ import annotations

import enum

import attrs

from enphase_local.simulator.firmware import parse_version


class MeterType(enum.StrEnum):
    """``measurementType`` of a current transformer (CT) as ``/ivp/meters`` names it."""

    PRODUCTION = "production"
    NET_CONSUMPTION = "net-consumption"
    TOTAL_CONSUMPTION = "total-consumption"
    STORAGE = "storage"


#: The ``eid`` of each meter, as real gateways number them.
METER_EIDS = {
    MeterType.PRODUCTION: 704643328,
    MeterType.NET_CONSUMPTION: 704643584,
    MeterType.TOTAL_CONSUMPTION: 704643584,
    MeterType.STORAGE: 704643840,
}
#: Channel eids are the meter's eid plus this offset plus the phase number (1-3).
CHANNEL_EID_OFFSET = 1073741840


class TlsSetup(enum.StrEnum):
    """What a simulated gateway presents in its TLS handshake."""

    #: A P-256 key; TLS 1.2 and 1.3 with OpenSSL's defaults.
    MODERN = "modern"
    #: What an old embedded TLS stack may offer: a 1024-bit RSA key, TLS 1.2 at most, and only
    #: DHE over a 1024-bit group with AES-CBC and a SHA-1 MAC. Python's default client policy
    #: refuses it (no shared cipher, and a group below its security level).
    LEGACY = "legacy"


class BatteryType(enum.StrEnum):
    """Which kind of battery a site has."""

    #: IQ Batteries (Encharge): ``/ivp/ensemble/*`` lists them.
    IQ = "iq"
    #: AC Batteries: ``/production.json`` and ``/inventory.json`` list them.
    AC = "acb"


@attrs.frozen(kw_only=True)
class Profile:
    """Everything that distinguishes one kind of gateway from another."""

    #: Profile name as the CLI and the harness take it.
    name: str
    #: ``<software>`` of ``/info``, e.g. ``D8.2.4345``.
    software: str
    #: ``<pn>`` of ``/info``: the gateway's part number.
    part_number: str
    #: Whether the gateway serves HTTPS (firmware 7+) or plain HTTP (legacy).
    https: bool
    #: Whether data endpoints need an Entrez token (``<web-tokens>`` in ``/info``).
    web_tokens: bool
    #: ``<imeter>`` of ``/info``.
    imeter: bool
    #: ``phaseMode`` of the meters: ``split`` or ``three``.
    phase_mode: str
    #: Number of phases in use (2 for split phase, 3 for three phase).
    phase_count: int
    #: Nominal phase-to-neutral voltage, V.
    nominal_voltage_v: float
    #: Nominal grid frequency, Hz.
    frequency_hz: float
    #: Installed, enabled CTs in ``/ivp/meters`` order.
    meters: tuple[MeterType, ...]
    #: Number of IQ Batteries (0 for none).
    battery_count: int = 0
    #: Usable capacity of one battery, Wh.
    battery_capacity_wh: float = 4960.0
    #: Maximum charge or discharge power of one battery, W.
    battery_power_w: float = 3840.0
    #: IQ Batteries or AC Batteries.
    battery_type: BatteryType = BatteryType.IQ
    #: Whether an IQ System Controller (Enpower) switches the site off and on grid.
    system_controller: bool = False
    #: Whether an IQ Meter Collar (with an IQ Combiner 6C controller) does it instead.
    collar: bool = False
    #: Rated power of a standby generator the System Controller starts, W (0: none).
    generator_w: float = 0.0
    #: Microinverters removed from the site that the gateway still lists as gone.
    removed_inverter_count: int = 0
    #: Number of microinverters.
    inverter_count: int
    #: AC rating of one microinverter, W (reports never exceed it).
    inverter_rating_w: float
    #: Whether the front server keeps connections alive (8.3 and 5.x answer ``Connection: close``).
    keep_alive: bool
    #: Where the 401 page's script sends a browser (``/home``; ``/login.html`` from 8.3.5169).
    login_redirect: str = "/home"
    #: Content-Type of ``/info`` (8.3 sends none).
    info_content_type: str | None = "text/xml"

    @property
    def firmware_version(self) -> tuple[int, ...]:
        """Firmware version numbers, from ``software`` without its letter prefix."""
        return parse_version(self.software)

    @property
    def firmware_major(self) -> int:
        """Major firmware version."""
        return self.firmware_version[0]

    @property
    def reorders_readings(self) -> bool:
        """Whether ``/ivp/meters/readings`` lists meters in another order than ``/ivp/meters``
        (8.3 does: clients must join the two by ``eid``)."""
        return self.firmware_version >= (8, 3)

    @property
    def legacy(self) -> bool:
        """Firmware below 7: plain HTTP, digest auth, fewer endpoints."""
        return self.firmware_major < 7

    @property
    def iq_batteries(self) -> int:
        """Number of IQ Batteries."""
        return self.battery_count if self.battery_type is BatteryType.IQ else 0

    @property
    def ac_batteries(self) -> int:
        """Number of AC Batteries."""
        return self.battery_count if self.battery_type is BatteryType.AC else 0

    @property
    def grid_relay(self) -> bool:
        """Whether the site can go off grid (a System Controller or a Meter Collar)."""
        return self.system_controller or self.collar


#: A battery site behind an IQ System Controller; the generator and collar sites vary it.
_BATTERY = Profile(
    name="battery",
    software="D8.3.5167",
    part_number="800-00654-r08",
    https=True,
    web_tokens=True,
    imeter=True,
    phase_mode="split",
    phase_count=2,
    nominal_voltage_v=120.0,
    frequency_hz=60.0,
    meters=(MeterType.PRODUCTION, MeterType.NET_CONSUMPTION, MeterType.STORAGE),
    battery_count=2,
    system_controller=True,
    inverter_count=20,
    inverter_rating_w=295.0,
    keep_alive=False,
    info_content_type=None,
)


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="metered",
            software="D8.2.4345",
            part_number="800-00654-r08",
            https=True,
            web_tokens=True,
            imeter=True,
            phase_mode="split",
            phase_count=2,
            nominal_voltage_v=120.0,
            frequency_hz=60.0,
            meters=(MeterType.PRODUCTION, MeterType.NET_CONSUMPTION),
            inverter_count=16,
            inverter_rating_w=295.0,
            keep_alive=True,
        ),
        Profile(
            name="three-phase",
            software="D7.6.175",
            part_number="800-00555-r03",
            https=True,
            web_tokens=True,
            imeter=True,
            phase_mode="three",
            phase_count=3,
            nominal_voltage_v=230.0,
            frequency_hz=50.0,
            meters=(MeterType.PRODUCTION, MeterType.NET_CONSUMPTION),
            inverter_count=24,
            inverter_rating_w=290.0,
            keep_alive=True,
        ),
        Profile(
            name="standard",
            software="D8.3.5433",
            part_number="800-00656-r06",
            https=True,
            web_tokens=True,
            imeter=False,
            phase_mode="split",
            phase_count=2,
            nominal_voltage_v=120.0,
            frequency_hz=60.0,
            meters=(),
            inverter_count=12,
            inverter_rating_w=295.0,
            removed_inverter_count=2,
            keep_alive=False,
            login_redirect="/login.html",
            info_content_type=None,
        ),
        _BATTERY,
        attrs.evolve(
            _BATTERY,
            name="generator",
            software="D8.3.5169",
            part_number="800-00647-r11",
            battery_count=3,
            generator_w=10000.0,
            login_redirect="/login.html",
        ),
        attrs.evolve(
            _BATTERY,
            name="collar",
            system_controller=False,
            collar=True,
            inverter_count=16,
        ),
        Profile(
            name="acb",
            software="D8.2.4382",
            part_number="800-00654-r06",
            https=True,
            web_tokens=True,
            imeter=True,
            phase_mode="split",
            phase_count=2,
            nominal_voltage_v=120.0,
            frequency_hz=60.0,
            meters=(MeterType.PRODUCTION, MeterType.NET_CONSUMPTION),
            battery_count=2,
            battery_capacity_wh=1200.0,
            battery_power_w=270.0,
            battery_type=BatteryType.AC,
            inverter_count=10,
            inverter_rating_w=240.0,
            keep_alive=True,
        ),
        Profile(
            name="legacy",
            software="D5.0.62",
            part_number="800-00551-r02",
            https=False,
            web_tokens=False,
            imeter=False,
            phase_mode="split",
            phase_count=2,
            nominal_voltage_v=120.0,
            frequency_hz=60.0,
            meters=(),
            inverter_count=20,
            inverter_rating_w=240.0,
            keep_alive=False,
        ),
        Profile(
            name="legacy-html",
            software="D3.7.0",
            part_number="800-00069-r05",
            https=False,
            web_tokens=False,
            imeter=False,
            phase_mode="split",
            phase_count=2,
            nominal_voltage_v=120.0,
            frequency_hz=60.0,
            meters=(),
            inverter_count=24,
            inverter_rating_w=215.0,
            keep_alive=False,
        ),
    )
}


def get_profile(name: str) -> Profile:
    """The profile called ``name``; raises ``ValueError`` naming the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(PROFILES)
        raise ValueError(f"unknown gateway profile {name!r} (known: {known})") from None
