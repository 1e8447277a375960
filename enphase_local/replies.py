"""The checks on a gateway's replies: status, in-band errors, the session cookie.

Nothing here sends a request; the session hands each answered request to these functions.
"""

from __future__ import annotations

import json
import re
from typing import Final

import attrs
from multidict import CIMultiDictProxy

from enphase_local.errors import (
    HttpStatusError,
    NotSupportedError,
    PayloadError,
    TokenRejectedError,
)

#: The name of the cookie ``/auth/check_jwt`` hands out.
SESSION_COOKIE: Final = "sessionId"
_NOT_FOUND_HTML: Final = re.compile(rb"not\s*found|\b404\b", re.IGNORECASE)
#: How far into an HTML page to look for "not found": 3.9's page says it after 14 KB of style.
_NOT_FOUND_SCAN_BYTES: Final = 65536
_SOFT_ERROR_KEYS: Final = frozenset({"error", "err", "status", "info", "moreInfo"})
_BLANKS: Final = (b" ", b"\n", b"\r", b"\t")


@attrs.frozen(slots=True)
class Reply:
    """Status, headers and body of one answered request."""

    #: The HTTP status code.
    status: int
    #: The reply's headers.
    headers: CIMultiDictProxy[str]
    #: The whole body, as received (decompressed when the gateway compressed it).
    body: bytes


def checked_body(path: str, reply: Reply, *, xml: bool) -> bytes:
    """The body of a successful reply; the library's error for any other."""
    status = reply.status
    if status == 200:
        if not xml:
            raise_if_soft_error(path, reply.body)
        return reply.body
    if status == 404:
        raise NotSupportedError(f"{path}: not served by this gateway (404)", endpoint=path)
    if status == 401:
        raise TokenRejectedError(f"{path}: the gateway answered 401 (token not accepted)")
    if 300 <= status < 400:
        raise HttpStatusError(
            f"{path}: the gateway redirected ({status}) to {redirect_host(reply.headers)}; "
            "redirects are never followed",
            status=status,
            endpoint=path,
        )
    raise HttpStatusError(f"{path}: unexpected HTTP status {status}", status=status, endpoint=path)


def raise_if_soft_error(path: str, body: bytes) -> None:
    """Turn the gateway's in-band "not found" forms into NotSupportedError.

    Missing endpoints answer ``{"error": "404 - Not Found"}`` or ``{"err": ...}``; old
    firmware answers an HTML "Page Not Found" page with status 200.
    """
    head = body[:1] if body[:1] not in _BLANKS else body.lstrip()[:1]
    if head == b"<":
        if _NOT_FOUND_HTML.search(body[:_NOT_FOUND_SCAN_BYTES]):
            raise NotSupportedError(
                f"{path}: not served by this gateway (HTML 'not found' page)", endpoint=path
            )
        raise PayloadError("an HTML page came where JSON was expected", endpoint=path)
    if head == b"{" and len(body) < 512 and b'"err' in body:
        try:
            decoded = json.loads(body)
        except ValueError:
            return  # the parser reports the broken JSON with its position
        if (
            isinstance(decoded, dict)
            and decoded.keys() <= _SOFT_ERROR_KEYS
            and ("error" in decoded or "err" in decoded)
        ):
            message = decoded.get("error") or decoded.get("err")
            raise NotSupportedError(
                f"{path}: not served by this gateway ({message})", endpoint=path
            )


def session_cookie(headers: CIMultiDictProxy[str]) -> str | None:
    """The ``sessionId`` a reply sets, if any."""
    for value in headers.getall("Set-Cookie", ()):
        name, _, rest = value.partition("=")
        if name.strip() == SESSION_COOKIE:
            return rest.split(";", 1)[0].strip() or None
    return None


def redirect_host(headers: CIMultiDictProxy[str]) -> str:
    """Where a redirect points (the host only: a path could carry anything)."""
    location = headers.get("Location", "")
    match = re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#]*)", location)
    return match.group(1) if match else "another path"


def describe(err: BaseException) -> str:
    """A short, one-line description of an underlying error."""
    text = str(err) or err.__class__.__name__
    return text if len(text) <= 200 else text[:200] + "..."
