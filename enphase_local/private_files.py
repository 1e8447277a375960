"""Files only their owner may read: written atomically, mode 0600, in a 0700 folder.

Token caches and trusted-certificate stores hold what an attacker on the same machine
would want; these helpers make sure such files are never readable by others, not even for
a moment, and are never left half-written. They block: async code calls them in a thread.
Any failure is a :class:`~enphase_local.errors.PrivateFileError` naming the file.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from enphase_local.errors import PrivateFileError

FILE_MODE = 0o600
DIR_MODE = 0o700


def read_private(path: Path) -> tuple[bytes, int] | None:
    """The file's bytes and permission bits, or None when there is no such file."""
    try:
        with path.open("rb") as file:
            mode = stat.S_IMODE(os.fstat(file.fileno()).st_mode)
            return file.read(), mode
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:  # ValueError: a NUL byte in the path
        raise PrivateFileError(f"cannot read {path}: {_reason(err)}") from err


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically; the file is 0600 whatever the umask."""
    try:
        _replace(path, data)
    except (OSError, ValueError) as err:
        raise PrivateFileError(f"cannot write {path}: {_reason(err)}") from err
    _fsync_directory(path.parent)


def _replace(path: Path, data: bytes) -> None:
    directory = path.parent
    directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    # mkstemp creates the file with O_EXCL and mode 0600 (less, never more, under a umask).
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as file:
            if hasattr(os, "fchmod"):  # POSIX; Windows has no permission bits to set
                os.fchmod(file.fileno(), FILE_MODE)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _reason(err: OSError | ValueError) -> str:
    return (err.strerror if isinstance(err, OSError) else None) or str(err)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (POSIX); a failure here only weakens crash safety."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
