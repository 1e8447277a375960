"""Fixtures of the token tests: a test CA and a fake cloud on loopback HTTPS.

``mocked`` (aioresponses) comes from the root conftest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.tokens.fake_cloud import FakeCloud, LoopbackCA, make_test_ca, serve


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
