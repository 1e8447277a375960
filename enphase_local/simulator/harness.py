"""The in-process simulation: N gateways, the cloud and the control API, as one context manager.

::

    async with Simulation(gateways=2, profile="metered", speed=60) as sim:
        gateway = sim.gateways[0]
        gateway.url, gateway.serial, gateway.fingerprint, gateway.token
        sim.tokens.installer(gateway.serial)
        gateway.faults.fail(3)            # three openresty 504s
        await gateway.reboot(2.0)         # connection refused for two seconds
        sim.clock.advance(3600)           # an hour later, instantly
        sim.cloud.url, sim.owner.username, sim.owner.password

Every gateway shares one :class:`~enphase_local.simulator.clock.SimClock`, one signing key
(:attr:`Simulation.issuer`, also the fake cloud's), and the demo accounts: ``owner`` (owns
every gateway), ``installer`` (installer of every gateway) and ``mfa`` (an owner with
multi-factor auth, whose login never yields a session).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from enphase_local.simulator.auth.jwt import OWNER_LIFETIME_S, Role, TokenIssuer
from enphase_local.simulator.clock import SimClock
from enphase_local.simulator.cloud import CloudAccount, FakeCloud
from enphase_local.simulator.control import ControlApi
from enphase_local.simulator.device import Device, SimulatedDevice
from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.profiles import TlsSetup, get_profile
from enphase_local.simulator.replay import ReplayDevice
from enphase_local.simulator.server import Listener
from enphase_local.simulator.tokens import TokenMinter


def make_serial(index: int) -> str:
    """The serial of the ``index``-th simulated gateway (1-based): ``1221999`` + 5 digits."""
    return f"1221999{index:05d}"


def replay_sets(folder: Path) -> list[Path]:
    """``folder`` itself if it is a capture set (has ``info``), else its subfolders that are."""
    if (folder / "info").is_file():
        return [folder]
    return sorted(p for p in folder.iterdir() if (p / "info").is_file())


class Simulation:
    """Simulated gateways, a fake cloud and a control API on loopback.

    ``gateways`` simulated gateways of ``profile``; or, when ``profile`` is a sequence of
    names, one gateway per name (``gateways`` is then ignored); or, with ``replay``, one
    gateway per capture set folder given. ``speed`` and ``start_time`` set
    the shared clock (``speed=0`` freezes it: tests move it with ``clock.advance``).
    ``http_redirect`` (``"https"`` or ``"localhost"``) also opens a plain-HTTP port per
    HTTPS gateway that answers 301, as port 80 of 7.x firmware does. ``tls`` is the TLS setup
    every HTTPS gateway presents (``"modern"``, or ``"legacy"``: see :class:`TlsSetup`).
    """

    def __init__(
        self,
        gateways: int = 1,
        *,
        profile: str | Sequence[str] = "metered",
        speed: float = 1.0,
        start_time: float | dt.datetime | None = None,
        tz: dt.tzinfo = dt.UTC,
        replay: Path | Sequence[Path] | None = None,
        cloud: bool = True,
        cloud_tls: bool = True,
        control: bool = True,
        owner_token_lifetime_s: float = OWNER_LIFETIME_S,
        installer_only: Sequence[str] = (),
        http_redirect: str | None = None,
        tls: TlsSetup | str = TlsSetup.MODERN,
        host: str = "127.0.0.1",
    ) -> None:
        if isinstance(start_time, dt.datetime):
            start_time = start_time.timestamp()
        #: The simulated clock all gateways share.
        self.clock = SimClock(start_time, speed=speed)
        #: The Entrez signing key.
        self.issuer = TokenIssuer()
        #: Helpers that mint good and bad tokens.
        self.tokens = TokenMinter(self.issuer, owner_lifetime_s=owner_token_lifetime_s)
        devices = self._devices(gateways, profile, replay, tz)
        setup = TlsSetup(tls)
        #: The gateways, in order.
        self.gateways = [
            SimulatedGateway(
                device,
                issuer=self.issuer,
                clock=self.clock,
                tz=tz,
                host=host,
                installer_only=frozenset(installer_only),
                http_redirect=http_redirect,
                tls=setup,
            )
            for device in devices
        ]
        serials = frozenset(g.serial for g in self.gateways)
        #: The demo owner account (owns every gateway).
        self.owner = _account("owner@example.com", serials, Role.OWNER)
        #: The demo installer account.
        self.installer = _account("installer@example.com", serials, Role.INSTALLER)
        #: An owner account with multi-factor auth on.
        self.mfa = _account("mfa@example.com", serials, Role.OWNER, mfa=True)
        #: The fake Enlighten/Entrez cloud (None when ``cloud=False``).
        self.cloud = (
            FakeCloud(
                self.issuer,
                accounts=(self.owner, self.installer, self.mfa),
                owner_lifetime_s=owner_token_lifetime_s,
                host=host,
                tls=cloud_tls,
            )
            if cloud
            else None
        )
        self._control = (
            Listener(
                ControlApi(
                    gateways={g.serial: g for g in self.gateways},
                    clock=self.clock,
                    issuer=self.issuer,
                    cloud=self.cloud,
                ).make_app,
                host=host,
            )
            if control
            else None
        )
        self._started = False

    def __repr__(self) -> str:
        return f"Simulation(gateways={[g.serial for g in self.gateways]}, clock={self.clock})"

    def _devices(
        self,
        count: int,
        profile: str | Sequence[str],
        replay: Path | Sequence[Path] | None,
        tz: dt.tzinfo,
    ) -> list[Device]:
        if replay is not None:
            folders = [replay] if isinstance(replay, Path) else list(replay)
            return [ReplayDevice(folder) for folder in folders]
        names = [profile] * count if isinstance(profile, str) else list(profile)
        return [
            SimulatedDevice(get_profile(name), make_serial(i + 1), clock=self.clock, tz=tz)
            for i, name in enumerate(names)
        ]

    @property
    def control_url(self) -> str | None:
        """Base URL of the control API (None when disabled)."""
        return self._control.url if self._control is not None else None

    def gateway(self, serial: str) -> SimulatedGateway:
        """The gateway with this serial (``KeyError`` if none)."""
        for gateway in self.gateways:
            if gateway.serial == serial:
                return gateway
        raise KeyError(serial)

    async def start(self) -> None:
        """Open every port and mint each gateway's owner token."""
        if self._started:
            return
        self._started = True
        try:
            if self.cloud is not None:
                await self.cloud.start()
            await asyncio.gather(*(g.start() for g in self.gateways))
            if self._control is not None:
                await self._control.start()
        except BaseException:
            await self.stop()
            raise
        for gateway in self.gateways:
            gateway.token = self.tokens.owner(gateway.serial)

    async def stop(self) -> None:
        """Close every port."""
        await asyncio.gather(*(g.stop() for g in self.gateways))
        if self._control is not None:
            await self._control.stop()
        if self.cloud is not None:
            await self.cloud.stop()
        self._started = False

    async def __aenter__(self) -> Simulation:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


def _account(
    username: str, serials: frozenset[str], role: Role, *, mfa: bool = False
) -> CloudAccount:
    return CloudAccount(
        username=username,
        password=secrets.token_urlsafe(12),
        serials=serials,
        role=role,
        mfa=mfa,
    )
