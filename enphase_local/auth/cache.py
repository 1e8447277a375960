"""A token cache file: tokens keyed by gateway serial, private to the user, kept across restarts.

The file is JSON, ``{"version": 1, "tokens": {"<serial>": "<jwt>"}}``. Every write replaces it
atomically (a temporary file in the same folder, fsynced, then ``os.replace``), and the
temporary file is created with mode 0600 and set to exactly 0600 whatever the umask, so the
tokens are never readable by others, not even for a moment. The folder is created 0700.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from enphase_local.auth.token import Token
from enphase_local.errors import InvalidTokenError
from enphase_local.private_files import read_private, write_private

_LOGGER = logging.getLogger(__name__)

_FORMAT_VERSION = 1


def default_cache_path() -> Path:
    """``$XDG_CACHE_HOME/enphase-local/tokens.json``, with ``~/.cache`` as the XDG default."""
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return root / "enphase-local" / "tokens.json"


class TokenCache:
    """Tokens stored in one JSON file, keyed by gateway serial.

    Methods do blocking file I/O (small files); async code calls them through
    ``asyncio.to_thread``. Writers in this process are serialised; a write re-reads the file
    first, so entries another process added meanwhile are kept. A file that cannot be decoded
    counts as empty (with a warning) and is replaced on the next write; entries that are not
    valid tokens are skipped. A file that cannot be read or written at all raises
    :class:`~enphase_local.errors.PrivateFileError`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        """The cache file."""
        return self._path

    def __repr__(self) -> str:
        return f"TokenCache({str(self._path)!r})"

    def load(self) -> dict[str, Token]:
        """Every valid token in the file, by serial (empty when the file does not exist)."""
        tokens = {}
        for serial, text in self._read_entries().items():
            try:
                tokens[serial] = Token.parse(text)
            except InvalidTokenError as err:
                _LOGGER.warning("%s: skipping the entry for %s: %s", self._path, serial, err)
        return tokens

    def get(self, serial: str) -> Token | None:
        """The cached token for ``serial``, or None."""
        return self.load().get(serial)

    def put(self, serial: str, token: Token) -> None:
        """Store ``token`` under ``serial``, replacing the file atomically."""
        with self._lock:
            entries = self._read_entries()
            entries[serial] = token.secret()
            self._write(entries)

    def remove(self, serial: str, token: Token | None = None) -> bool:
        """Drop the entry for ``serial`` (only if it holds ``token``, when given).

        Returns whether an entry was removed.
        """
        with self._lock:
            entries = self._read_entries()
            text = entries.get(serial)
            if text is None or (token is not None and text.strip() != token.secret()):
                return False
            del entries[serial]
            self._write(entries)
            return True

    def _read_entries(self) -> dict[str, str]:
        found = read_private(self._path)
        if found is None:
            return {}
        data, mode = found
        if mode & 0o077:
            _LOGGER.warning(
                "%s is readable by other users; the next save makes it private", self._path
            )
        try:
            document: Any = json.loads(data)
        except (ValueError, RecursionError):
            _LOGGER.warning("%s is not a token cache (not JSON); ignoring it", self._path)
            return {}
        tokens = document.get("tokens") if isinstance(document, dict) else None
        if not isinstance(tokens, dict) or document.get("version") != _FORMAT_VERSION:
            _LOGGER.warning(
                "%s is not a version %d token cache; ignoring it", self._path, _FORMAT_VERSION
            )
            return {}
        return {str(serial): text for serial, text in tokens.items() if isinstance(text, str)}

    def _write(self, entries: dict[str, str]) -> None:
        document = {"version": _FORMAT_VERSION, "tokens": dict(sorted(entries.items()))}
        write_private(self._path, (json.dumps(document, indent=2) + "\n").encode())
