"""Every real capture and every simulator body, broken every way we know: a model or a PayloadError.

Mutations (see :mod:`tests.reliability.mutations`): dropped keys and elements, values of every
JSON type, numbers past a double or an int64 (``1e400``, 400 and 5000 digits), NaN and Infinity
tokens, nesting 100 000 deep, repeated keys, UTF-16/UTF-32/Latin-1/EBCDIC and BOMs, truncation
at every kind of position, stray and flipped bytes, and other endpoints' bodies. Each body is
parsed strictly and leniently, with orjson and with the standard library's decoder.

The default budget keeps the run short; ``ENPHASE_FUZZ_EXAMPLES=500`` (the release run) gives
each body that many hypothesis examples and makes the fixed sweeps exhaustive (every byte
position, every replacement at every field).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enphase_local.parsing import parse_info
from tests.conftest import skip_without_captures
from tests.reliability.checks import check_body, check_labelled
from tests.reliability.corpus import (
    TARGETS,
    Sample,
    Target,
    all_samples,
    capture_samples,
    examples,
    long_run,
    sample_id,
    simulator_samples,
)
from tests.reliability.mutations import WHOLE_BODIES, fixed_variants, mutated

CAPTURES = capture_samples()
SIMULATED = simulator_samples()
#: Bodies of every endpoint, to feed to the wrong parser.
POOL = tuple(dict.fromkeys(sample.body for sample in all_samples()))

FUZZ = settings(
    max_examples=examples(),
    deadline=None,  # shared, noisy machines: the budget is the example count, not a clock
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

with_captures = skip_without_captures()


def _fuzz(sample: Sample, data: st.DataObject) -> None:
    body = data.draw(mutated(sample.body, sample.target.xml, POOL), label="body")
    check_body(sample.target, body)


def _sweep(sample: Sample) -> None:
    for label, body in fixed_variants(sample.body, xml=sample.target.xml, exhaustive=long_run()):
        check_labelled(sample.target, label, body)


@with_captures
@pytest.mark.parametrize("sample", CAPTURES, ids=sample_id)
@FUZZ
@given(data=st.data())
def test_mutated_captures(sample: Sample, data: st.DataObject) -> None:
    _fuzz(sample, data)


@pytest.mark.parametrize("sample", SIMULATED, ids=sample_id)
@FUZZ
@given(data=st.data())
def test_mutated_simulator_bodies(sample: Sample, data: st.DataObject) -> None:
    _fuzz(sample, data)


@with_captures
@pytest.mark.parametrize("sample", CAPTURES, ids=sample_id)
def test_every_kind_of_change_to_captures(sample: Sample) -> None:
    _sweep(sample)


@pytest.mark.parametrize("sample", SIMULATED, ids=sample_id)
def test_every_kind_of_change_to_simulator_bodies(sample: Sample) -> None:
    _sweep(sample)


@pytest.mark.parametrize("target", TARGETS.values(), ids=lambda target: target.name)
def test_whole_body_replacements_and_other_endpoints_bodies(target: Target) -> None:
    for index, body in enumerate(WHOLE_BODIES):
        check_labelled(target, f"whole/{index}", body)
    for index, body in enumerate(POOL):
        check_labelled(target, f"pool/{index}", body)


def test_the_unchanged_bodies_parse() -> None:
    # The starting points are sound: the 200 bodies of their own endpoint all give models
    # (so the mutations above start from valid input, and this suite can tell "broken" apart).
    for sample in all_samples():
        if sample.status == 200:
            result = sample.target.parse(sample.body)
            assert sample.target.returned_model(result), sample.source


@pytest.mark.parametrize("software", ["D" + "9" * 5000, "D8." + "9" * 5000], ids=["major", "minor"])
def test_a_parsed_info_answers_its_version_questions(software: str) -> None:
    body = f"<envoy_info><device><sn>1</sn><software>{software}</software></device></envoy_info>"
    info = parse_info(body.encode())
    assert isinstance(info.firmware_version, tuple)
    assert isinstance(info.is_legacy, bool)
