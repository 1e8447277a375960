"""Discovery with a mocked resolver and a mocked zeroconf browser (no network)."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import pytest
import zeroconf.asyncio

from enphase_local.errors import EnphaseError
from enphase_local.scheduler import DiscoveredGateway, discover_gateways
from enphase_local.scheduler.discovery import SERVICE_TYPE, gateway_names, resolve_host


def resolver_for(table: dict[str, list[str]]) -> Callable[[str], Any]:
    asked: list[str] = []

    async def resolve(name: str) -> Sequence[str]:
        asked.append(name)
        return table.get(name, [])

    resolve.asked = asked  # type: ignore[attr-defined]  # the test reads what was asked
    return resolve


def test_gateway_names() -> None:
    assert gateway_names(3) == ["envoy.local", "envoy-2.local", "envoy-3.local"]


async def test_names_until_the_first_miss() -> None:
    resolve = resolver_for(
        {
            "envoy.local": ["192.168.1.20"],
            "envoy-2.local": ["192.168.1.21", "fe80::1"],
            "envoy-4.local": ["192.168.1.23"],  # after the gap: not looked at
        }
    )
    found = await discover_gateways(resolver=resolve)
    assert found == [
        DiscoveredGateway(host="envoy.local", addresses=("192.168.1.20",)),
        DiscoveredGateway(host="envoy-2.local", addresses=("192.168.1.21", "fe80::1")),
    ]
    assert resolve.asked == ["envoy.local", "envoy-2.local", "envoy-3.local"]  # type: ignore[attr-defined]  # set above


async def test_at_most_max_names() -> None:
    resolve = resolver_for({name: ["10.0.0.1"] for name in gateway_names(50)})
    assert len(await discover_gateways(resolver=resolve, max_names=5)) == 5


async def test_nothing_found() -> None:
    assert await discover_gateways(resolver=resolver_for({})) == []


async def test_system_resolver_misses_are_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fail(*args: object, **kwargs: object) -> list[Any]:
        raise socket.gaierror("Name or service not known")

    async def answer(*args: object, **kwargs: object) -> list[Any]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.1.20", 0)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.1.20", 0)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1", 0, 0, 2)),
        ]

    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "getaddrinfo", fail)
    assert await resolve_host("envoy.local") == []
    monkeypatch.setattr(loop, "getaddrinfo", answer)
    assert await resolve_host("envoy.local") == ["192.168.1.20", "fe80::1"]


class FakeZeroconf:
    """Stands in for ``AsyncZeroconf``."""

    instances: ClassVar[list[FakeZeroconf]] = []

    def __init__(self) -> None:
        self.zeroconf = object()
        self.closed = False
        FakeZeroconf.instances.append(self)

    async def async_close(self) -> None:
        self.closed = True


class FakeBrowser:
    """Stands in for ``AsyncServiceBrowser``: announces the services at once."""

    services: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, zc: object, type_: str, handlers: list[Callable[..., None]]) -> None:
        assert type_ == SERVICE_TYPE
        self.cancelled = False
        for name in self.services:
            for handler in handlers:
                handler(
                    zeroconf=zc,
                    service_type=type_,
                    name=name,
                    state_change=zeroconf.ServiceStateChange.Added,
                )

    async def async_cancel(self) -> None:
        self.cancelled = True


class FakeInfo:
    """Stands in for ``AsyncServiceInfo``."""

    def __init__(self, type_: str, name: str) -> None:
        record = FakeBrowser.services[name]
        self.server: str | None = record.get("server")
        self.port: int | None = record.get("port")
        self.properties: dict[bytes, bytes | None] = record.get("properties", {})
        self._addresses: list[str] = record.get("addresses", [])
        self._answers = record.get("answers", True)

    async def async_request(self, zc: object, timeout_ms: float) -> bool:
        return bool(self._answers)

    def parsed_addresses(self) -> list[str]:
        return self._addresses


@pytest.fixture
def fake_zeroconf(monkeypatch: pytest.MonkeyPatch) -> type[FakeBrowser]:
    FakeZeroconf.instances.clear()
    monkeypatch.setattr(zeroconf.asyncio, "AsyncZeroconf", FakeZeroconf)
    monkeypatch.setattr(zeroconf.asyncio, "AsyncServiceBrowser", FakeBrowser)
    monkeypatch.setattr(zeroconf.asyncio, "AsyncServiceInfo", FakeInfo)
    return FakeBrowser


async def test_zeroconf_adds_and_completes_gateways(fake_zeroconf: type[FakeBrowser]) -> None:
    fake_zeroconf.services = {
        f"envoy.{SERVICE_TYPE}": {
            "server": "envoy.local.",
            "port": 80,
            "addresses": ["192.168.1.20"],
            "properties": {b"serialnum": b"122125067699", b"protovers": b"7.6.175"},
        },
        f"envoy-9.{SERVICE_TYPE}": {
            "server": None,
            "addresses": ["192.168.1.99"],
            "properties": {b"serialnum": b"202439990001", b"protovers": None},
        },
        f"ghost.{SERVICE_TYPE}": {"answers": False},
        f"nameless.{SERVICE_TYPE}": {"server": None, "addresses": []},
    }
    resolve = resolver_for({"envoy.local": ["192.168.1.20"]})
    found = await discover_gateways(resolver=resolve, zeroconf=True, browse_s=0.0)
    assert found == [
        DiscoveredGateway(
            host="envoy.local",
            addresses=("192.168.1.20",),
            serial="122125067699",
            protocol_version="7.6.175",
            port=80,
            found_by="name+zeroconf",
        ),
        DiscoveredGateway(
            host="192.168.1.99",
            addresses=("192.168.1.99",),
            serial="202439990001",
            found_by="zeroconf",
        ),
    ]
    assert FakeZeroconf.instances[0].closed


async def test_zeroconf_missing_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "zeroconf", None)
    with pytest.raises(EnphaseError, match=r"enphase-local\[discovery\]"):
        await discover_gateways(resolver=resolver_for({}), zeroconf=True, browse_s=0.0)
