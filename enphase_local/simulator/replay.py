"""Replay mode: a gateway that serves a captured set with its recorded statuses and headers.

A capture set is a folder laid out like ``fixtures/gateways/<set>/``, as
:mod:`enphase_local.diagnostics.layout` describes (and ``enphase-local capture`` writes): one
file per endpoint, named after the URL path (``/ivp/meters/readings`` ->
``ivp_meters_readings``, ``/production.json?details=1`` -> ``production.json_details_1``), and
beside most files a ``<name>_log.json`` with the recorded ``code`` and ``headers``. Files
without a log are served with status 200 and the usual Content-Type for their path.

The serial and firmware come from the set's ``info``. Sets of firmware 7 and later are served
over HTTPS and need a token for that serial, as the real gateway did; older sets are served
over plain HTTP without auth (their recorded 401s are replayed as recorded). Paths the set
does not have get the firmware's 404.
"""

from __future__ import annotations

import json
from pathlib import Path

from lxml import etree

from enphase_local.diagnostics.layout import LOG_SUFFIX, capture_file_name
from enphase_local.simulator.device import (
    INFO,
    OPENRESTY_HEADERS,
    Reply,
    firmware_not_found,
)
from enphase_local.simulator.firmware import parse_version

#: Recorded headers that describe the recorded transfer, not the reply; never replayed.
_TRANSFER_HEADERS = frozenset(
    {
        "content-length",
        "transfer-encoding",
        "connection",
        "date",
        "content-encoding",
        "content-type",
    }
)


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)


def _default_content_type(path: str) -> str | None:
    if path == INFO:
        return "text/xml"
    return None if path.startswith("/ivp/") else "application/json"


class ReplayDevice:
    """A gateway back end that answers from a capture set."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        info = (folder / "info").read_bytes()
        root = etree.fromstring(info, parser=etree.XMLParser(resolve_entities=False))
        #: The serial recorded in ``info``.
        self.serial = root.findtext("device/sn") or ""
        #: The firmware recorded in ``info``, e.g. ``D7.6.175``.
        self.software = root.findtext("device/software") or ""
        if not self.serial:
            raise ValueError(f"{folder}: info has no serial number")
        self.legacy = parse_version(self.software) < (7,)
        self.https = not self.legacy
        self.web_tokens = not self.legacy
        self.login_redirect = "/home"
        self.base_headers: tuple[tuple[str, str], ...] = ()
        _, info_headers = self._log(INFO) or (200, [])
        connection = _header(info_headers, "connection") or "keep-alive"
        self.keep_alive = connection.lower() != "close"

    def __repr__(self) -> str:
        return f"ReplayDevice({self.folder.name}, serial={self.serial})"

    def _log(self, path: str, query: str = "") -> tuple[int, list[tuple[str, str]]] | None:
        """The recorded status and headers of a path, if it was logged."""
        log_file = self.folder / f"{capture_file_name(path, query)}{LOG_SUFFIX}"
        if not log_file.is_file():
            return None
        record = json.loads(log_file.read_text(encoding="utf-8"))
        headers = [(str(k), str(v)) for k, v in record.get("headers", {}).items()]
        return int(record.get("code", 200)), headers

    def is_open(self, path: str) -> bool:
        """``/info`` always; everything on legacy sets."""
        return path == INFO or not self.web_tokens

    def needs_digest(self, path: str) -> bool:
        """Never: legacy sets replay their recorded answers, 401s included."""
        del path
        return False

    def handle(self, method: str, path: str, query: str, body: bytes) -> Reply:
        """The recorded answer for ``path`` (and query), or the firmware's 404."""
        del body
        name = capture_file_name(path, query)
        body_file = self.folder / name
        if method != "GET" or not name or name.endswith(LOG_SUFFIX) or not body_file.is_file():
            return self.not_found(path)
        log = self._log(path, query)
        if log is None:
            return Reply(
                body=body_file.read_bytes(),
                content_type=_default_content_type(path),
                headers=OPENRESTY_HEADERS if self.https else (),
            )
        status, recorded = log
        return Reply(
            status=status,
            body=body_file.read_bytes(),
            content_type=_header(recorded, "content-type"),
            headers=tuple((k, v) for k, v in recorded if k.lower() not in _TRANSFER_HEADERS),
        )

    def not_found(self, path: str) -> Reply:
        """404 as this firmware sends it."""
        return firmware_not_found(path, parse_version(self.software))

    def reboot(self) -> None:
        """Nothing volatile to forget."""
