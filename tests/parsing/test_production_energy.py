"""/api/v1/production and /ivp/pdm/energy."""

from __future__ import annotations

import pytest

from enphase_local import endpoints as ep
from enphase_local.errors import PayloadError
from enphase_local.models import Energy, Production

from .samples import ENERGY, PRODUCTION, json_body, mutable

pytestmark = pytest.mark.usefixtures("json_backend")


def test_production_brief_sample() -> None:
    assert ep.PRODUCTION.parse(json_body(PRODUCTION), strict=True) == Production(
        power_w=227.0,
        energy_today_wh=21674.0,
        energy_seven_days_wh=719543.0,
        energy_lifetime_wh=1608587.0,
    )


def test_production_float_values() -> None:
    body = mutable(PRODUCTION)
    body["wattsNow"] = 227.5
    assert ep.PRODUCTION.parse(json_body(body)).power_w == 227.5


def test_production_extra_key_lenient_and_strict() -> None:
    body = mutable(PRODUCTION)
    body["wattsMax"] = 4000
    assert ep.PRODUCTION.parse(json_body(body)).power_w == 227.0
    with pytest.raises(PayloadError) as caught:
        ep.PRODUCTION.parse(json_body(body), strict=True)
    assert caught.value.path == "$.wattsMax"


@pytest.mark.parametrize("key", ["wattHoursToday", "wattHoursSevenDays", "wattHoursLifetime"])
def test_production_missing_counter(key: str) -> None:
    body = mutable(PRODUCTION)
    del body[key]
    with pytest.raises(PayloadError, match="missing") as caught:
        ep.PRODUCTION.parse(json_body(body))
    assert caught.value.path == f"$.{key}"


def test_production_boolean_is_not_a_number() -> None:
    body = mutable(PRODUCTION)
    body["wattsNow"] = False
    with pytest.raises(PayloadError, match="boolean") as caught:
        ep.PRODUCTION.parse(json_body(body))
    assert caught.value.path == "$.wattsNow"


def test_production_array_is_wrong_shape() -> None:
    with pytest.raises(PayloadError, match="expected an object") as caught:
        ep.PRODUCTION.parse(json_body([PRODUCTION]))
    assert caught.value.path == "$"


def test_energy_all_sources() -> None:
    energy = ep.ENERGY.parse(json_body(ENERGY), strict=True)
    assert energy.production_inverters == Production(
        power_w=596.0,
        energy_today_wh=13251.0,
        energy_seven_days_wh=91306.0,
        energy_lifetime_wh=8250671.0,
    )
    assert energy.production_revenue_meter is not None
    assert energy.production_revenue_meter.energy_lifetime_wh == 0.0
    assert energy.production_meter is not None
    assert energy.production_meter.power_w == 590.0
    assert energy.consumption_meter is not None
    assert energy.consumption_meter.energy_today_wh == 20000.0


def test_energy_without_meters() -> None:
    body = {"production": {"pcu": ENERGY["production"]["pcu"]}}
    energy = ep.ENERGY.parse(json_body(body), strict=True)
    assert energy.production_inverters is not None
    assert energy.production_meter is None
    assert energy.consumption_meter is None


def test_energy_empty_and_null_sections() -> None:
    assert ep.ENERGY.parse(b"{}", strict=True) == Energy()
    assert ep.ENERGY.parse(b'{"production": null, "consumption": {}}', strict=True) == Energy()


@pytest.mark.parametrize(
    ("change", "path"),
    [
        pytest.param({"production": []}, "$.production", id="section-not-object"),
        pytest.param({"consumption": {"eim": 5}}, "$.consumption.eim", id="source-not-object"),
        pytest.param(
            {"production": {"pcu": {**ENERGY["production"]["pcu"], "wattsNow": "596"}}},
            "$.production.pcu.wattsNow",
            id="wrong-type",
        ),
    ],
)
def test_energy_bad_shapes(change: dict[str, object], path: str) -> None:
    body = {**mutable(ENERGY), **change}
    with pytest.raises(PayloadError) as caught:
        ep.ENERGY.parse(json_body(body))
    assert caught.value.path == path
    assert caught.value.endpoint == "/ivp/pdm/energy"


@pytest.mark.parametrize(
    ("change", "path"),
    [
        pytest.param({"storage": {}}, "$.storage", id="new-section"),
        pytest.param({"production": {"acb": {}}}, "$.production.acb", id="new-source"),
    ],
)
def test_energy_extra_keys_strict(change: dict[str, object], path: str) -> None:
    body = {**mutable(ENERGY), **change}
    ep.ENERGY.parse(json_body(body))
    with pytest.raises(PayloadError, match="unexpected key") as caught:
        ep.ENERGY.parse(json_body(body), strict=True)
    assert caught.value.path == path
