"""``doctor``: every profile healthy, and each known problem recognised on a simulator showing
it."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from enphase_local import GatewaySession
from enphase_local import endpoints as ep
from enphase_local.diagnostics import doctor
from enphase_local.diagnostics.capture import capture
from enphase_local.diagnostics.doctor import Check, Patient, Verdict, diagnose
from enphase_local.endpoints import ENDPOINTS
from enphase_local.simulator.faults import NightlyWindow
from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.harness import Simulation
from enphase_local.simulator.profiles import PROFILES
from enphase_local.simulator.pytest_plugin import SimulationFactory
from enphase_local.transport import parse_address
from enphase_local.trust import TrustStore

#: The steps before the endpoints, in order.
FIRST_STEPS = ["name", "reach", "certificate", "info", "token", "clock", "check_jwt"]


async def examine(gateway: SimulatedGateway, **options: Any) -> dict[str, Check]:
    """The checks by name (the endpoints' under their command-line names)."""
    options.setdefault("token", gateway.token)
    options.setdefault("fingerprint", gateway.fingerprint)
    checks = [c async for c in diagnose(Patient(host=gateway.url, **options))]
    names = [c.name for c in checks]
    assert len(names) == len(set(names)), names
    return {c.name: c for c in checks}


def failed(checks: dict[str, Check]) -> list[str]:
    return [name for name, c in checks.items() if c.verdict is Verdict.FAIL]


@pytest.mark.parametrize("profile", sorted(PROFILES))
async def test_every_profile_is_healthy(
    profile: str, enphase_simulation_factory: SimulationFactory
) -> None:
    simulation = await enphase_simulation_factory(profile=profile)
    gateway = simulation.gateways[0]
    legacy = PROFILES[profile].legacy
    checks = await examine(gateway, token=None if legacy else gateway.token)
    assert failed(checks) == []
    endpoints = [e.cli_name for e in ENDPOINTS[1:]]
    assert list(checks) == [*FIRST_STEPS, *endpoints, "live stream"]
    assert checks["certificate"].verdict is (Verdict.NOTE if legacy else Verdict.OK)
    assert checks["info"].summary.startswith(f"serial {gateway.serial}, firmware ")
    assert checks["info"].latency_s is not None
    served = [checks[name].verdict for name in endpoints]
    assert set(served) <= {Verdict.OK, Verdict.NOTE}
    ok = {name for name in endpoints if checks[name].verdict is Verdict.OK}
    if profile == "legacy-html":  # 3.7 serves production only as the HTML page
        assert ok == {ep.PRODUCTION_SUMMARY.cli_name}
    else:
        assert ok


async def test_a_replayed_capture_is_healthy(
    tmp_path: Path, enphase_simulation_factory: SimulationFactory
) -> None:
    simulation = await enphase_simulation_factory(profile="battery")
    gateway = simulation.gateways[0]
    async with GatewaySession(
        gateway.url, token=gateway.token, fingerprint=gateway.fingerprint
    ) as session:
        result = await capture(session, tmp_path / "capture", pause_s=0)
    replay = await enphase_simulation_factory(replay=result.path)
    checks = await examine(replay.gateways[0])
    assert failed(checks) == []
    assert checks["token"].summary.startswith(f"owner token for {result.serial}")


# -- the known problems -------------------------------------------------------------------------


@pytest.mark.enphase_simulation(gateways=2)
async def test_a_token_for_another_gateway(enphase_simulation: Simulation) -> None:
    first, second = enphase_simulation.gateways
    checks = await examine(first, token=second.token)
    assert failed(checks) == ["token"]
    assert f"issued for gateway {second.serial}" in checks["token"].summary
    assert checks["token"].advice is not None
    assert first.serial in checks["token"].advice
    assert checks["check_jwt"].verdict is Verdict.SKIP
    assert first.stats.by_path["/auth/check_jwt"] == 0  # the token was never sent


async def test_an_expired_token(
    enphase_simulation: Simulation, enphase_gateway: SimulatedGateway
) -> None:
    expired = enphase_simulation.tokens.expired(enphase_gateway.serial)
    checks = await examine(enphase_gateway, token=expired)
    assert failed(checks) == ["token"]
    assert "expired" in checks["token"].summary
    assert "get a new one" in str(checks["token"].advice)


@pytest.mark.enphase_simulation(installer_only=["/ivp/pdm/energy"])
async def test_an_installer_only_endpoint_read_with_an_owner_token(
    enphase_gateway: SimulatedGateway,
) -> None:
    checks = await examine(enphase_gateway)
    energy = checks["energy"]
    assert energy.verdict is Verdict.WARN
    assert "refused to an owner token" in energy.summary
    assert "installer token" in str(energy.advice)
    assert checks["meters"].verdict is Verdict.OK  # the others are read as usual
    assert failed(checks) == []


async def test_a_certificate_changed_since_it_was_trusted(
    enphase_gateway: SimulatedGateway, tmp_path: Path
) -> None:
    store = TrustStore(tmp_path / "trusted.json")
    assert enphase_gateway.fingerprint is not None
    key = parse_address(enphase_gateway.url).authority
    store.remember(key, bytes.fromhex(enphase_gateway.fingerprint))
    assert (await examine(enphase_gateway, fingerprint=None, trust=store))[
        "certificate"
    ].verdict is Verdict.OK
    enphase_gateway.stats.reset()

    new = await enphase_gateway.replace_certificate()
    checks = await examine(enphase_gateway, fingerprint=None, trust=store)
    certificate = checks["certificate"]
    assert certificate.verdict is Verdict.FAIL
    assert new in certificate.summary
    assert f"trust accept {key}" in str(certificate.advice)
    assert checks["info"].verdict is Verdict.OK  # /info needs no token
    assert checks["check_jwt"].verdict is Verdict.SKIP
    assert set(enphase_gateway.stats.by_path) == {"/info"}  # no token went to it
    assert store.get(key) != bytes.fromhex(new)  # and the store is only read


@pytest.mark.enphase_simulation(profile="legacy")
async def test_legacy_firmware_with_a_token_given(
    enphase_simulation: Simulation, enphase_gateway: SimulatedGateway
) -> None:
    token = enphase_simulation.tokens.owner(enphase_gateway.serial)
    checks = await examine(enphase_gateway, token=token)
    assert checks["token"].verdict is Verdict.WARN
    assert "needs no token: the one given is not used" in checks["token"].summary
    assert checks["check_jwt"].verdict is Verdict.NOTE
    assert failed(checks) == []


async def test_info_answers_but_nothing_else_does(enphase_gateway: SimulatedGateway) -> None:
    opened = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).time()  # UTC is its zone
    window = NightlyWindow(start=opened, hang_s=30, spared_paths=frozenset({"/info"}))
    enphase_gateway.faults.set_nightly(window)
    checks = await examine(enphase_gateway, timeout_s=0.5)
    assert checks["info"].verdict is Verdict.OK
    assert failed(checks) == ["check_jwt"]
    assert "nightly maintenance window" in str(checks["check_jwt"].advice)
    assert checks["rest"].summary == "not checked: not asked: the gateway stopped answering"
    assert enphase_gateway.stats.faults_served["nightly"] == 1  # asked once, then left alone


async def test_a_clock_more_than_five_minutes_off(
    enphase_simulation_factory: SimulationFactory,
) -> None:
    simulation = await enphase_simulation_factory(start_time=time.time() + 3600)
    checks = await examine(simulation.gateways[0])
    assert failed(checks) == ["clock"]
    assert checks["clock"].summary == "the gateway's clock is 60 min ahead of this machine's"
    assert "NTP" in str(checks["clock"].advice)


async def test_a_clock_within_five_minutes_is_fine(
    enphase_simulation_factory: SimulationFactory,
) -> None:
    simulation = await enphase_simulation_factory(start_time=time.time() - 240)
    checks = await examine(simulation.gateways[0])
    assert checks["clock"].verdict is Verdict.OK
    assert "behind this machine's" in checks["clock"].summary


async def test_a_token_expired_by_the_gateways_clock_only(
    enphase_simulation_factory: SimulationFactory,
) -> None:
    """Four minutes apart is within tolerance, but not for a token with two minutes left."""
    simulation = await enphase_simulation_factory(start_time=time.time() + 240)
    gateway = simulation.gateways[0]
    checks = await examine(gateway, token=simulation.tokens.owner(gateway.serial, lifetime_s=120))
    assert checks["token"].verdict is Verdict.WARN  # two minutes left
    assert failed(checks) == ["clock"]  # (the simulator judges tokens by real time)
    assert checks["clock"].summary.endswith("and by its clock the token has expired")


# -- more of what can go wrong ------------------------------------------------------------------


async def test_no_token_and_a_malformed_one(enphase_gateway: SimulatedGateway) -> None:
    checks = await examine(enphase_gateway, token=None)
    assert failed(checks) == ["token"]
    assert "needs one" in checks["token"].summary
    assert "enphase-local init" in str(checks["token"].advice)
    checks = await examine(enphase_gateway, token="not.a-token")
    assert failed(checks) == ["token"]
    assert checks["token"].summary.startswith("not a token")


async def test_a_revoked_token_is_refused_at_check_jwt(enphase_gateway: SimulatedGateway) -> None:
    enphase_gateway.revoke_all_tokens()
    checks = await examine(enphase_gateway)
    assert failed(checks) == ["check_jwt"]
    assert checks["check_jwt"].summary == "the gateway refused the token"
    assert checks["rest"].verdict is Verdict.SKIP


async def test_a_certificate_neither_pinned_nor_trusted(enphase_gateway: SimulatedGateway) -> None:
    checks = await examine(enphase_gateway, fingerprint=None)
    assert checks["certificate"].verdict is Verdict.WARN
    assert f"--fingerprint {enphase_gateway.fingerprint}" in str(checks["certificate"].advice)
    assert failed(checks) == []


async def test_names_resolve_and_their_failures_say_what_to_try(
    enphase_gateway: SimulatedGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    named = enphase_gateway.url.replace("127.0.0.1", "localhost")
    checks = [c async for c in diagnose(Patient(host=named, token=enphase_gateway.token))]
    assert checks[0].summary.startswith("localhost is ")
    assert "127.0.0.1" in checks[0].summary

    def unknown(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unknown)
    checks = [c async for c in diagnose(Patient(host=named))]
    assert [c.verdict for c in checks] == [Verdict.FAIL, Verdict.SKIP]
    assert ".local names need mDNS" in str(checks[0].advice)


async def test_a_closed_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there
    checks = [c async for c in diagnose(Patient(host=f"https://127.0.0.1:{port}"))]
    assert [c.name for c in checks] == ["name", "reach", "rest"]
    assert checks[1].verdict is Verdict.FAIL
    assert f"port {port}" in checks[1].summary


async def test_port_80_when_443_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """An address without a scheme: a legacy gateway answers on port 80 only."""

    async def only_80(host: str, port: int) -> str | None:
        return None if port == 80 else "refused"

    monkeypatch.setattr(doctor, "_connect", only_80)
    async with contextlib.aclosing(diagnose(Patient(host="127.0.0.1"))) as steps:
        name, reach, certificate = [await anext(steps) for _ in range(3)]
    assert name.verdict is Verdict.OK
    assert reach.summary == "port 443 is closed, port 80 answers: plain HTTP"
    assert certificate.verdict is Verdict.NOTE  # and so the session may use plain HTTP
