"""The capture layout: one file per request, and beside it a log of its status and headers.

Shared by the recorder (:mod:`enphase_local.diagnostics.capture`) and the simulator's replay
mode, which serves such a folder. The layout is the one of ``fixtures/gateways/<set>/``: a
body file named after the URL path without its leading ``/``, with ``/``, ``?`` and ``=``
replaced by ``_`` (``/production.json?details=1`` -> ``production.json_details_1``), and
``<name>_log.json`` holding ``{"headers": {...}, "code": 200, "duration_seconds": 0.3}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Final

#: The suffix of the file that holds a reply's status and headers.
LOG_SUFFIX: Final = "_log.json"


def capture_file_name(path: str, query: str = "") -> str:
    """The body file's name for a request path and query string."""
    target = f"{path}?{query}" if query else path
    return target.lstrip("/").replace("/", "_").replace("?", "_").replace("=", "_")


def target_file_name(target: str) -> str:
    """The body file's name for a request target (a path, maybe with its query string)."""
    path, _, query = target.partition("?")
    return capture_file_name(path, query)


def log_record(status: int, headers: Iterable[tuple[str, str]], duration_s: float) -> bytes:
    """The ``<name>_log.json`` of one reply (a header sent twice keeps its last value)."""
    record = {"headers": dict(headers), "code": status, "duration_seconds": round(duration_s, 3)}
    return json.dumps(record).encode()
