"""Catch the library blocking the event loop, the way Home Assistant's ``block_async_io`` does.

:func:`blocking_calls` wraps the calls that block a thread on the disk or the clock (opening,
reading, stat-ing, fsyncing and renaming files; sleeping; loading certificates) and records
each one made on the event loop's thread while library code is on the stack. The same calls
from a worker thread (``asyncio.to_thread``) are what the library should do, and pass; so do
those of the simulator, the test itself, and asyncio's debug mode reading source lines.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import inspect
import io
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

import enphase_local

_LIBRARY = Path(enphase_local.__file__).parent
_SIMULATOR = _LIBRARY / "simulator"
#: Modules whose file reads serve diagnostics (tracebacks, debug-mode stacks), not the library.
_DIAGNOSTICS = frozenset({"linecache.py", "traceback.py", "tokenize.py"})

_BLOCKING: tuple[tuple[object, str], ...] = (
    (builtins, "open"),
    (io, "open"),  # pathlib opens through io.open
    (os, "open"),
    (os, "stat"),
    (os, "fsync"),
    (os, "replace"),
    (os, "rename"),
    (os, "listdir"),
    (os, "scandir"),
    (time, "sleep"),
    (ssl.SSLContext, "load_cert_chain"),
    (ssl.SSLContext, "load_verify_locations"),
    (ssl.SSLContext, "load_default_certs"),
    (ssl.SSLContext, "set_default_verify_paths"),
)


def _culprit(frame: FrameType | None) -> str | None:
    """The library's frames that led to this call (``file:line < file:line``, innermost first),
    or None when the call is not the library's."""
    lines: list[str] = []
    while frame is not None:
        file = Path(frame.f_code.co_filename)
        if file.name in _DIAGNOSTICS or (not lines and file.is_relative_to(_SIMULATOR)):
            return None
        if file.is_relative_to(_LIBRARY):
            lines.append(f"{file.relative_to(_LIBRARY.parent)}:{frame.f_lineno}")
        frame = frame.f_back
    return " < ".join(lines) or None


def _watched(
    name: str, call: Callable[..., Any], loop_thread: int, seen: list[str]
) -> Callable[..., Any]:
    @functools.wraps(call)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == loop_thread:
            frame = inspect.currentframe()
            culprit = _culprit(frame.f_back if frame is not None else None)
            if culprit is not None:
                seen.append(f"{name}() called on the event loop from {culprit}")
        return call(*args, **kwargs)

    return wrapper


@contextlib.contextmanager
def blocking_calls() -> Iterator[list[str]]:
    """Record the library's blocking calls on this thread (the running loop's) meanwhile."""
    seen: list[str] = []
    loop_thread = threading.get_ident()
    with pytest.MonkeyPatch.context() as patch:
        for owner, name in _BLOCKING:
            call = getattr(owner, name)
            label = f"{getattr(owner, '__name__', owner)}.{name}"
            patch.setattr(owner, name, _watched(label, call, loop_thread, seen))
        yield seen
