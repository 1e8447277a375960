"""/ivp/ensemble/device_list."""

from __future__ import annotations

import pytest

from enphase_local import endpoints as ep
from enphase_local.errors import PayloadError
from enphase_local.models import DeviceType, ProvisionedDevice, UsbStatus

from .samples import DEVICE_LIST, json_body, mutable

pytestmark = pytest.mark.usefixtures("json_backend")


def test_brief_sample() -> None:
    device_list = ep.DEVICE_LIST.parse(json_body(DEVICE_LIST), strict=True)
    assert device_list.usb == UsbStatus(ck2_bridge="connected", auto_scan=False)
    assert device_list.devices == (
        ProvisionedDevice(
            serial_number="492203008650",
            device_type=DeviceType.STORAGE,
            device_type_raw=13,
            com_interface=2,
            com_interface_str="CAN",
            status="Connected",
            capacity_wh=4960.0,
            der_index=1,
        ),
        ProvisionedDevice(
            serial_number="122132000709",
            device_type=DeviceType.UNKNOWN,
            device_type_raw=0,
            com_interface=2,
            status="Unknown",
        ),
    )


def test_unknown_device_type_keeps_the_number() -> None:
    body = mutable(DEVICE_LIST)
    body["devices"][0]["device_type"] = 99
    device = ep.DEVICE_LIST.parse(json_body(body)).devices[0]
    assert device.device_type is DeviceType.UNKNOWN
    assert device.device_type_raw == 99


def test_microinverter() -> None:
    body = mutable(DEVICE_LIST)
    body["devices"][1]["device_type"] = 14
    assert ep.DEVICE_LIST.parse(json_body(body)).devices[1].device_type is DeviceType.MICROINVERTER


@pytest.mark.parametrize(("text", "value"), [("true", True), (True, True), (False, False)])
def test_auto_scan_text_or_boolean(text: object, value: bool) -> None:
    body = mutable(DEVICE_LIST)
    body["usb"]["auto_scan"] = text
    usb = ep.DEVICE_LIST.parse(json_body(body)).usb
    assert usb is not None
    assert usb.auto_scan is value


def test_empty_list_and_no_usb() -> None:
    device_list = ep.DEVICE_LIST.parse(b'{"devices": []}', strict=True)
    assert device_list.usb is None
    assert device_list.devices == ()


@pytest.mark.parametrize(
    ("change", "path"),
    [
        pytest.param({"dev_info": 5}, "$.devices[0].dev_info", id="dev-info-not-object"),
        pytest.param(
            {"dev_info": {"capacity": "4960"}},
            "$.devices[0].dev_info.capacity",
            id="capacity-string",
        ),
        pytest.param({"device_type": "13"}, "$.devices[0].device_type", id="type-string"),
        pytest.param({"device_type": 13.0}, "$.devices[0].device_type", id="type-float"),
    ],
)
def test_wrong_types(change: dict[str, object], path: str) -> None:
    body = mutable(DEVICE_LIST)
    body["devices"][0].update(change)
    with pytest.raises(PayloadError) as caught:
        ep.DEVICE_LIST.parse(json_body(body))
    assert caught.value.path == path


def test_auto_scan_other_text_is_an_error() -> None:
    body = mutable(DEVICE_LIST)
    body["usb"]["auto_scan"] = "maybe"
    with pytest.raises(PayloadError) as caught:
        ep.DEVICE_LIST.parse(json_body(body))
    assert caught.value.path == "$.usb.auto_scan"


def test_extra_keys_in_dev_info_strict() -> None:
    body = mutable(DEVICE_LIST)
    body["devices"][0]["dev_info"]["soh"] = 100
    ep.DEVICE_LIST.parse(json_body(body))
    with pytest.raises(PayloadError, match="unexpected key") as caught:
        ep.DEVICE_LIST.parse(json_body(body), strict=True)
    assert caught.value.path == "$.devices[0].dev_info.soh"


def test_soft_404_is_an_error() -> None:
    # The session turns this into NotSupportedError before parsing; the parser still refuses.
    with pytest.raises(PayloadError, match="missing") as caught:
        ep.DEVICE_LIST.parse(b'{"err": "404 - Not Found"}')
    assert caught.value.path == "$.devices"
