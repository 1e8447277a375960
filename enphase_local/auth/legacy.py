"""Credentials of legacy gateways (firmware below 7), which use HTTP digest auth.

The ``envoy`` user's password is the last six digits of the serial; the ``installer``
user's password is derived from the serial by a public algorithm, written here from
its description in GATEWAY-FACTS.md.
"""

from __future__ import annotations

import hashlib

#: The realm legacy gateways announce in their digest challenge.
DIGEST_REALM = "enphaseenergy.com"


def envoy_password(serial: str) -> str:
    """Password of the ``envoy`` user: the last six characters of the serial."""
    return serial[-6:]


def installer_password(serial: str) -> str:
    """Password of the ``installer`` user, derived from the gateway serial."""
    digest = hashlib.md5(  # noqa: S324 - the device's algorithm, not a security choice
        f"[e]installer@enphaseenergy.com#{serial} EnPhAsE eNeRgY ".encode()
    ).hexdigest()
    zeros = digest.count("0")
    ones = digest.count("1")
    out = []
    for char in reversed(digest[-8:]):
        if zeros in (3, 6, 9):
            zeros -= 1
        if ones in (9, 15):
            ones -= 1
        zeros = min(max(zeros, 0), 20)
        ones = min(max(ones, 0), 26)
        if char == "0":
            out.append(chr(ord("f") + zeros))
            zeros -= 1
        elif char == "1":
            out.append(chr(ord("@") + ones))
            ones -= 1
        else:
            out.append(char)
    return "".join(out)
