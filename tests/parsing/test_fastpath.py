"""The generated fast path builds the very models the detailed converter builds via __init__.

The detailed converter (cattrs, through each model's ``__init__``) is the reference: for real
captures, the samples, and random changes to the samples, both accept the same bodies and give
equal models, and the fast-built ones are ordinary frozen instances of the model classes.
"""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from attrs.exceptions import FrozenInstanceError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enphase_local import endpoints as ep
from enphase_local.errors import PayloadError
from enphase_local.models import (
    AcbConfig,
    BatterySummary,
    ConsumptionReport,
    DeviceData,
    DeviceInventory,
    DeviceList,
    DryContacts,
    DryContactSettings,
    Energy,
    EnsembleInventory,
    EnsemblePower,
    EnsembleStatus,
    ExportLimit,
    Generator,
    GeneratorConfig,
    GeneratorMode,
    GeneratorSchedule,
    GridReading,
    GridRelay,
    Home,
    Inverter,
    LiveConnection,
    LiveData,
    Meter,
    MeterReading,
    Production,
    ProductionSummary,
    PvLimit,
    PvReading,
    Tariff,
)
from enphase_local.parsing.converter import STRUCTURE_FAILURES, structure_detailed
from enphase_local.parsing.fastpath import structure_fn, structure_fn_source
from tests.conftest import capture_sets

from . import detail_samples as detail
from .samples import (
    CONSUMPTION_REPORT,
    DEVICE_LIST,
    ENERGY,
    GRID_READINGS,
    INVERTERS,
    LIVE_DATA,
    METER_READINGS,
    METERS,
    PRODUCTION,
    json_body,
    mutable,
)
from .test_fuzz import _paths, _replace, json_values

#: Capture file name -> the type its body is structured into.
CAPTURE_TYPES: dict[str, Any] = {
    "ivp_ensemble_device_list": DeviceList,
    "ivp_meters": tuple[Meter, ...],
    "ivp_meters_readings": tuple[MeterReading, ...],
    "api_v1_production": Production,
    "ivp_pdm_energy": Energy,
    "api_v1_production_inverters": tuple[Inverter, ...],
    "ivp_livedata_status": LiveData,
    "ivp_meters_reports": tuple[ConsumptionReport, ...],
    "ivp_meters_reports_consumption": tuple[ConsumptionReport, ...],
    "ivp_meters_gridReading": tuple[GridReading, ...],
    "ivp_ensemble_inventory": EnsembleInventory,
    "ivp_ensemble_power": EnsemblePower,
    "ivp_ensemble_secctrl": BatterySummary,
    "ivp_ensemble_status": EnsembleStatus,
    "ivp_ensemble_relay": GridRelay,
    "ivp_ensemble_dry_contacts": DryContacts,
    "ivp_ss_dry_contact_settings": DryContactSettings,
    "ivp_ensemble_generator": Generator,
    "ivp_ss_gen_config": GeneratorConfig,
    "ivp_ss_gen_schedule": GeneratorSchedule,
    "ivp_ss_gen_mode": GeneratorMode,
    "admin_lib_tariff": Tariff,
    "admin_lib_acb_config": AcbConfig,
    "ivp_sc_pvlimit": PvLimit,
    "ivp_ss_pel_settings": ExportLimit,
    "ivp_pdm_device_data": DeviceData,
    "production.json": ProductionSummary,
    "production.json_details_1": ProductionSummary,
    "inventory.json_deleted_1": DeviceInventory,
    "inventory": DeviceInventory,
    "home": Home,
    "ivp_meters_pvReading": tuple[PvReading, ...],
}
#: Models whose bodies come as a list of ``{type, devices}`` groups (GroupedStructurer).
GROUPED = (EnsembleInventory, DeviceInventory)


def _regrouped(data: Any) -> Any:
    """A list of groups as the GroupedStructurer hands it to the structuring function."""
    return {group["type"]: group["devices"] for group in data}


#: Sample name -> (type, sample body).
SAMPLES: dict[str, tuple[Any, Any]] = {
    "device_list": (DeviceList, DEVICE_LIST),
    "meters": (tuple[Meter, ...], METERS),
    "meter_readings": (tuple[MeterReading, ...], METER_READINGS),
    "production": (Production, PRODUCTION),
    "energy": (Energy, ENERGY),
    "inverters": (tuple[Inverter, ...], INVERTERS),
    "live_data": (LiveData, LIVE_DATA),
    "stream_status": (LiveConnection, {"sc_stream": "enabled"}),
    "consumption_reports": (tuple[ConsumptionReport, ...], [CONSUMPTION_REPORT]),
    "grid_readings": (tuple[GridReading, ...], GRID_READINGS),
    "inventory": (EnsembleInventory, _regrouped(detail.ENSEMBLE_INVENTORY)),
    "battery_power": (EnsemblePower, detail.ENSEMBLE_POWER),
    "battery_summary": (BatterySummary, detail.SECCTRL),
    "ensemble_status": (EnsembleStatus, detail.ENSEMBLE_STATUS),
    "grid_relay": (GridRelay, detail.RELAY),
    "dry_contacts": (DryContacts, detail.DRY_CONTACTS),
    "dry_contact_settings": (DryContactSettings, detail.DRY_CONTACT_SETTINGS),
    "generator": (Generator, detail.GENERATOR),
    "generator_config": (GeneratorConfig, detail.GENERATOR_CONFIG),
    "generator_schedule": (GeneratorSchedule, detail.GENERATOR_SCHEDULE),
    "generator_mode": (GeneratorMode, detail.GENERATOR_MODE),
    "tariff": (Tariff, detail.TARIFF),
    "acb_config": (AcbConfig, detail.ACB_CONFIG),
    "pv_limit": (PvLimit, detail.PV_LIMIT),
    "export_limit": (ExportLimit, detail.EXPORT_LIMIT),
    "device_data": (DeviceData, detail.DEVICE_DATA),
    "production_summary": (ProductionSummary, detail.PRODUCTION_SUMMARY),
    "device_inventory": (DeviceInventory, _regrouped(detail.DEVICE_INVENTORY)),
    "home": (Home, detail.HOME),
    "pv_readings": (tuple[PvReading, ...], detail.PV_READINGS),
}


def _capture_bodies() -> list[Any]:
    """Every capture body of a JSON endpoint that the detailed converter accepts leniently."""
    params = []
    for folder in capture_sets():
        for name, tp in CAPTURE_TYPES.items():
            path = folder / name
            if not path.is_file():
                continue
            try:
                data = json.loads(path.read_bytes())
                if tp in GROUPED:
                    data = _regrouped(data)
                structure_detailed(data, tp, strict=False)
            except (ValueError, *STRUCTURE_FAILURES):
                continue  # an error page or message recorded in place of the body
            params.append(pytest.param(path, tp, id=f"{folder.name}/{name}"))
    return params


def _models(value: object) -> Iterator[object]:
    """Every model instance in a structured value, nested ones included."""
    if isinstance(value, tuple):
        for item in value:
            yield from _models(item)
        return
    cls = type(value)
    if attrs.has(cls):
        yield value
        for field in attrs.fields(cls):
            yield from _models(getattr(value, field.name))


def _outcome(build: Any, data: object) -> object:
    """The structured value, or the string ``failed`` when the body does not fit."""
    try:
        result: object = build(data)
    except STRUCTURE_FAILURES:
        return "failed"
    return result


def _assert_same(fast: object, reference: object) -> None:
    assert fast == reference
    assert repr(fast) == repr(reference)
    assert [type(model) for model in _models(fast)] == [type(model) for model in _models(reference)]


@pytest.mark.parametrize(("path", "tp"), _capture_bodies())
@pytest.mark.parametrize("strict", [False, True])
def test_fast_models_equal_init_models_for_every_capture(path: Path, tp: Any, strict: bool) -> None:
    data = json.loads(path.read_bytes())
    if tp in GROUPED:
        data = _regrouped(data)
    reference = _outcome(lambda d: structure_detailed(d, tp, strict=strict), data)
    fast = _outcome(structure_fn(tp, strict=strict), data)
    _assert_same(fast, reference)


def test_every_capture_set_has_bodies_to_compare() -> None:
    if not capture_sets():
        pytest.skip("real captures not available")
    assert len(_capture_bodies()) >= len(capture_sets())


@pytest.mark.parametrize("name", sorted(SAMPLES))
@pytest.mark.parametrize("strict", [False, True])
def test_fast_models_equal_init_models_for_every_sample(name: str, strict: bool) -> None:
    tp, sample = SAMPLES[name]
    data = mutable(sample)
    reference = structure_detailed(data, tp, strict=strict)
    _assert_same(structure_fn(tp, strict=strict)(data), reference)


@pytest.mark.parametrize("name", sorted(SAMPLES))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_path_accepts_and_refuses_what_the_reference_does(
    name: str, data: st.DataObject
) -> None:
    tp, sample = SAMPLES[name]
    path = data.draw(st.sampled_from(_paths(sample)), label="path")
    value = data.draw(json_values, label="value")
    body = _replace(sample, path, value)
    for strict in (False, True):
        reference = _outcome(lambda d, s=strict: structure_detailed(d, tp, strict=s), body)
        _assert_same(_outcome(structure_fn(tp, strict=strict), body), reference)


def _all_sample_models() -> list[Any]:
    found: dict[type, object] = {}
    for tp, sample in SAMPLES.values():
        for model in _models(structure_fn(tp, strict=False)(mutable(sample))):
            found.setdefault(type(model), model)
    return [pytest.param(model, id=cls.__name__) for cls, model in found.items()]


@pytest.mark.parametrize("model", _all_sample_models())
def test_fast_built_models_are_ordinary_frozen_instances(model: Any) -> None:
    cls = type(model)
    fields = attrs.fields(cls)
    rebuilt = cls(**{field.name: getattr(model, field.name) for field in fields})
    assert model == rebuilt
    assert hash(model) == hash(rebuilt)
    assert repr(model) == repr(rebuilt)
    with pytest.raises(FrozenInstanceError):
        setattr(model, fields[0].name, getattr(model, fields[0].name))
    with pytest.raises(FrozenInstanceError):
        delattr(model, fields[0].name)
    assert attrs.evolve(model) == model
    assert copy.deepcopy(model) == model
    assert pickle.loads(pickle.dumps(model)) == model  # noqa: S301 - our own data


def test_every_model_class_of_the_samples_is_checked() -> None:
    names = {param.id for param in _all_sample_models()}
    assert {"MeterChannelReading", "LivePower", "ProvisionedDevice", "ReportValues"} <= names


def test_factory_defaults_are_fresh_per_instance() -> None:
    body = mutable(LIVE_DATA)
    del body["counters"]
    first = ep.LIVE_DATA.parse(json_body(body))
    second = ep.LIVE_DATA.parse(json_body(body))
    assert first.counters == {}
    assert first.counters is not second.counters


@pytest.mark.parametrize("strict", [False, True])
def test_an_array_is_not_an_object_even_when_every_field_has_a_default(strict: bool) -> None:
    with pytest.raises(PayloadError) as caught:
        ep.DEVICE_LIST.parse(b'{"devices": [], "usb": []}', strict=strict)
    assert caught.value.path == "$.usb"
    assert str(caught.value).startswith("/ivp/ensemble/device_list: expected an object")
    with pytest.raises(PayloadError) as caught:
        ep.GRID_READINGS.parse(b"[[]]", strict=strict)
    assert caught.value.path == "$[0]"


def test_bad_values_deep_in_a_fast_parsed_body_name_their_path() -> None:
    body = mutable(METER_READINGS)
    body[0]["channels"][1]["voltage"] = "230"
    with pytest.raises(PayloadError) as caught:
        ep.METER_READINGS.parse(json_body(body))
    assert caught.value.path == "$[0].channels[1].voltage"
    assert caught.value.endpoint == "/ivp/meters/readings"
    assert isinstance(caught.value.__cause__, STRUCTURE_FAILURES)


def test_generated_source_reads_wire_names_and_checks_strictly() -> None:
    lenient = structure_fn_source(Inverter, strict=False)
    assert "o['serialNumber']" in lenient
    assert "self.serial_number = v" in lenient
    assert "issuperset" not in lenient
    assert "issuperset" in structure_fn_source(Inverter, strict=True)


def test_generation_refuses_classes_whose_init_does_more() -> None:
    @attrs.frozen(kw_only=True)
    class Validated:
        value: int = attrs.field(validator=attrs.validators.ge(0))

    @attrs.frozen(kw_only=True)
    class PostInit:
        value: int

        def __attrs_post_init__(self) -> None:
            pass

    @attrs.frozen(kw_only=True, slots=False)
    class Unslotted:
        value: int

    for cls in (Validated, PostInit, Unslotted):
        with pytest.raises(TypeError, match=cls.__name__):
            structure_fn(cls, strict=False)
