"""The hardened XML parser for ``/info``.

``/info`` is XML whatever the Content-Type says (some 3.x firmware claims JSON), and its
formatting varies between releases (quotes, tabs, indentation, XML declaration). The parser
resolves no entities, loads no DTD, never touches the network and keeps libxml2's size limits;
a document with a DOCTYPE is refused outright, since no gateway sends one.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from lxml import etree

from enphase_local.errors import PayloadError
from enphase_local.models import BuildInfo, Info, Package

#: The path of the gateway's description, named in errors.
INFO_PATH = "/info"

_ROOT = "envoy_info"
# Child elements each parent may have; in strict mode others are errors. Those read nowhere
# (euaid, seqnum, apiver) are known but carry nothing a client needs.
_KNOWN_CHILDREN = {
    _ROOT: frozenset({"time", "device", "web-tokens", "package", "build_info"}),
    "device": frozenset({"sn", "pn", "software", "euaid", "seqnum", "apiver", "imeter"}),
    "package": frozenset({"pn", "version", "build"}),
    "build_info": frozenset({"build_id", "build_time_gmt", "release_ver", "release_stage"}),
}
_VERSION_PREFIX = re.compile(r"^[A-Za-z]+(?=\d)")


def _parser() -> etree.XMLParser:
    # A fresh parser per call: parser objects keep state and are not meant to be shared.
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _error(message: str, path: str = "/") -> PayloadError:
    return PayloadError(message, endpoint=INFO_PATH, path=path)


def _children(
    element: etree._Element, path: str, *, strict: bool
) -> dict[str, list[etree._Element]]:
    """The element's child elements grouped by tag; unknown tags are errors when strict."""
    known = _KNOWN_CHILDREN[element.tag]
    grouped: dict[str, list[etree._Element]] = {}
    for child in element:  # only elements: comments and PIs are removed, DTDs refused
        tag = child.tag
        if strict and tag not in known:
            raise _error("unexpected element", f"{path}/{tag}")
        grouped.setdefault(tag, []).append(child)
    return grouped


def _text(children: dict[str, list[etree._Element]], tag: str, path: str) -> str | None:
    elements = children.get(tag)
    if not elements:
        return None
    return (elements[0].text or "").strip()


def _required_text(children: dict[str, list[etree._Element]], tag: str, path: str) -> str:
    text = _text(children, tag, path)
    if text is None:
        raise _error("missing required element", f"{path}/{tag}")
    if not text:
        raise _error("required element is empty", f"{path}/{tag}")
    return text


def _bool(children: dict[str, list[etree._Element]], tag: str, path: str) -> bool | None:
    text = _text(children, tag, path)
    if text is None:
        return None
    lowered = text.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise _error("expected true or false", f"{path}/{tag}")


def _time(children: dict[str, list[etree._Element]], tag: str, path: str) -> datetime | None:
    text = _text(children, tag, path)
    if text is None:
        return None
    try:
        return datetime.fromtimestamp(int(text), UTC)
    except (ValueError, OverflowError, OSError) as err:
        raise _error("expected a timestamp in seconds", f"{path}/{tag}") from err


def _package(element: etree._Element, index: int, *, strict: bool) -> Package:
    path = f"/{_ROOT}/package[{index}]"
    name = (element.get("name") or "").strip()
    if not name:
        raise _error("package without a name", path)
    children = _children(element, path, strict=strict)
    return Package(
        name=name,
        part_number=_text(children, "pn", path),
        version=_text(children, "version", path),
        build=_text(children, "build", path),
    )


def _build_info(element: etree._Element, *, strict: bool) -> BuildInfo:
    path = f"/{_ROOT}/build_info"
    children = _children(element, path, strict=strict)
    return BuildInfo(
        build_id=_text(children, "build_id", path),
        built_at=_time(children, "build_time_gmt", path),
        release_version=_text(children, "release_ver", path),
        release_stage=_text(children, "release_stage", path),
    )


def _parse_document(body: bytes) -> etree._Element:
    if b"<!DOCTYPE" in body:
        raise _error("document type declarations are not accepted")
    try:
        root = etree.fromstring(body.lstrip(), _parser())
    except (etree.XMLSyntaxError, ValueError) as err:
        raise _error("body is not well-formed XML") from err
    if root.getroottree().docinfo.internalDTD is not None:  # e.g. a UTF-16 body
        raise _error("document type declarations are not accepted")
    if root.tag != _ROOT:
        raise _error(f"expected an <{_ROOT}> document")
    return root


def parse_info(body: bytes, *, strict: bool = False) -> Info:
    """Parse the ``/info`` XML.

    :param strict: Whether unknown elements are errors (the capture tests use this).
    :raises PayloadError: not XML, a DTD, not ``<envoy_info>``, or no serial or software.
    """
    root = _parse_document(body)
    top = _children(root, f"/{_ROOT}", strict=strict)
    devices = top.get("device")
    if not devices:
        raise _error("missing required element", f"/{_ROOT}/device")
    device_path = f"/{_ROOT}/device"
    device = _children(devices[0], device_path, strict=strict)
    software = _required_text(device, "software", device_path)
    build = top.get("build_info")
    return Info(
        serial_number=_required_text(device, "sn", device_path),
        part_number=_text(device, "pn", device_path),
        software=software,
        firmware=_VERSION_PREFIX.sub("", software),
        web_tokens=bool(_bool(top, "web-tokens", f"/{_ROOT}")),
        imeter=_bool(device, "imeter", device_path),
        reported_at=_time(top, "time", f"/{_ROOT}"),
        packages=tuple(
            _package(element, index, strict=strict)
            for index, element in enumerate(top.get("package", ()))
        ),
        build=_build_info(build[0], strict=strict) if build else None,
    )
