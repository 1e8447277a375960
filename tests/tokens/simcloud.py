"""The simulator's fake cloud for the token tests: its accounts and a client for it.

The ``sim_cloud`` fixture (conftest) serves :class:`~enphase_local.simulator.FakeCloud` alone
on 127.0.0.1 over HTTPS, knowing :data:`OWNER` (owns :data:`~tests.tokens.jwt.SERIAL` only)
and :data:`MFA`; ``sim_issuer`` is the key it signs with.
"""

from __future__ import annotations

import ssl
from typing import Protocol

import aiohttp
import attrs

from enphase_local.auth.cloud import EnphaseCloud
from enphase_local.simulator import CloudAccount, FakeCloud
from tests.tokens.jwt import SERIAL

USERNAME = "owner@example.com"
PASSWORD = "correct horse battery staple"

#: The account the tests log in with.
OWNER = CloudAccount(username=USERNAME, password=PASSWORD, serials=frozenset({SERIAL}))
#: An account with multi-factor auth on: its login never yields a session.
MFA = CloudAccount(
    username="mfa@example.com", password=PASSWORD, serials=frozenset({SERIAL}), mfa=True
)


class CloudService(Protocol):
    """Where a client finds a loopback cloud: the simulator's, or a test's front for it."""

    @property
    def url(self) -> str:
        """Base URL of both Enlighten and Entrez."""
        ...

    def client_ssl_context(self) -> ssl.SSLContext | None:
        """A client TLS context trusting the service's certificate (None over HTTP)."""
        ...


def client(
    service: CloudService,
    account: CloudAccount = OWNER,
    *,
    password: str | None = None,
    attempts: int = 3,
    session: aiohttp.ClientSession | None = None,
) -> EnphaseCloud:
    """A cloud client for ``account`` that verifies ``service``'s certificate, without delays."""
    return EnphaseCloud(
        account.username,
        account.password if password is None else password,
        enlighten_url=service.url,
        entrez_url=service.url,
        ssl=service.client_ssl_context() or True,
        attempts=attempts,
        retry_delay=0,
        session=session,
    )


def own(cloud: FakeCloud, *serials: str) -> None:
    """Give :data:`OWNER` these gateways as well."""
    cloud.add_account(attrs.evolve(OWNER, serials=OWNER.serials | set(serials)))
