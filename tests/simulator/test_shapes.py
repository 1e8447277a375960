"""The shape comparison that keeps the simulator's bodies true to the captures."""

from __future__ import annotations

from .shapes import differences, shape_of


def test_the_comparison_catches_drift() -> None:
    real = [{"a": 1, "b": [{"type": "X", "c": 1.5}], "d": {}}, {"a": 2, "b": []}]
    reality = shape_of(real)
    assert differences({"a": 3, "b": [], "d": {"e": 1}}, reality, reality) == [
        "$.d.e: no capture has it"
    ]
    assert differences({"a": 1.0, "b": [{"type": "X", "c": 2}]}, reality, reality) == [
        "$.a: ['float'] where captures have ['int']",
        "$.b[X].c: ['int'] where captures have ['float']",
    ]
    assert differences({"b": []}, reality, reality) == ["$: lacks ['a']"]
    assert differences({"a": 0, "b": [{"type": "Y", "c": 1.0}]}, reality, reality) == [
        "$.b[Y]: no capture has it",
        "$.b[Y].type: no capture has it",
        "$.b[Y].c: no capture has it",
    ]
    ids = shape_of([{"123": {"devName": "pcu", "w": 1}, "count": 1}])
    assert differences({"456": {"devName": "pcu", "w": 2}, "count": 2}, ids, ids) == []
