"""Fixtures and helpers for the simulator's own tests: plain aiohttp over real HTTPS.

The simulator's fixtures (``enphase_simulation`` ...) come from its pytest plugin, which the
root ``conftest.py`` enables.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import attrs
import pytest_asyncio
from multidict import CIMultiDictProxy

from enphase_local.simulator.gateway import SimulatedGateway

#: Midsummer midnight, UTC: a whole simulated day of sun ahead.
MIDSUMMER = dt.datetime(2025, 6, 21, tzinfo=dt.UTC)
#: Midsummer noon, UTC.
NOON = MIDSUMMER + dt.timedelta(hours=12)


@attrs.frozen
class Answer:
    """A response, read completely."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session that keeps cookies from bare IP addresses."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def fetch(
    http: aiohttp.ClientSession,
    gateway: SimulatedGateway,
    path: str,
    *,
    auth: bool = True,
    token: str | None = None,
    method: str = "GET",
    body: object = None,
    headers: dict[str, str] | None = None,
    timeout_s: float = 10.0,
) -> Answer:
    """One request to a simulated gateway, with ``token`` (default: the gateway's own).

    ``auth=False`` sends no ``Authorization`` header at all.
    """
    all_headers = dict(headers or {})
    if token is None:
        token = gateway.token
    if auth and token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    async with http.request(
        method,
        gateway.url + path,
        ssl=False,
        headers=all_headers,
        json=body,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
    ) as response:
        return Answer(response.status, response.headers, await response.read())
