"""Known answers for the legacy gateways' derived passwords."""

from __future__ import annotations

import pytest

from enphase_local.auth.legacy import envoy_password, installer_password


@pytest.mark.parametrize(
    ("serial", "password"),
    [
        ("122125067699", "5Ccfa3B6"),
        ("202439990001", "959ahD5b"),
        ("121935144671", "d4bedfj2"),
        ("000000000000", "285A97bf"),
        ("111111111111", "Bc45A7ef"),
    ],
)
def test_installer_password_known_answers(serial: str, password: str) -> None:
    assert installer_password(serial) == password


def test_envoy_password_is_last_six_digits() -> None:
    assert envoy_password("121426016034") == "016034"
