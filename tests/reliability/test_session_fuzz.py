"""Broken bodies through the public API: the session raises PayloadError or NotSupportedError only.

A sample of the fuzz corpus (one capture and one simulator body per endpoint) is mutated as in
``test_parser_fuzz`` and served with status 200 (aioresponses) to a token-era GatewaySession,
after a good ``/info`` and ``/auth/check_jwt`` (or as ``/info`` itself). Whatever comes, the
call returns the endpoint's model or raises one of the two errors a body can cause; it never
raises anything else and never hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from aioresponses import aioresponses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enphase_local import endpoints as ep
from enphase_local.errors import NotSupportedError, PayloadError
from enphase_local.models import Info
from enphase_local.session import GatewaySession
from tests.helpers import VALID_TOKEN_HTML, info_xml, make_jwt
from tests.reliability import tally
from tests.reliability.corpus import (
    INFO,
    STREAM,
    TARGETS,
    Sample,
    Target,
    all_samples,
    examples,
    sample_id,
)
from tests.reliability.mutations import mutated

BASE = "https://envoy.local"
SERIAL = "122125067699"
TOKEN = make_jwt(SERIAL)
COOKIE = "sessionId=Zq3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z; Path=/; HttpOnly"
#: A generous bound that only a hang would reach (the session's own timeouts are not involved:
#: aioresponses answers at once).
HANG_GUARD_S = 30.0
#: aioresponses hands the whole body to aiohttp's reader at once, whose flow control fails an
#: assertion past 128 KiB; longer mutations are cut there (test_body_limits sends the big
#: bodies over a real socket).
MOCKABLE_BYTES = 128 * 1024
#: Content types real gateways send (or none), and some they should not.
CONTENT_TYPES = ("", "application/json", "application/json; charset=ISO-8859-4", "text/html",
                 "text/xml", "text/plain")  # fmt: skip

_ENDPOINTS = {endpoint.path: endpoint for endpoint in ep.ENDPOINTS}


def _session_samples() -> tuple[Sample, ...]:
    """Per endpoint, the first 200 capture and the first 200 simulator body."""
    chosen: dict[tuple[str, str], Sample] = {}
    for sample in all_samples():
        origin = sample.source.split("/", 1)[0]
        if sample.status == 200:
            chosen.setdefault((sample.target.name, origin), sample)
    return tuple(chosen.values())


SAMPLES = _session_samples()
POOL = tuple(dict.fromkeys(sample.body for sample in all_samples()))


def _serve(mocked: aioresponses, target: Target, body: bytes, content_type: str) -> None:
    if target is INFO:
        mocked.get(f"{BASE}/info", body=body, content_type=content_type)
        return
    mocked.get(f"{BASE}/info", body=info_xml(SERIAL), content_type="text/xml")
    mocked.get(f"{BASE}/auth/check_jwt", body=VALID_TOKEN_HTML, headers={"Set-Cookie": COOKIE})
    if target is STREAM:
        mocked.post(f"{BASE}{target.path}", body=body, content_type=content_type)
    else:
        mocked.get(f"{BASE}{target.path}", body=body, content_type=content_type)


async def _call(gateway: GatewaySession, target: Target) -> Any:
    if target is INFO:
        return await gateway.info()
    if target is STREAM:
        return await gateway.enable_live_stream()
    return await gateway.fetch(_ENDPOINTS[target.path])


def test_every_endpoint_is_sampled() -> None:
    assert {sample.target.name for sample in SAMPLES} == set(TARGETS)


@pytest.mark.parametrize("sample", SAMPLES, ids=sample_id)
@settings(
    max_examples=examples(scale=4),  # fewer bodies than the parser fuzz: more examples each
    deadline=None,  # the budget is the example count; HANG_GUARD_S catches a hang
    # The aioresponses fixture is emptied at the start of every example.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
async def test_mutated_bodies_through_the_session(
    sample: Sample, data: st.DataObject, mocked: aioresponses
) -> None:
    body = data.draw(mutated(sample.body, sample.target.xml, POOL), label="body")
    body = body[:MOCKABLE_BYTES]
    content_type = data.draw(st.sampled_from(CONTENT_TYPES), label="content type")
    mocked.clear()
    _serve(mocked, sample.target, body, content_type)
    tally.count("session requests")
    async with GatewaySession(BASE, token=TOKEN, retries=0) as gateway:
        try:
            async with asyncio.timeout(HANG_GUARD_S):
                result = await _call(gateway, sample.target)
        except (PayloadError, NotSupportedError):
            return
    assert sample.target.returned_model(result)


@pytest.mark.parametrize("software", ["\u00b2", "D" + "9" * 5000], ids=["superscript", "long"])
async def test_an_unreadable_version_number_is_no_crash(
    software: str, mocked: aioresponses
) -> None:
    body = info_xml(SERIAL, software, web_tokens=False)
    mocked.get(f"{BASE}/info", body=body, content_type="text/xml")
    async with GatewaySession(BASE, retries=0) as gateway:
        with contextlib.suppress(PayloadError):
            assert isinstance(await gateway.info(), Info)
