"""The library's exceptions: one base class and a small tree under it.

Every failure that crosses the public API is one of these, chained (``raise ... from err``)
to whatever caused it; aiohttp, cattrs and lxml exceptions never escape on their own.
Messages never contain a token, a password or a session cookie.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from enphase_local.control import ControlResult


class EnphaseError(Exception):
    """Base class of every error raised by enphase_local."""


class SessionClosedError(EnphaseError):
    """The gateway session was closed; it cannot make requests any more."""


class PrivateFileError(EnphaseError):
    """A file the library keeps for the user (the token cache, the trust store) cannot be read
    or written. The message names the file, never what it holds."""


class GatewayConnectionError(EnphaseError):
    """The gateway could not be reached, or the connection broke mid-request."""


class GatewayTimeoutError(GatewayConnectionError, TimeoutError):
    """The gateway did not answer in time (also catchable as the built-in ``TimeoutError``)."""


class CertificateMismatchError(GatewayConnectionError):
    """The gateway's TLS certificate does not match the pinned SHA-256 fingerprint."""


class AuthenticationError(EnphaseError):
    """The gateway or the cloud did not accept our credentials."""


class TokenRejectedError(AuthenticationError):
    """The gateway answered 401 to the token even after re-checking it."""


class EndpointForbiddenError(AuthenticationError):
    """The gateway accepts the token but refuses this endpoint: the token's role is too low.

    Not a :class:`TokenRejectedError`: a new token of the same role would not help, so this
    calls for another role (or for leaving the endpoint alone), not for re-authenticating.
    """


class TokenExpiredError(AuthenticationError):
    """The token's ``exp`` claim lies in the past."""


class InvalidTokenError(AuthenticationError):
    """The text given as a token is not a well-formed JWT (or lacks a needed claim)."""


class TokenSerialMismatchError(AuthenticationError):
    """The token was issued for another gateway (its ``aud`` is not this gateway's serial)."""


class CloudError(AuthenticationError):
    """The Enphase cloud (Enlighten login or Entrez tokens) failed to give us a token."""


class CloudLoginError(CloudError):
    """Enlighten refused the username or password."""


class MfaRequiredError(CloudLoginError):
    """The account has multi-factor authentication on; a token must be pasted instead."""


class CloudSerialError(CloudError):
    """The cloud account does not own a gateway with this serial."""


class CloudUnavailableError(CloudError):
    """The cloud could not be reached, or answered in a way we do not understand."""


class HttpStatusError(EnphaseError):
    """The gateway answered with an unexpected HTTP status."""

    def __init__(self, message: str, *, status: int, endpoint: str) -> None:
        super().__init__(message)
        #: The HTTP status code the gateway answered with.
        self.status = status
        #: The path that was requested, e.g. ``/ivp/meters``.
        self.endpoint = endpoint


class PayloadError(EnphaseError):
    """A body that is not valid JSON or XML, or whose shape does not fit the model."""

    def __init__(self, message: str, *, endpoint: str, path: str = "$") -> None:
        super().__init__(f"{endpoint}: {message} (at {path})")
        #: The path that was requested, e.g. ``/ivp/meters``.
        self.endpoint = endpoint
        #: A JSON path (``$[0].channels[1].voltage``) or XML path where the body went wrong.
        self.path = path


class ResponseTooLargeError(PayloadError):
    """The body exceeded the session's size cap and was cut off."""


class NotSupportedError(EnphaseError):
    """This gateway does not serve the endpoint (404 in one of its forms, or no meters)."""

    def __init__(self, message: str, *, endpoint: str) -> None:
        super().__init__(message)
        #: The path that was requested, e.g. ``/ivp/ensemble/device_list``.
        self.endpoint = endpoint


class ControlError(EnphaseError):
    """A control write (grid relay, dry contacts, generator, storage settings, AC Battery
    sleep) was refused or did not take effect."""


class ControlNotAllowedError(ControlError):
    """The session was made without ``allow_control=True``: nothing was sent."""


class ControlValidationError(ControlError, ValueError):
    """The write's input is not valid (a mode name, a percentage outside 0-100, a minimum
    above a maximum, an unknown dry contact or AC Battery): nothing was sent."""


class ControlRejectedError(ControlError, HttpStatusError):
    """The gateway answered the write with an error status (400, 500...); it was not sent
    again, since a gateway that crashed on a body must not be sent it twice."""


class ControlNotAppliedError(ControlError):
    """The gateway accepted the write, but reading back did not show the new state within
    the wait (ignored by the firmware, or overwritten at once)."""

    def __init__(self, message: str, *, result: ControlResult) -> None:
        super().__init__(message)
        #: What was asked, what was read back, and how long was waited
        #: (a :class:`~enphase_local.control.ControlResult`).
        self.result = result
