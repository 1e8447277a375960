"""Fixtures of the token tests: the simulator's fake cloud on loopback HTTPS.

``mocked`` (aioresponses) comes from the root conftest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from enphase_local.simulator import FakeCloud, TokenIssuer
from tests.tokens.simcloud import MFA, OWNER


@pytest.fixture
def sim_issuer() -> TokenIssuer:
    """The Entrez signing key of ``sim_cloud``: tells which tokens it minted."""
    return TokenIssuer()


@pytest.fixture
async def sim_cloud(sim_issuer: TokenIssuer) -> AsyncIterator[FakeCloud]:
    """The simulator's Enlighten + Entrez on 127.0.0.1 (HTTPS), knowing OWNER and MFA."""
    cloud = FakeCloud(sim_issuer, accounts=(OWNER, MFA))
    await cloud.start()
    try:
        yield cloud
    finally:
        await cloud.stop()
