"""Gateway addresses and certificate fingerprints."""

from __future__ import annotations

import ssl

import aiohttp
import pytest

from enphase_local.transport import (
    gateway_ssl_context,
    normalize_fingerprint,
    parse_address,
    ssl_for,
)


@pytest.mark.parametrize(
    ("text", "base_url", "explicit"),
    [
        ("envoy.local", "https://envoy.local", False),
        ("envoy-2.local", "https://envoy-2.local", False),
        ("192.168.1.20", "https://192.168.1.20", False),
        ("[fe80::1]", "https://[fe80::1]", False),
        ("fe80::1", "https://[fe80::1]", False),
        ("https://127.0.0.1:8443", "https://127.0.0.1:8443", True),
        ("https://[::1]:8443/", "https://[::1]:8443", True),
        ("http://envoy.local", "http://envoy.local", True),
        ("  envoy.local  ", "https://envoy.local", False),
    ],
)
def test_addresses(text: str, base_url: str, explicit: bool) -> None:
    address = parse_address(text)
    assert address.base_url == base_url
    assert address.explicit_scheme is explicit


def test_ip_literal_detection() -> None:
    assert parse_address("192.168.1.20").is_ip_literal
    assert parse_address("[fe80::1]").is_ip_literal
    assert not parse_address("envoy.local").is_ip_literal


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ftp://envoy.local",
        "https://envoy.local/ivp/meters",
        "https://u:p@envoy.local",
        "https://envoy.local:99999",
        "https://",
    ],
)
def test_bad_addresses(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each message is specific; the type is the contract
        parse_address(text)


def test_fingerprint_forms() -> None:
    raw = bytes(range(32))
    hexed = raw.hex()
    colons = ":".join(f"{b:02X}" for b in raw)
    assert normalize_fingerprint(hexed) == raw
    assert normalize_fingerprint(colons) == raw
    assert normalize_fingerprint(f"sha256:{hexed}") == raw
    assert normalize_fingerprint(raw) == raw
    with pytest.raises(ValueError, match="SHA-256"):
        normalize_fingerprint("abcd")
    with pytest.raises(ValueError, match="hex"):
        normalize_fingerprint("zz" * 32)


def test_ssl_settings() -> None:
    context = gateway_ssl_context()
    assert context.verify_mode == ssl.CERT_NONE
    assert not context.check_hostname
    assert ssl_for(None) is context
    assert isinstance(ssl_for(bytes(32)), aiohttp.Fingerprint)
