"""Recording a gateway for a bug report: every endpoint, gently, redacted, ready to replay.

:func:`capture` reads every endpoint of :data:`~enphase_local.endpoints.ENDPOINTS` through a
:class:`~enphase_local.session.GatewaySession`, one request at a time with a pause between
them and the slow endpoints last, and keeps for each the status, the headers that matter, the
body as received and the time taken. Everything is then redacted
(:mod:`~enphase_local.diagnostics.redaction`) and checked before anything touches the disk: a
capture in which something identifying remains raises
:class:`~enphase_local.diagnostics.redaction.CaptureLeakError` and nothing is written. The
output is one folder in the layout ``enphase-local simulate --replay`` serves
(:mod:`~enphase_local.diagnostics.layout`), or one zip of it. Only GETs are sent (the
live-stream switch too, when asked for).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import attrs
from multidict import CIMultiDictProxy

from enphase_local._version import __version__
from enphase_local.auth.token import Token
from enphase_local.diagnostics.layout import LOG_SUFFIX, log_record, target_file_name
from enphase_local.diagnostics.redaction import CaptureLeakError, Kind, Redactor
from enphase_local.endpoints import ENDPOINTS, Endpoint
from enphase_local.errors import (
    CertificateMismatchError,
    EndpointForbiddenError,
    GatewayConnectionError,
    GatewayTimeoutError,
    HttpStatusError,
    NotSupportedError,
    ResponseTooLargeError,
)
from enphase_local.session import GatewaySession
from enphase_local.trust import TrustStore

#: Seconds between two requests: the gateway is fragile.
DEFAULT_PAUSE_S: Final = 1.0
#: The headers kept: how the body came (type, length, encoding, connection) and what the
#: front end adds (server, date, caching and security headers, a challenge, a redirect).
RECORDED_HEADERS: Final = frozenset(
    {"content-type", "content-length", "content-encoding", "transfer-encoding", "connection",
     "server", "date", "cache-control", "pragma", "expires", "strict-transport-security",
     "x-frame-options", "x-content-type-options", "www-authenticate", "location"}
)  # fmt: skip
#: The capture's description, beside the replies (the fixtures' name for it).
README: Final = "_readme"
#: After this many requests in a row without an answer, the rest are not asked.
_GIVE_UP_AFTER: Final = 2


@attrs.frozen(kw_only=True)
class Recorded:
    """One request of a capture: the reply as received, or why there is none."""

    #: The request's path and query string, e.g. ``/ivp/meters``.
    target: str
    #: The HTTP status, or None when nothing usable came back.
    status: int | None = None
    #: The kept headers, in the order received.
    headers: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=False)
    #: The body as received (decompressed when the gateway compressed it).
    body: bytes = attrs.field(default=b"", repr=False)
    #: Seconds the request took (for the first one needing a token, its check too).
    duration_s: float = 0.0
    #: Why nothing was recorded (no identifier in it), else None.
    problem: str | None = None
    #: Whether the gateway answered (a refusal to the token's role too).
    answered: bool = True

    @property
    def file_name(self) -> str:
        """The body file's name in the capture folder."""
        return target_file_name(self.target)

    def describe(self) -> str:
        """One line for people: status, size and time, or the problem."""
        if self.status is None:
            return f"  ---  {self.target}: {self.problem}"
        return f"  {self.status}  {self.target}  {len(self.body)} bytes  {self.duration_s:.2f} s"


@attrs.frozen(kw_only=True)
class Recording:
    """What a gateway sent, before redaction (it holds secrets: keep it in memory only)."""

    #: The firmware, e.g. ``8.3.5169``.
    firmware: str
    #: The gateway's serial number.
    serial: str = attrs.field(repr=False)
    #: Every request, in the order sent.
    records: tuple[Recorded, ...]
    #: The tokens used.
    tokens: tuple[Token, ...] = attrs.field(repr=False)
    #: Notes for the description (the live-stream switch).
    notes: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class CaptureResult:
    """A capture as written."""

    #: The folder, or the zip file.
    path: Path
    #: The gateway's serial as the capture shows it (a pseudonym).
    serial: str
    #: The firmware, e.g. ``8.3.5169``.
    firmware: str
    #: Every request, redacted, in the order sent.
    records: tuple[Recorded, ...]
    #: How many distinct identifiers of each kind were replaced.
    redacted: Mapping[Kind, int]

    @property
    def complete(self) -> bool:
        """Whether the gateway answered every request (with whatever status)."""
        return all(r.answered for r in self.records)


class ReadOnlyTrust(TrustStore):
    """A trust store that pins what it holds and, for a gateway it does not hold yet, the
    certificate seen on first contact for this run only: a capture writes nothing but itself."""

    def remember(self, key: str, fingerprint: bytes) -> bytes:
        """The recorded fingerprint, else ``fingerprint``; the file is left as it is."""
        return self.get(key) or fingerprint


def with_legacy_rows(endpoints: Iterable[Endpoint[Any]]) -> list[Endpoint[Any]]:
    """Every row and the row older firmware is read through instead (``/production`` below
    firmware 4), each path once: a replay must serve whichever one ``get`` reads."""
    rows: dict[str, Endpoint[Any]] = {}
    for endpoint in endpoints:
        for row in (endpoint, endpoint.legacy):
            if row is not None:
                rows.setdefault(row.path, row)
    return list(rows.values())


def capture_order(endpoints: Iterable[Endpoint[Any]]) -> list[Endpoint[Any]]:
    """The endpoints in their table's order, the slow ones last (a struggling gateway has
    then given the rest first)."""
    return sorted(endpoints, key=lambda e: e.slow)


async def capture(
    session: GatewaySession,
    out: Path,
    *,
    as_zip: bool = False,
    pause_s: float = DEFAULT_PAUSE_S,
    enable_live_stream: bool = False,
    on_record: Callable[[Recorded], None] | None = None,
) -> CaptureResult:
    """Record every endpoint, redact, check, and write the folder (or ``<out>.zip``).

    Raises ``FileExistsError`` before sending anything when the output exists (a folder may
    exist if it is empty), :class:`CaptureLeakError` when something identifying survives
    redaction (then nothing is written), and the session's errors when ``/info`` cannot be
    read or the token is refused. An endpoint that fails otherwise is noted and skipped.
    """
    path = await asyncio.to_thread(output_path, out, as_zip=as_zip)
    recording = await record(
        session,
        pause_s=pause_s,
        enable_live_stream=enable_live_stream,
        on_record=on_record,
    )
    redactor, records = redact(recording)
    files = capture_files(records, redactor, recording)
    leaks = redactor.leaks(files)
    if leaks:
        raise CaptureLeakError(
            f"the capture was not written: {len(leaks)} thing(s) identifying the site survived "
            f"redaction, first {leaks[0]}; please report this bug (without the capture)"
        )
    writer = _write_zip if as_zip else _write_folder
    await asyncio.to_thread(writer, files, path)
    return CaptureResult(
        path=path,
        serial=redactor.redact_text(recording.serial),
        firmware=recording.firmware,
        records=records,
        redacted=redactor.counts(),
    )


def output_path(out: Path, *, as_zip: bool) -> Path:
    """Where the capture goes: ``out``, or ``out`` with ``.zip``; refused if it exists."""
    path = out if not as_zip or out.suffix == ".zip" else out.with_name(out.name + ".zip")
    in_use = path.exists() and (as_zip or not path.is_dir() or any(path.iterdir()))
    if in_use:
        raise FileExistsError(errno.EEXIST, "already exists: choose another --out", str(path))
    return path


# -- recording --------------------------------------------------------------------------------


async def record(
    session: GatewaySession,
    *,
    pause_s: float = DEFAULT_PAUSE_S,
    enable_live_stream: bool = False,
    on_record: Callable[[Recorded], None] | None = None,
) -> Recording:
    """Read ``/info``, then every endpoint (slow ones last), one at a time, ``pause_s`` apart."""
    info = await session.info()
    notes = [await _switch_stream_on(session)] if enable_live_stream else []
    records: list[Recorded] = []
    tokens: list[Token] = []
    silent = 0
    for endpoint in capture_order(with_legacy_rows(ENDPOINTS)):
        if silent >= _GIVE_UP_AFTER:
            recorded = Recorded(
                target=endpoint.path,
                problem="not asked: the gateway stopped answering",
                answered=False,
            )
        else:
            await asyncio.sleep(pause_s)
            recorded = await _record_one(session, endpoint.path)
            silent = 0 if recorded.answered else silent + 1
        token = session.token
        if token is not None and token not in tokens:
            tokens.append(token)
        records.append(recorded)
        if on_record is not None:
            on_record(recorded)
    return Recording(
        firmware=info.firmware,
        serial=info.serial_number,
        records=tuple(records),
        tokens=tuple(tokens),
        notes=tuple(notes),
    )


async def _switch_stream_on(session: GatewaySession) -> str:
    try:
        state = await session.enable_live_stream()
    except (NotSupportedError, HttpStatusError, EndpointForbiddenError) as err:
        return f"The live stream could not be switched on ({type(err).__name__})."
    return f"The live stream was switched on before reading (it answered {state.value})."


async def _record_one(session: GatewaySession, target: str) -> Recorded:
    started = time.monotonic()
    try:
        reply = await session.raw_get(target)
    except CertificateMismatchError:
        raise
    except (EndpointForbiddenError, GatewayConnectionError, ResponseTooLargeError) as err:
        return Recorded(
            target=target,
            duration_s=time.monotonic() - started,
            problem=_problem(err),
            answered=not isinstance(err, GatewayConnectionError),
        )
    return Recorded(
        target=target,
        status=reply.status,
        headers=_kept_headers(reply.headers),
        body=reply.body,
        duration_s=time.monotonic() - started,
    )


def _problem(err: Exception) -> str:
    """Why a request left nothing to record, in words that hold no address or serial."""
    if isinstance(err, EndpointForbiddenError):
        return "refused to this token's role (401 after a fresh token check): not recorded"
    if isinstance(err, GatewayTimeoutError):
        return "no answer in time"
    if isinstance(err, ResponseTooLargeError):
        return "the body was larger than the session allows"
    return "the connection failed"


def _kept_headers(headers: CIMultiDictProxy[str]) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in headers.items() if k.lower() in RECORDED_HEADERS)


# -- redacting and laying out ---------------------------------------------------------------------


def redact(recording: Recording) -> tuple[Redactor, tuple[Recorded, ...]]:
    """Learn the identifiers in every reply, then replace them in bodies and headers.

    ``Content-Length`` is made to match the body as written (a pseudonym may be longer than
    what it replaces).
    """
    redactor = Redactor()
    redactor.learn_serial(recording.serial)
    for token in recording.tokens:
        redactor.learn_token(token.secret())
        redactor.learn_serial(token.serial)
    for recorded in recording.records:
        redactor.learn_body(recorded.body)
    return redactor, tuple(_redacted(r, redactor) for r in recording.records)


def _redacted(recorded: Recorded, redactor: Redactor) -> Recorded:
    body = redactor.redact(recorded.body)
    headers = tuple(
        (name, str(len(body)) if name.lower() == "content-length" else redactor.redact_text(value))
        for name, value in recorded.headers
    )
    return attrs.evolve(recorded, headers=headers, body=body)


def capture_files(
    records: Iterable[Recorded], redactor: Redactor, recording: Recording
) -> dict[str, bytes]:
    """The files of the capture folder: each reply's body and log, and the description."""
    files: dict[str, bytes] = {}
    written = [r for r in records if r.status is not None]
    for recorded in written:
        assert recorded.status is not None
        files[recorded.file_name] = recorded.body
        files[recorded.file_name + LOG_SUFFIX] = log_record(
            recorded.status, recorded.headers, recorded.duration_s
        )
    files[README] = redactor.redact(_readme(records, redactor, recording).encode())
    return files


def _readme(records: Iterable[Recorded], redactor: Redactor, recording: Recording) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    counts = ", ".join(f"{n} {kind}(s)" for kind, n in redactor.counts().items()) or "nothing"
    lines = [
        f"Captured with enphase-local {__version__} on {when}: IQ Gateway firmware "
        f"{recording.firmware}.",
        "Serve it with: enphase-local simulate --replay <this folder>",
        "",
        f"Redacted, with the same pseudonym for a value in every file: {counts}.",
        "Bodies are as received (decompressed) apart from that; Content-Length matches them.",
        *recording.notes,
        "",
        *(r.describe() for r in records),
    ]
    return "\n".join(lines) + "\n"


# -- writing (in a thread: nothing blocks the loop) --------------------------------------------


def _write_folder(files: Mapping[str, bytes], folder: Path) -> None:
    """Write into a hidden folder beside ``folder``, then rename it: all or nothing."""
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        if folder.is_dir():
            folder.rmdir()  # empty, as output_path made sure
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_zip(files: Mapping[str, bytes], path: Path) -> None:
    """One zip holding the folder ``<name>/``, written beside ``path`` and then renamed."""
    top = path.name.removesuffix(".zip")
    fd, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file, zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in files.items():
                zf.writestr(f"{top}/{name}", data)
        os.replace(staging, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(staging)
        raise
