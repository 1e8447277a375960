"""No token, password or session cookie in logs, reprs, errors or CLI output, whatever happens.

One story against the simulator over HTTPS, with every logger (root, ``enphase_local.*``,
aiohttp, asyncio) at DEBUG into a handler that keeps everything: every endpoint of a gateway
with a token from the simulator's cloud (the owner's password), a token refresh, a revoked
token recovered, an installer-only endpoint refused, bad, foreign, expired and malformed
tokens, a wrong password, an MFA account, an empty cloud reply, a gateway without the
endpoint, a legacy gateway with digest auth, the token cache and every token source; then the
CLI's ``get`` and ``token fetch``/``token show`` in subprocesses with ``--debug``.

The secrets collected on the way: every token minted (whole, claims part, signature part), the
account passwords and the wrong one, every Enlighten ``session_id`` and ``manager_token``,
every gateway ``sessionId`` cookie, the legacy installer digest password. None may appear in
any log record, in the repr or str of any object involved, in any exception (message, args,
traceback, chained causes), or in the CLI's output, except ``token show --reveal``'s, which
must show the token.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets as stdlib_secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from enphase_local import endpoints as ep
from enphase_local.auth.cache import TokenCache
from enphase_local.auth.cloud import EnphaseCloud
from enphase_local.auth.manager import TokenManager
from enphase_local.auth.sources import (
    CachedTokenSource,
    CallbackTokenSource,
    CloudTokenSource,
    StaticTokenSource,
    TokenFileSource,
)
from enphase_local.auth.token import DEFAULT_REFRESH_MARGIN, Token, utc_now
from enphase_local.errors import (
    CloudLoginError,
    CloudUnavailableError,
    EndpointForbiddenError,
    GatewayConnectionError,
    InvalidTokenError,
    MfaRequiredError,
    NotSupportedError,
    TokenExpiredError,
    TokenRejectedError,
    TokenSerialMismatchError,
)
from enphase_local.session import GatewaySession
from enphase_local.simulator import Simulation
from enphase_local.simulator.gateway import SimulatedGateway
from tests.helpers import VALID_TOKEN_HTML, info_xml, make_jwt
from tests.reliability.hygiene import (
    KeepEverything,
    Secrets,
    exception_reprs,
    exception_texts,
    record_simulation_secrets,
)
from tests.reliability.rawserver import RawServer, head, whole

NOON = dt.datetime(2025, 6, 21, 12, tzinfo=dt.UTC)
SERIAL = "122125067699"


class Story:
    """What a run leaves behind to be searched, and the secrets to search for."""

    def __init__(self) -> None:
        self.secrets = Secrets()
        #: ``(where, text)`` pairs to search.
        self.texts: list[tuple[str, str]] = []
        self.errors: list[BaseException] = []

    def show(self, where: str, *objects: object) -> None:
        """Keep the repr and str of each object."""
        for index, obj in enumerate(objects):
            self.texts.append((f"{where}[{index}] repr", repr(obj)))
            self.texts.append((f"{where}[{index}] str", str(obj)))

    async def expect(
        self, kind: type[BaseException], action: Callable[..., Any], *args: Any
    ) -> None:
        """Run ``action(*args)`` (sync or async), which must raise ``kind``; keep the error."""
        with pytest.raises(kind) as caught:
            await _call(action, *args)
        self.errors.append(caught.value)


async def _call(action: Callable[..., Any], *args: Any) -> Any:
    result = action(*args)
    return await result if asyncio.iscoroutine(result) else result


def _cloud(sim: Simulation, username: str, password: str) -> EnphaseCloud:
    assert sim.cloud is not None
    return EnphaseCloud(
        username,
        password,
        enlighten_url=sim.cloud.url,
        entrez_url=sim.cloud.url,
        ssl=sim.cloud.client_ssl_context() or True,
        retry_delay=0.01,
        attempts=2,
    )


def _session(gateway: SimulatedGateway, token: Any) -> GatewaySession:
    return GatewaySession(
        gateway.url, token=token, fingerprint=gateway.fingerprint, retry_backoff=0.01
    )


class ShiftedClock:
    """The manager's clock, movable ahead of real time (the gateway keeps real time)."""

    def __init__(self) -> None:
        self.ahead = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return utc_now() + self.ahead


async def _cloud_backed_gateway(sim: Simulation, gateway: SimulatedGateway, story: Story) -> None:
    """Every endpoint with a cloud token, a refresh, a revocation, an installer-only path."""
    cloud = _cloud(sim, sim.owner.username, sim.owner.password)
    source = CloudTokenSource(cloud)
    clock = ShiftedClock()
    manager = TokenManager(source, clock=clock)
    async with _session(gateway, manager) as session:
        for endpoint in ep.ENDPOINTS:
            await session.fetch(endpoint)
        await session.enable_live_stream()
        first = session.token
        assert first is not None
        # Move the manager's clock to where the token is due for refresh (not yet expired).
        clock.ahead = first.expires_in() - DEFAULT_REFRESH_MARGIN.for_token(first) / 2
        for _ in range(200):
            await session.production()
            if session.token != first:
                break
            await asyncio.sleep(0.01)
        clock.ahead = dt.timedelta(0)
        refreshed = session.token
        assert refreshed is not None
        assert refreshed != first, "the token was not refreshed"
        gateway.revoke_token(str(refreshed.jti))
        await session.production()
        assert session.token not in (first, refreshed), "the revoked token was not replaced"
        gateway.installer_only.add(ep.ENERGY.path)
        await story.expect(EndpointForbiddenError, session.energy)
        gateway.installer_only.discard(ep.ENERGY.path)
        story.show("cloud-backed", session, manager, source, cloud, first, refreshed, clock)
    await cloud.close()


async def _refused_tokens(sim: Simulation, gateway: SimulatedGateway, story: Story) -> None:
    serial = gateway.serial
    minted = sim.tokens
    bad_signature = minted.bad_signature(serial)  # another issuer: recorded here
    story.secrets.add_token("a token with a bad signature", bad_signature)
    for kind, text in (
        (TokenRejectedError, bad_signature),
        (TokenSerialMismatchError, minted.wrong_audience(serial)),
        (TokenExpiredError, minted.expired(serial)),
    ):
        async with _session(gateway, text) as session:
            await story.expect(kind, session.production)
            story.show(f"refused {kind.__name__}", session, session.token)
    malformed = "eyJhbGciOiJFUzI1NiJ9.bm90LWpzb24tY2xhaW1zLXNlY3JldA.c2lnbmF0dXJlLXNlY3JldC14eXo"
    story.secrets.add_token("a malformed token", malformed)
    await story.expect(InvalidTokenError, lambda: GatewaySession(gateway.url, token=malformed))
    await story.expect(InvalidTokenError, Token.parse, malformed + "x")


async def _cloud_failures(sim: Simulation, serial: str, story: Story) -> None:
    assert sim.cloud is not None
    wrong = "wrong-" + sim.owner.password
    story.secrets.add("a wrong password", wrong)
    for kind, username, password in (
        (CloudLoginError, sim.owner.username, wrong),
        (MfaRequiredError, sim.mfa.username, sim.mfa.password),
    ):
        async with _cloud(sim, username, password) as cloud:
            await story.expect(kind, cloud.fetch_token, serial)
            story.show(f"cloud {kind.__name__}", cloud)
    sim.cloud.fail_tokens(200)  # an empty body instead of a token
    try:
        async with _cloud(sim, sim.owner.username, sim.owner.password) as cloud:
            await story.expect(CloudUnavailableError, cloud.fetch_token, serial)
    finally:
        sim.cloud.fail_tokens(None)


async def _other_gateways(sim: Simulation, story: Story) -> None:
    standard, legacy = sim.gateways[1], sim.gateways[2]
    async with _session(standard, sim.tokens.owner(standard.serial)) as session:
        assert await session.meters() == ()
        await story.expect(NotSupportedError, session.device_list)
        story.show("standard", session)
    async with GatewaySession(legacy.url) as session:
        assert await session.inverters()
        story.show("legacy", session)


async def _sources_and_cache(sim: Simulation, serial: str, tmp_path: Path, story: Story) -> None:
    token = Token.parse(sim.tokens.owner(serial))
    cache = TokenCache(tmp_path / "cache" / "tokens.json")
    cache.put(serial, token)
    token_file = tmp_path / "token.txt"
    token_file.write_text(token.secret())
    static = StaticTokenSource(token)
    cached = CachedTokenSource(static, cache.path)
    file_source = TokenFileSource(token_file)
    callback = CallbackTokenSource(lambda _: token.secret())
    for source in (static, cached, file_source, callback):
        assert await source.get(serial) == token
    story.show("sources", cache, cache.load(), static, cached, file_source, callback, token)


async def run_cli(*args: str, stdin: str = "") -> tuple[int, str, str]:
    """``python -m enphase_local --debug ARGS``: exit status, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "enphase_local",
        "--debug",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")


async def _command_line(sim: Simulation, tmp_path: Path, story: Story) -> None:
    assert sim.cloud is not None
    battery, standard = sim.gateways[0], sim.gateways[1]
    cache = tmp_path / "cli-cache.json"
    cloud_args = ["--enlighten-url", sim.cloud.url, "--entrez-url", sim.cloud.url,
                  "--insecure-cloud-tls", "--password-stdin"]  # fmt: skip
    fetch = ["token", "fetch", "--serial", battery.serial, "--username", sim.owner.username]
    good, bad = tmp_path / "good.token", tmp_path / "bad.token"
    good.write_text(sim.tokens.owner(battery.serial))
    bad_text = sim.tokens.bad_signature(battery.serial)
    story.secrets.add_token("a token with a bad signature", bad_text)
    bad.write_text(bad_text)
    fingerprint = ["--fingerprint", str(battery.fingerprint)]
    first = {
        "token fetch": run_cli(*fetch, *cloud_args, "--cache", str(cache),
                               stdin=sim.owner.password + "\n"),
        "token fetch, wrong password": run_cli(*fetch, *cloud_args, "--cache",
                                               str(tmp_path / "unused.json"), stdin="wrong-pw1\n"),
        "get": run_cli("get", "production", "--host", battery.url, "--token-file", str(good),
                       *fingerprint),
        "get, bad token": run_cli("get", "production", "--host", battery.url, "--token-file",
                                  str(bad), *fingerprint),
        "get, unsupported": run_cli("get", "devices", "--host", standard.url, "--token-file",
                                    str(good), "--fingerprint", str(standard.fingerprint)),
    }  # fmt: skip
    story.secrets.add("a wrong password", "wrong-pw1")
    outcomes = dict(zip(first, await asyncio.gather(*first.values()), strict=True))
    second = {
        "token show": run_cli("token", "show", str(cache)),
        "token show --json": run_cli("token", "show", "--json", str(cache)),
        "token show --reveal": run_cli("token", "show", "--reveal", str(cache)),
    }
    outcomes |= dict(zip(second, await asyncio.gather(*second.values()), strict=True))
    assert outcomes["token fetch"][0] == 0, outcomes["token fetch"][2]
    assert outcomes["get"][0] == 0, outcomes["get"][2]
    assert "DEBUG" in outcomes["get"][2], "--debug logging did not reach stderr"
    for failing in ("token fetch, wrong password", "get, bad token", "get, unsupported"):
        assert outcomes[failing][0] != 0
        assert "Traceback" in outcomes[failing][2], f"{failing}: --debug shows no traceback"
    fetched = json.loads(cache.read_text())["tokens"][battery.serial]
    status, revealed, _ = outcomes.pop("token show --reveal")
    assert status == 0
    assert fetched in revealed, "token show --reveal must show the token"
    for name, (_, out, err) in outcomes.items():
        story.texts += [(f"CLI {name}: stdout", out), (f"CLI {name}: stderr", err)]


def _leaks(story: Story, logs: KeepEverything) -> list[str]:
    texts = list(story.texts)
    texts += [(f"log record of {name}", text) for name, text in logs.texts]
    for error in story.errors:
        texts += [(f"{type(error).__name__}", text) for text in exception_texts(error)]
        texts += [(f"{type(error).__name__} (repr)", text) for text in exception_reprs(error)]
    return [
        f"{label} in {where}" for where, text in texts for label in story.secrets.found_in(text)
    ]


@pytest.mark.enphase_simulation(profile=["battery", "standard", "legacy"], start_time=NOON, speed=0)
async def test_no_secret_in_logs_reprs_errors_or_cli_output(
    enphase_simulation: Simulation,
    all_logs: KeepEverything,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = enphase_simulation
    battery = sim.gateways[0]
    story = Story()
    record_simulation_secrets(sim, story.secrets, monkeypatch)

    await _cloud_backed_gateway(sim, battery, story)
    await _refused_tokens(sim, battery, story)
    await _cloud_failures(sim, battery.serial, story)
    await _other_gateways(sim, story)
    await _sources_and_cache(sim, battery.serial, tmp_path, story)
    await _command_line(sim, tmp_path, story)

    # The search is not vacuous: secrets of every kind were collected, logs were captured.
    kinds = {label.split(" (")[0] for label in story.secrets.labels()}
    assert {"a minted token", "an Enlighten session_id", "a gateway sessionId cookie",
            "an installer digest password", "a wrong password"} <= kinds  # fmt: skip
    assert "enphase_local.session" in all_logs.loggers
    assert len(story.errors) >= 10
    assert _leaks(story, all_logs) == []


async def test_a_malformed_reply_leaves_no_secret_in_the_error_chain() -> None:
    token = make_jwt(SERIAL)
    cookie = "Sx" + stdlib_secrets.token_hex(15)

    async def check_jwt(writer: asyncio.StreamWriter) -> None:
        headers = {"Set-Cookie": f"sessionId={cookie}; Path=/",
                   "Content-Length": str(len(VALID_TOKEN_HTML))}  # fmt: skip
        writer.write(head(200, headers) + VALID_TOKEN_HTML)

    async def malformed(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: twelve\r\n\r\n{}")

    routes = {
        "/info": whole(info_xml(SERIAL), content_type="text/xml"),
        "/auth/check_jwt": check_jwt,
        ep.PRODUCTION.path: malformed,
    }
    story = Story()
    story.secrets.add_token("the token", token)
    story.secrets.add("the sessionId cookie", cookie)
    async with (
        RawServer(routes) as server,
        GatewaySession(server.url, token=token, allow_http=True, retries=0) as session,
    ):
        await story.expect(GatewayConnectionError, session.production)
    error = story.errors[0]
    texts = [*exception_texts(error), *exception_reprs(error)]
    assert [label for text in texts for label in story.secrets.found_in(text)] == []
