"""/info: the hardened XML parser and the Info model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from enphase_local.errors import PayloadError
from enphase_local.models import BuildInfo, Info, Package
from enphase_local.parsing import parse_info

from .samples import INFO_XML, INFO_XML_LEGACY


def _info(software: str, *, web_tokens: bool = False) -> Info:
    return Info(
        serial_number="1",
        part_number=None,
        software=software,
        firmware=software.lstrip("DRM"),
        web_tokens=web_tokens,
        imeter=None,
    )


def test_brief_sample() -> None:
    info = parse_info(INFO_XML, strict=True)
    assert info.serial_number == "122125067699"
    assert info.part_number == "800-00654-r06"
    assert info.software == "D7.4.22"
    assert info.firmware == "7.4.22"
    assert info.firmware_version == (7, 4, 22)
    assert info.web_tokens is True
    assert info.imeter is True
    assert info.reported_at == datetime(2022, 7, 21, 11, 41, 52, tzinfo=UTC)
    assert info.packages == (
        Package(name="rootfs", part_number="500-00001-r01", version="02.00.00", build="1210"),
        Package(name="app", part_number="500-00002-r01", version="07.04.22", build="d153a8"),
    )
    assert info.build == BuildInfo(
        build_id="ec2-user-envoy_uber-pkg_master:pkg-Jul-18-22-08:54:12",
        built_at=datetime.fromtimestamp(1658134579, UTC),
        release_version="02.00.2923",
        release_stage="100-DEV",
    )
    assert info.requires_token is True
    assert info.is_legacy is False


def test_legacy_reply_without_imeter_tokens_or_build_info() -> None:
    info = parse_info(INFO_XML_LEGACY, strict=True)
    assert info.serial_number == "121430030548"
    assert info.firmware == "3.9.36"
    assert info.web_tokens is False
    assert info.imeter is None
    assert info.build is None
    assert info.packages == (
        Package(name="devimg", part_number="500-00004-r01", version="01.02.245", build="033b78"),
    )
    assert info.is_legacy is True
    assert info.requires_token is False


def test_tabs_no_declaration_and_leading_whitespace() -> None:
    body = (
        b"\n\t<envoy_info>\n\t<device>\n\t\t<sn>202439990001</sn>\n"
        b"\t\t<software>D8.3.5169</software>\n\t\t<imeter>false</imeter>\n\t</device>\n"
        b"</envoy_info>\n"
    )
    info = parse_info(body)
    assert info.serial_number == "202439990001"
    assert info.firmware_version == (8, 3, 5169)
    assert info.imeter is False
    assert info.part_number is None
    assert info.reported_at is None
    assert info.packages == ()
    # No web-tokens element, but firmware 8 always wants a token.
    assert info.requires_token is True


def test_xml_declaration_with_other_encoding() -> None:
    body = (
        b"<?xml version='1.0' encoding='ISO-8859-1'?><envoy_info><device>"
        b"<sn>1</sn><software>D5.0.62</software><pn>caf\xe9</pn></device></envoy_info>"
    )
    info = parse_info(body)
    assert info.part_number == "caf\u00e9"


def test_comments_and_processing_instructions_are_ignored() -> None:
    body = (
        b"<envoy_info><!-- a comment --><?pi data?><device><sn>1<!-- x --></sn>"
        b"<software>D7.6.175</software></device></envoy_info>"
    )
    info = parse_info(body, strict=True)
    assert info.serial_number == "1"


@pytest.mark.parametrize(
    ("software", "firmware", "version"),
    [
        ("D8.2.127", "8.2.127", (8, 2, 127)),
        ("R3.9.36", "3.9.36", (3, 9, 36)),
        ("M4.2.33", "4.2.33", (4, 2, 33)),
        ("7.6.175", "7.6.175", (7, 6, 175)),
        ("D7.6.175_beta.x", "7.6.175_beta.x", (7, 6, 175)),
        ("Dunknown", "Dunknown", ()),
    ],
)
def test_firmware_prefix_is_stripped(
    software: str, firmware: str, version: tuple[int, ...]
) -> None:
    body = (
        f"<envoy_info><device><sn>1</sn><software>{software}</software></device></envoy_info>"
    ).encode()
    info = parse_info(body)
    assert info.firmware == firmware
    assert info.firmware_version == version


@pytest.mark.parametrize(
    ("software", "web_tokens", "legacy"),
    [
        ("D5.0.62", False, True),
        ("D6.9.99", False, True),
        ("D7.0.88", False, False),
        ("D6.0.0", True, False),
        ("Dunknown", False, True),
    ],
)
def test_legacy_detection(software: str, web_tokens: bool, legacy: bool) -> None:
    info = _info(software, web_tokens=web_tokens)
    assert info.is_legacy is legacy
    assert info.requires_token is not legacy


def test_version_tuples_compare() -> None:
    assert _info("D8.2.4345").firmware_version > _info("D8.2.127").firmware_version


@pytest.mark.parametrize(
    ("body", "path"),
    [
        pytest.param(
            b"<envoy_info><device><software>D7.0.1</software></device></envoy_info>",
            "/envoy_info/device/sn",
            id="missing-sn",
        ),
        pytest.param(
            b"<envoy_info><device><sn>1</sn></device></envoy_info>",
            "/envoy_info/device/software",
            id="missing-software",
        ),
        pytest.param(
            b"<envoy_info><device><sn> </sn><software>D7</software></device></envoy_info>",
            "/envoy_info/device/sn",
            id="empty-sn",
        ),
        pytest.param(
            b"<envoy_info><time>1</time></envoy_info>", "/envoy_info/device", id="no-device"
        ),
        pytest.param(
            b"<envoy_info><device><sn>1</sn><software>D7</software><imeter>maybe</imeter>"
            b"</device></envoy_info>",
            "/envoy_info/device/imeter",
            id="bad-boolean",
        ),
        pytest.param(
            b"<envoy_info><time>noon</time><device><sn>1</sn><software>D7</software>"
            b"</device></envoy_info>",
            "/envoy_info/time",
            id="bad-time",
        ),
        pytest.param(
            b"<envoy_info><time>99999999999999999999</time><device><sn>1</sn>"
            b"<software>D7</software></device></envoy_info>",
            "/envoy_info/time",
            id="time-out-of-range",
        ),
        pytest.param(
            b"<envoy_info><device><sn>1</sn><software>D7</software></device>"
            b"<package><pn>x</pn></package></envoy_info>",
            "/envoy_info/package[0]",
            id="package-without-name",
        ),
        pytest.param(b"<html><body>Page Not Found</body></html>", "/", id="html-page"),
        pytest.param(b'{"error": "404 - Not Found"}', "/", id="json"),
        pytest.param(b"<envoy_info><device><sn>1</sn>", "/", id="truncated"),
        pytest.param(b"", "/", id="empty"),
    ],
)
def test_bad_documents(body: bytes, path: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_info(body)
    assert caught.value.endpoint == "/info"
    assert caught.value.path == path


def test_unknown_elements_lenient_and_strict() -> None:
    body = (
        b"<envoy_info><device><sn>1</sn><software>D7.0.1</software><color>red</color>"
        b"</device><weather>sunny</weather></envoy_info>"
    )
    assert parse_info(body).serial_number == "1"
    with pytest.raises(PayloadError) as caught:
        parse_info(body, strict=True)
    assert caught.value.path == "/envoy_info/weather"
    with pytest.raises(PayloadError) as caught:
        parse_info(body.replace(b"<weather>sunny</weather>", b""), strict=True)
    assert caught.value.path == "/envoy_info/device/color"


# Security: entity expansion and external entities must never happen.

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<envoy_info><device><sn>&lol9;</sn><software>D7.0.1</software></device></envoy_info>
"""

EXTERNAL_FILE = b"""<?xml version="1.0"?>
<!DOCTYPE envoy_info [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<envoy_info><device><sn>&xxe;</sn><software>D7.0.1</software></device></envoy_info>
"""

EXTERNAL_URL = b"""<?xml version="1.0"?>
<!DOCTYPE envoy_info SYSTEM "http://127.0.0.1:9/evil.dtd">
<envoy_info><device><sn>1</sn><software>D7.0.1</software></device></envoy_info>
"""


def _utf16(body: bytes) -> bytes:
    """The document re-encoded as UTF-16, which hides a DOCTYPE from a byte scan."""
    return body.decode().replace('"1.0"?>', '"1.0" encoding="UTF-16"?>', 1).encode("utf-16")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(BILLION_LAUGHS, "document type", id="billion-laughs"),
        pytest.param(EXTERNAL_FILE, "document type", id="external-file-entity"),
        pytest.param(EXTERNAL_URL, "document type", id="external-dtd"),
        # Found in the parsed tree instead of the bytes.
        pytest.param(_utf16(EXTERNAL_FILE), "document type", id="external-file-entity-utf16"),
        pytest.param(_utf16(EXTERNAL_URL), "document type", id="external-dtd-utf16"),
        # libxml2's amplification limit stops this one while parsing.
        pytest.param(_utf16(BILLION_LAUGHS), "well-formed", id="billion-laughs-utf16"),
    ],
)
def test_dtds_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message) as caught:
        parse_info(body)
    assert "lollol" not in str(caught.value)
    assert "root:" not in str(caught.value)


def test_huge_text_node_is_refused_without_huge_tree() -> None:
    body = (
        b"<envoy_info><device><sn>1</sn><software>D7.0.1</software><euaid>"
        + b"a" * 11_000_000
        + b"</euaid></device></envoy_info>"
    )
    with pytest.raises(PayloadError, match="well-formed"):
        parse_info(body)
