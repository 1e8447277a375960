"""A faithful IQ Gateway simulator and fake Enphase cloud, on loopback.

Simulated gateways are real HTTP(S) servers (aiohttp) that behave like the device as
GATEWAY-FACTS.md describes it: the brief's endpoints with their wire shapes and headers, real
ES256 token checks, ``/auth/check_jwt`` sessions, digest auth on legacy firmware, physically
consistent data that move with a controllable clock, fault injection, and a replay mode for
captured sets. :class:`Simulation` starts gateways, the cloud and the control API together::

    from enphase_local.simulator import Simulation

    async with Simulation(gateways=2, profile="battery") as sim:
        gateway = sim.gateways[0]
        print(gateway.url, gateway.serial, gateway.fingerprint, gateway.token)

Time inside the simulation follows :class:`SimClock` (sessions idle out after 10 simulated
minutes, the live stream lapses after 15); token ``iat``/``exp`` use real time.

The pytest fixtures live in :mod:`enphase_local.simulator.pytest_plugin`; the command line is
``enphase-local simulate``. Needs the ``simulator`` extra (``cryptography``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from enphase_local.simulator.auth.jwt import Role, TokenIssuer
    from enphase_local.simulator.clock import SimClock
    from enphase_local.simulator.cloud import CloudAccount, FakeCloud
    from enphase_local.simulator.faults import Faults, NightlyWindow
    from enphase_local.simulator.gateway import GatewayStats, RequestRecord, SimulatedGateway
    from enphase_local.simulator.harness import Simulation
    from enphase_local.simulator.lockstep import LockstepClock
    from enphase_local.simulator.physics import FlowTotals, GlitchKind, Plant
    from enphase_local.simulator.profiles import PROFILES, MeterType, Profile
    from enphase_local.simulator.tokens import TokenMinter
    from enphase_local.simulator.writes import ControlFaults

#: Where each public name lives: the package loads a module only when one of its names is
#: first used, so ``enphase-local --help`` and ``poll`` do not pay for the simulator.
_HOMES = {
    "Role": "auth.jwt",
    "TokenIssuer": "auth.jwt",
    "SimClock": "clock",
    "CloudAccount": "cloud",
    "FakeCloud": "cloud",
    "Faults": "faults",
    "NightlyWindow": "faults",
    "GatewayStats": "gateway",
    "RequestRecord": "gateway",
    "SimulatedGateway": "gateway",
    "Simulation": "harness",
    "LockstepClock": "lockstep",
    "FlowTotals": "physics",
    "GlitchKind": "physics",
    "Plant": "physics",
    "PROFILES": "profiles",
    "MeterType": "profiles",
    "Profile": "profiles",
    "TokenMinter": "tokens",
    "ControlFaults": "writes",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "PROFILES",
    "CloudAccount",
    "ControlFaults",
    "FakeCloud",
    "Faults",
    "FlowTotals",
    "GatewayStats",
    "GlitchKind",
    "LockstepClock",
    "MeterType",
    "NightlyWindow",
    "Plant",
    "Profile",
    "RequestRecord",
    "Role",
    "SimClock",
    "SimulatedGateway",
    "Simulation",
    "TokenIssuer",
    "TokenMinter",
]
