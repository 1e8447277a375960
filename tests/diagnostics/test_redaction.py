"""Redaction and its final check, on planted secrets and on every real capture."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Any

import pytest

from enphase_local.diagnostics.layout import LOG_SUFFIX
from enphase_local.diagnostics.redaction import Kind, Redactor, find_leaks, serial_pseudonym
from tests.conftest import capture_sets, skip_without_captures

from . import planted

FILES = {
    "info": planted.INFO,
    "ivp_meters": planted.JSON_BODY.encode(),
    "api_v1_production": planted.HTML_BODY,
    "ivp_meters_readings_log.json": json.dumps(
        {"headers": planted.REDIRECT_HEADERS, "code": 301}
    ).encode(),
}


def learned(files: dict[str, bytes]) -> Redactor:
    redactor = Redactor()
    redactor.learn_token(planted.TOKEN)
    for body in files.values():
        redactor.learn_body(body)
    return redactor


def test_the_check_finds_planted_secrets_in_every_kind_of_file() -> None:
    leaks = learned(FILES).leaks(FILES)
    kinds = {(leak.file, leak.kind) for leak in leaks}
    assert kinds >= {
        ("info", Kind.SERIAL), ("info", Kind.IP), ("info", Kind.EMAIL),
        ("ivp_meters", Kind.SERIAL), ("ivp_meters", Kind.MAC), ("ivp_meters", Kind.IP),
        ("ivp_meters", Kind.EMAIL), ("ivp_meters", Kind.LOCATION),
        ("api_v1_production", Kind.TOKEN), ("api_v1_production", Kind.SESSION),
        ("api_v1_production", Kind.SERIAL), ("api_v1_production", Kind.MAC),
        ("ivp_meters_readings_log.json", Kind.IP), ("ivp_meters_readings_log.json", Kind.SERIAL),
        ("ivp_meters_readings_log.json", Kind.SESSION),
    }  # fmt: skip
    for leak in leaks:  # a hint to find it, never the thing itself
        assert len(leak.hint) == 3
        assert leak.hint in str(leak)


def test_the_check_alone_finds_tokens_addresses_and_cookies() -> None:
    """Without anything learned: what looks like a token, an address or a session cookie."""
    leaks = find_leaks({"page": planted.HTML_BODY}, known={})
    assert {leak.kind for leak in leaks} == {
        Kind.TOKEN,
        Kind.SESSION,
        Kind.IP,
        Kind.MAC,
        Kind.EMAIL,
    }


def test_redaction_leaves_none_of_them() -> None:
    redactor = learned(FILES)
    redacted = {name: redactor.redact(data) for name, data in FILES.items()}
    assert redactor.leaks(redacted) == []
    everything = b"\n".join(redacted.values()).decode()
    for secret in planted.SECRETS:
        assert secret not in everything
    assert set(redactor.counts()) == set(Kind)


def test_pseudonyms_keep_shapes_and_relations() -> None:
    redactor = learned(FILES)
    serial = redactor.redact_text(planted.SERIAL)
    assert re.fullmatch(r"1221\d{8}", serial)
    assert serial != planted.SERIAL
    assert redactor.redact_text(f"{planted.SERIAL}EIM1") == f"{serial}EIM1"  # meter of gateway
    info = redactor.redact(planted.INFO).decode()
    assert f"<sn>{serial}</sn>" in info

    meters = json.loads(redactor.redact(planted.JSON_BODY.encode()))[0]
    assert meters["sn"] == f"{serial}EIM1"
    assert len(meters["serialNumber"]) == 12
    assert list(meters["serial_nums"].values()) == [{"last_rpt_date": 1785593329, "phase": 1}]
    interface = meters["interfaces"][0]
    assert interface["mac"].startswith("00:1D:C0:")  # the maker's prefix, in the same case
    assert interface["mac"] != planted.MAC
    for key in ("ip", "ipv6"):
        address = ipaddress.ip_address(interface[key])
        assert address in ipaddress.ip_network("192.0.2.0/24") or address.version == 6
    assert interface["netmask"] == "255.255.255.0"  # says nothing about the site
    assert meters["server"] == "openresty/1.17.8.1"  # a version, not an address
    assert isinstance(meters["latitude"], float)
    assert meters["owner"].endswith("@example.com")
    assert meters["eid"] == 704643328

    page = redactor.redact(planted.HTML_BODY).decode()
    assert redactor.redact_text(planted.INVERTER) in page  # the same pseudonym everywhere
    assert redactor.redact_text(planted.MAC.lower()) == interface["mac"].lower()


def test_serial_pseudonyms() -> None:
    assert serial_pseudonym("122125067699", 1) == "122199000001"
    assert serial_pseudonym("3019990001", 2) == "3019990002"
    assert serial_pseudonym("12345678", 3) == "99000003"
    assert serial_pseudonym("ABC1234567890", 4) == "ABC1234990004"


def test_a_pseudonym_is_never_another_real_value() -> None:
    redactor = Redactor()
    redactor.learn_serial("122199000001")  # what the next serial would otherwise become
    redactor.learn_serial("122125067699")
    first = redactor.redact_text("122125067699")
    assert first not in ("122199000001", "122125067699")
    assert redactor.redact_text("122199000001") != first


# -- real captures ----------------------------------------------------------------------------


def _keys(node: Any, path: str = "$") -> set[str]:
    if isinstance(node, dict):
        return {path} | {k for key, v in node.items() for k in _keys(v, f"{path}.{key}")}
    if isinstance(node, list):
        return {k for i, v in enumerate(node) for k in _keys(v, f"{path}[{i}]")}
    return {path}


@skip_without_captures()
@pytest.mark.parametrize("folder", capture_sets(), ids=lambda p: p.name)
def test_real_captures_redact_cleanly(folder: Path) -> None:
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    redactor = Redactor()
    for data in files.values():
        redactor.learn_body(data)
    redacted = {name: redactor.redact(data) for name, data in files.items()}
    assert redactor.leaks(redacted) == []
    assert redactor.counts()[Kind.SERIAL] >= 1
    serial = re.search(rb"<sn>(\d+)</sn>", files["info"])  # one set wrote a word there
    if serial is not None:
        pseudonym = re.search(rb"<sn>(\d+)</sn>", redacted["info"])
        assert pseudonym is not None
        assert len(pseudonym.group(1)) == len(serial.group(1))
        assert pseudonym.group(1) != serial.group(1)
    for name, data in files.items():
        if name.endswith(LOG_SUFFIX):
            before, after = json.loads(data)["headers"], json.loads(redacted[name])["headers"]
            assert after.get("Server") == before.get("Server")
            continue
        try:
            document = json.loads(data)
        except ValueError:
            continue
        assert _keys(json.loads(redacted[name])) == _keys(redactor_view(document, redactor))


def redactor_view(document: Any, redactor: Redactor) -> Any:
    """The document with its object keys redacted (``serial_nums`` is keyed by serial)."""
    if isinstance(document, dict):
        return {redactor.redact_text(k): redactor_view(v, redactor) for k, v in document.items()}
    if isinstance(document, list):
        return [redactor_view(v, redactor) for v in document]
    return document
