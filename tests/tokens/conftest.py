"""Fixtures of the token tests: a test CA, a fake cloud on loopback HTTPS, aioresponses."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aioresponses.core
import pytest
from aiohttp import ClientResponse
from aioresponses import aioresponses as Aioresponses

from tests.tokens.fake_cloud import FakeCloud, LoopbackCA, make_test_ca, serve


class _CompatResponse(ClientResponse):
    """aioresponses 0.7.9 builds responses without the ``stream_writer`` aiohttp 3.14 requires.

    The request is already sent when aioresponses builds its response, so a writer that
    reports zero bytes sent is what aiohttp itself would have left behind.
    """

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aioresponses]:
    """aioresponses, working with the installed aiohttp."""
    if "stream_writer" in inspect.signature(ClientResponse.__init__).parameters:
        monkeypatch.setattr(aioresponses.core, "ClientResponse", _CompatResponse)
    with Aioresponses() as mock:
        yield mock


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> LoopbackCA:
    """One CA and 127.0.0.1 server certificate for the whole run."""
    folder: Path = tmp_path_factory.mktemp("tls")
    return make_test_ca(folder)


@pytest.fixture
def fake_cloud() -> FakeCloud:
    """The fake cloud's state, to configure before and inspect after a test."""
    return FakeCloud()


@pytest.fixture
async def cloud_url(fake_cloud: FakeCloud, test_ca: LoopbackCA) -> AsyncIterator[str]:
    """The fake cloud served over HTTPS on 127.0.0.1 (both Enlighten and Entrez paths)."""
    async with serve(fake_cloud.app(), test_ca.server_context()) as url:
        yield url
