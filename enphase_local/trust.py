"""Trust on first use: remember each gateway's certificate and refuse a different one.

Gateways present self-signed certificates, so no CA can vouch for them. A
:class:`TrustStore` records the SHA-256 fingerprint a gateway showed the first time it was
contacted (before any token is sent to it) and pins every later connection to it. A changed
certificate (a replaced gateway, or someone in the middle) is refused with
:class:`~enphase_local.errors.CertificateMismatchError` until the user accepts it with
:meth:`TrustStore.accept` (``enphase-local trust accept HOST``).

The file is JSON, ``{"version": 1, "gateways": {"<host[:port]>": "<hex sha256>"}}``, written
atomically with mode 0600. A file that cannot be read or written raises
:class:`~enphase_local.errors.PrivateFileError`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from enphase_local.private_files import read_private, write_private

_LOGGER = logging.getLogger(__name__)
_FORMAT_VERSION = 1


def default_trust_path() -> Path:
    """``$XDG_CONFIG_HOME/enphase-local/trusted-gateways.json`` (``~/.config`` by default)."""
    base = os.environ.get("XDG_CONFIG_HOME")
    root = Path(base) if base else Path.home() / ".config"
    return root / "enphase-local" / "trusted-gateways.json"


class TrustStore:
    """Certificate fingerprints of known gateways, keyed by ``host[:port]``.

    The coroutine methods (:meth:`pinned`, :meth:`record`) do their file I/O in a thread, for
    sessions on an event loop; the plain methods block on the file, for scripts and the CLI.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._path = Path(path) if path is not None else default_trust_path()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TrustStore({str(self._path)!r})"

    @property
    def path(self) -> Path:
        """The store's file."""
        return self._path

    async def pinned(self, key: str) -> bytes | None:
        """The fingerprint recorded for ``key``, or None on first contact."""
        return await asyncio.to_thread(self.get, key)

    async def record(self, key: str, fingerprint: bytes) -> bytes:
        """Record ``fingerprint`` unless ``key`` is known; returns the one now trusted."""
        return await asyncio.to_thread(self.remember, key, fingerprint)

    def entries(self) -> dict[str, bytes]:
        """Every known gateway and its certificate fingerprint."""
        with self._lock:
            return {key: bytes.fromhex(value) for key, value in self._read().items()}

    def get(self, key: str) -> bytes | None:
        """The fingerprint recorded for ``key``, or None on first contact."""
        return self.entries().get(key)

    def remember(self, key: str, fingerprint: bytes) -> bytes:
        """Record ``fingerprint`` unless ``key`` is known; returns the one now trusted."""
        with self._lock:
            entries = self._read()
            known = entries.get(key)
            if known is not None:
                return bytes.fromhex(known)
            entries[key] = fingerprint.hex()
            self._write(entries)
        _LOGGER.info(
            "trusting the certificate of %s on first use (sha256 %s)", key, fingerprint.hex()
        )
        return fingerprint

    def accept(self, key: str, fingerprint: bytes) -> None:
        """Trust ``fingerprint`` for ``key`` from now on, replacing what was recorded."""
        with self._lock:
            entries = self._read()
            entries[key] = fingerprint.hex()
            self._write(entries)

    def forget(self, key: str) -> bool:
        """Drop ``key``; the next contact records its certificate afresh. True if it was known."""
        with self._lock:
            entries = self._read()
            if entries.pop(key, None) is None:
                return False
            self._write(entries)
            return True

    def _read(self) -> dict[str, str]:
        found = read_private(self._path)
        if found is None:
            return {}
        data, _ = found
        try:
            document: Any = json.loads(data)
        except (ValueError, RecursionError):
            _LOGGER.warning("%s is not a trust store (not JSON); ignoring it", self._path)
            return {}
        gateways = document.get("gateways") if isinstance(document, dict) else None
        if not isinstance(gateways, dict) or document.get("version") != _FORMAT_VERSION:
            _LOGGER.warning("%s is not a version %d trust store", self._path, _FORMAT_VERSION)
            return {}
        return {
            str(key): value
            for key, value in gateways.items()
            if isinstance(value, str) and _is_sha256_hex(value)
        }

    def _write(self, entries: dict[str, str]) -> None:
        document = {"version": _FORMAT_VERSION, "gateways": dict(sorted(entries.items()))}
        write_private(self._path, (json.dumps(document, indent=2) + "\n").encode())


def _is_sha256_hex(value: str) -> bool:
    try:
        return len(bytes.fromhex(value)) == 32
    except ValueError:
        return False
