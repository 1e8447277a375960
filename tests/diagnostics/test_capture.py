"""``capture`` end to end: every simulator profile over HTTPS, replayed, read back the same."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from enphase_local import GatewaySession
from enphase_local import endpoints as ep
from enphase_local.auth.token import Token
from enphase_local.diagnostics.capture import (
    README,
    CaptureResult,
    ReadOnlyTrust,
    Recorded,
    Recording,
    capture,
    capture_order,
    redact,
    with_legacy_rows,
)
from enphase_local.diagnostics.layout import LOG_SUFFIX
from enphase_local.diagnostics.redaction import CaptureLeakError, Kind, Redactor
from enphase_local.endpoints import ENDPOINTS, Endpoint
from enphase_local.errors import CertificateMismatchError, EnphaseError, TokenRejectedError
from enphase_local.export import to_data
from enphase_local.replies import Reply, checked_body
from enphase_local.simulator.faults import NightlyWindow
from enphase_local.simulator.gateway import SimulatedGateway
from enphase_local.simulator.profiles import PROFILES
from enphase_local.simulator.pytest_plugin import SimulationFactory
from enphase_local.transport import parse_address
from enphase_local.trust import TrustStore

from . import planted

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)


def session_for(gateway: SimulatedGateway, **options: Any) -> GatewaySession:
    return GatewaySession(
        gateway.url, token=gateway.token, fingerprint=gateway.fingerprint, **options
    )


async def capture_gateway(
    gateway: SimulatedGateway, out: Path, **options: Any
) -> tuple[CaptureResult, list[Recorded]]:
    """Capture without pauses; also return the records as received, before redaction."""
    received: list[Recorded] = []
    async with session_for(gateway) as session:
        result = await capture(session, out, pause_s=0, on_record=received.append, **options)
    return result, received


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def same_redaction(gateway: SimulatedGateway, received: list[Recorded]) -> Redactor:
    """The redactor the capture used, made again from what it received (it is deterministic)."""
    assert gateway.token is not None
    token = Token.parse(gateway.token)
    recording = Recording(
        firmware="", serial=gateway.serial, records=tuple(received), tokens=(token,)
    )
    redactor, _ = redact(recording)
    return redactor


def redacted_data(data: Any, redactor: Redactor) -> Any:
    """Model data with every string redacted as the capture redacts bodies."""
    if isinstance(data, dict):
        return {
            redacted_data(key, redactor): redacted_data(value, redactor)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [redacted_data(value, redactor) for value in data]
    return redactor.redact_text(data) if isinstance(data, str) else data


def what_get_shows(endpoint: Endpoint[Any], recorded: Recorded) -> object:
    """What the session makes of a reply: the model's data, or the kind of error."""
    assert recorded.status is not None
    reply = Reply(recorded.status, CIMultiDictProxy(CIMultiDict(recorded.headers)), recorded.body)
    try:
        body = checked_body(endpoint.path, reply, xml=endpoint.xml)
        return to_data(endpoint.parse(body))
    except EnphaseError as err:
        return type(err).__name__


async def raw_reply(session: GatewaySession, path: str) -> Recorded:
    """A reply as the capture records it."""
    reply = await session.raw_get(path)
    headers = tuple(reply.headers.items())
    return Recorded(target=path, status=reply.status, headers=headers, body=reply.body)


def without_requests_served(data: object) -> object:
    """Data less its ``counters`` map: live data's and 7.x ensemble status' counters count the
    requests served (the clock is frozen, so nothing else differs between two reads)."""
    if isinstance(data, dict) and isinstance(data.get("counters"), dict):
        return {k: v for k, v in data.items() if k != "counters"}
    return data


async def what_replay_shows(session: GatewaySession, endpoint: Endpoint[Any]) -> object:
    try:
        return to_data(await session.fetch(endpoint))
    except EnphaseError as err:
        return type(err).__name__


@pytest.mark.parametrize("profile", sorted(PROFILES))
async def test_every_profile_replays_with_every_endpoint_matching(
    profile: str, tmp_path: Path, enphase_simulation_factory: SimulationFactory
) -> None:
    simulation = await enphase_simulation_factory(profile=profile, speed=0, start_time=NOON)
    gateway = simulation.gateways[0]
    rows = capture_order(with_legacy_rows(ENDPOINTS))
    async with session_for(gateway) as session:  # what the gateway itself serves
        direct = {e.path: what_get_shows(e, await raw_reply(session, e.path)) for e in rows}
    result, received = await capture_gateway(gateway, tmp_path / "capture")
    assert result.complete
    assert [r.target for r in received] == [e.path for e in rows]
    for endpoint, recorded in zip(rows, received, strict=True):
        recorded_shows = what_get_shows(endpoint, recorded)
        assert without_requests_served(recorded_shows) == without_requests_served(
            direct[endpoint.path]
        ), endpoint.name
    redactor = same_redaction(gateway, received)
    assert result.serial == redactor.redact_text(gateway.serial) != gateway.serial

    # The files are exactly the replies received, redacted.
    for recorded in received:
        written = (result.path / recorded.file_name).read_bytes()
        assert written == redactor.redact(recorded.body), recorded.target

    replay = await enphase_simulation_factory(replay=result.path, speed=0)
    replayed = replay.gateways[0]
    assert replayed.serial == result.serial
    assert replayed.url.startswith("http://" if PROFILES[profile].legacy else "https://")
    by_path = {r.target: r for r in received}
    async with session_for(replayed) as session:
        firmware = (await session.info()).firmware_version
        for endpoint in ENDPOINTS:
            row = endpoint.for_firmware(firmware)  # what `get` reads on this firmware
            expected = what_get_shows(row, by_path[row.path])
            shown = await what_replay_shows(session, endpoint)
            assert shown == redacted_data(expected, redactor), endpoint.name


# -- planted secrets, end to end --------------------------------------------------------------


def plant(folder: Path) -> None:
    """A capture set whose bodies and headers carry secrets of every kind (see ``planted``)."""
    folder.mkdir()
    logged = {
        "info": (planted.INFO, {"Content-Type": "text/xml"}),
        "ivp_meters": (planted.JSON_BODY.encode(), {}),
        "api_v1_production": (planted.HTML_BODY, {"Content-Type": "text/html"}),
        "ivp_meters_readings": (b"<html>Moved</html>", planted.REDIRECT_HEADERS),
    }
    for name, (body, headers) in logged.items():
        (folder / name).write_bytes(body)
        code = 301 if "Location" in headers else 200
        log = {"headers": {"Server": "openresty/1.17.8.1", **headers}, "code": code}
        (folder / f"{name}{LOG_SUFFIX}").write_text(json.dumps(log))


async def test_planted_secrets_never_reach_the_capture(
    tmp_path: Path, enphase_simulation_factory: SimulationFactory
) -> None:
    plant(tmp_path / "planted")
    simulation = await enphase_simulation_factory(replay=tmp_path / "planted", speed=0)
    gateway = simulation.gateways[0]
    assert gateway.serial == planted.SERIAL
    # The token in use, echoed in a body as a careless page would.
    gateway.token = simulation.tokens.owner(planted.SERIAL)
    page = planted.HTML_BODY + f"<p>{gateway.token}</p>".encode()
    (tmp_path / "planted" / "api_v1_production").write_bytes(page)

    result, received = await capture_gateway(gateway, tmp_path / "capture")
    assert {r.target: r.status for r in received if r.status != 404} == {
        "/info": 200, "/ivp/meters": 200, "/api/v1/production": 200,
        "/ivp/meters/readings": 301,
    }  # fmt: skip
    written = {name: (result.path / name).read_bytes() for name in listing(result.path)}
    everything = b"\n".join(written.values()).decode()
    for secret in (*planted.SECRETS, *gateway.token.split(".")):
        assert secret not in everything
    assert "Set-Cookie" not in everything  # not a header that matters to a replay
    log = json.loads(written[f"ivp_meters_readings{LOG_SUFFIX}"])
    assert log["code"] == 301
    assert log["headers"]["Location"] == f"https://192.0.2.1/home?serial={result.serial}"
    meters = json.loads(written["ivp_meters"])[0]
    assert meters["sn"] == f"{result.serial}EIM1"
    assert f"<sn>{result.serial}</sn>".encode() in written["info"]
    assert set(result.redacted) == set(Kind)

    replay = await enphase_simulation_factory(replay=result.path, speed=0)
    async with session_for(replay.gateways[0]) as session:
        assert (await session.info()).serial_number == result.serial


async def test_a_capture_that_still_identifies_the_site_is_not_written(
    tmp_path: Path,
    enphase_simulation_factory: SimulationFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Redactor, "redact", lambda self, data: data)  # a redaction bug
    simulation = await enphase_simulation_factory(profile="battery", speed=0, start_time=NOON)
    with pytest.raises(CaptureLeakError, match="not written") as caught:
        await capture_gateway(simulation.gateways[0], tmp_path / "capture")
    assert simulation.gateways[0].serial not in str(caught.value)
    assert listing(tmp_path) == []  # no folder, no staging left behind


async def test_existing_output_is_refused_before_any_request(
    tmp_path: Path, enphase_gateway: SimulatedGateway
) -> None:
    (tmp_path / "capture").mkdir()
    (tmp_path / "capture" / "mine").write_text("keep")
    (tmp_path / "capture.zip").write_text("keep")
    for out, as_zip in ((tmp_path / "capture", False), (tmp_path / "capture", True)):
        with pytest.raises(FileExistsError):
            await capture_gateway(enphase_gateway, out, as_zip=as_zip)
    assert enphase_gateway.stats.requests == 0


async def test_an_empty_folder_is_filled_and_a_zip_holds_the_folder(
    tmp_path: Path, enphase_gateway: SimulatedGateway
) -> None:
    (tmp_path / "empty").mkdir()
    result, _ = await capture_gateway(enphase_gateway, tmp_path / "empty")
    assert (result.path / "info").is_file()
    zipped, _ = await capture_gateway(enphase_gateway, tmp_path / "site", as_zip=True)
    assert zipped.path == tmp_path / "site.zip"
    with zipfile.ZipFile(zipped.path) as archive:
        names = set(archive.namelist())
    assert names == {f"site/{name}" for name in listing(result.path)}
    assert listing(tmp_path) == ["empty", "site.zip"]


async def test_gently_slow_last_and_nothing_but_gets(
    tmp_path: Path, enphase_gateway: SimulatedGateway
) -> None:
    result, _ = await capture_gateway(
        enphase_gateway, tmp_path / "capture", enable_live_stream=True
    )
    stats = enphase_gateway.stats
    assert stats.max_in_flight == 1
    methods = {(r.method, r.path) for r in stats.log if r.method != "GET"}
    assert methods == {("POST", "/ivp/livedata/stream")}
    live = json.loads((result.path / "ivp_livedata_status").read_bytes())
    assert live["connection"]["sc_stream"] == "enabled"
    assert "switched on" in (result.path / README).read_text()

    order = capture_order([ENDPOINTS[0], ep.PRODUCTION_SUMMARY, ep.HOME, ENDPOINTS[3]])
    assert [e.path for e in order] == [
        "/info",
        "/ivp/meters/readings",
        ep.PRODUCTION_SUMMARY.path,
        "/home",
    ]
    assert all(e.slow for e in order[2:])


@pytest.mark.enphase_simulation(installer_only=["/ivp/pdm/energy"])
async def test_a_refused_endpoint_is_noted_and_the_rest_recorded(
    tmp_path: Path, enphase_gateway: SimulatedGateway
) -> None:
    result, _ = await capture_gateway(enphase_gateway, tmp_path / "capture")
    refused = [r for r in result.records if r.status is None]
    assert [r.target for r in refused] == ["/ivp/pdm/energy"]
    assert "role" in str(refused[0].problem)
    assert not (result.path / "ivp_pdm_energy").exists()
    assert (result.path / "ivp_meters_readings").exists()
    assert "/ivp/pdm/energy: refused" in (result.path / README).read_text()


@pytest.mark.enphase_simulation(start_time=dt.datetime(2025, 6, 21, 23, 1, tzinfo=dt.UTC))
async def test_a_gateway_that_stops_answering_is_left_alone(
    tmp_path: Path, enphase_gateway: SimulatedGateway
) -> None:
    enphase_gateway.faults.set_nightly(NightlyWindow(hang_s=30, spared_paths=frozenset({"/info"})))
    received: list[Recorded] = []
    async with session_for(enphase_gateway, timeout=0.5) as session:
        result = await capture(session, tmp_path / "capture", pause_s=0, on_record=received.append)
    assert not result.complete
    problems = [r.problem for r in received]
    assert problems[:2] == [None, "no answer in time"]  # /info, then the first data endpoint
    assert problems[2] == "no answer in time"
    assert set(problems[3:]) == {"not asked: the gateway stopped answering"}
    assert enphase_gateway.stats.faults_served["nightly"] == 2


async def test_a_refused_token_ends_the_capture(
    tmp_path: Path, enphase_gateway: SimulatedGateway
) -> None:
    enphase_gateway.revoke_all_tokens()
    with pytest.raises(TokenRejectedError):
        await capture_gateway(enphase_gateway, tmp_path / "capture")
    assert not (tmp_path / "capture").exists()


async def test_a_trust_store_is_read_and_never_written(
    tmp_path: Path, enphase_gateway: SimulatedGateway
) -> None:
    store = tmp_path / "trusted.json"
    async with GatewaySession(
        enphase_gateway.url, token=enphase_gateway.token, trust=ReadOnlyTrust(store)
    ) as session:
        await capture(session, tmp_path / "first", pause_s=0)  # pinned for this run only
    assert not store.exists()

    TrustStore(store).remember(parse_address(enphase_gateway.url).authority, b"\x01" * 32)
    async with GatewaySession(
        enphase_gateway.url, token=enphase_gateway.token, trust=ReadOnlyTrust(store)
    ) as session:
        with pytest.raises(CertificateMismatchError):
            await capture(session, tmp_path / "second", pause_s=0)
    assert not (tmp_path / "second").exists()
    assert enphase_gateway.stats.by_path["/auth/check_jwt"] == 1  # the first capture's only
