"""Small builders shared by the unit tests."""

from __future__ import annotations

import base64
import json
import time
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(
    serial: str = "122125067699",
    *,
    role: str = "owner",
    lifetime_s: float = 365 * 86400,
    issued_at: float | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """A JWT shaped like Entrez's (ES256 header, the real claims); the signature is filler.

    Clients never verify the signature, so unit tests need only the shape.
    """
    now = time.time() if issued_at is None else issued_at
    header = {"kid": "7d103367", "typ": "JWT", "alg": "ES256"}
    claims: dict[str, Any] = {
        "aud": serial,
        "iss": "Entrez",
        "enphaseUser": role,
        "exp": int(now + lifetime_s),
        "iat": int(now),
        "jti": "2a6ee1a8-6ba6-4d5f-9f28-5b1b2a7e51e1",
        "username": "owner@example.com",
    }
    claims.update(extra or {})
    signature = _b64(b"\x01" * 64)
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}.{signature}"


def info_xml(
    serial: str = "122125067699", software: str = "D8.2.127", web_tokens: bool = True
) -> bytes:
    """A small ``/info`` document in the shape of the brief's Appendix A."""
    tokens = "<web-tokens>true</web-tokens>" if web_tokens else ""
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n<envoy_info>\n  <time>1658403712</time>\n"
        f"  <device>\n    <sn>{serial}</sn>\n    <pn>800-00654-r06</pn>\n"
        f"    <software>{software}</software>\n    <euaid>4c8675</euaid>\n"
        "    <seqnum>0</seqnum>\n    <apiver>1</apiver>\n    <imeter>true</imeter>\n"
        f"  </device>\n  {tokens}\n"
        "  <package name='app'>\n    <pn>500-00002-r01</pn>\n    <version>07.04.22</version>\n"
        "    <build>d153a8</build>\n  </package>\n</envoy_info>\n"
    ).encode()


#: The HTML page real gateways answer a refused token with (status 401, no WWW-Authenticate).
UNAUTHORIZED_HTML = (
    b"<html>\n<head><title>401 Authorization Required</title></head>\n<body>\n"
    b"<center><h1>401 Authorization Required</h1></center>\n"
    b"<script>window.location.href='/home';</script>\n</body>\n</html>\n"
)

#: What ``/auth/check_jwt`` answers for a good token.
VALID_TOKEN_HTML = b"<!DOCTYPE html><h2>Valid token.</h2>"

PRODUCTION_JSON = (
    b'{"wattHoursToday": 21674, "wattHoursSevenDays": 719543,'
    b' "wattHoursLifetime": 1608587, "wattsNow": 332}'
)
