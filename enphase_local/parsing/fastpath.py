"""Generated structuring functions: the fast path from decoded JSON to models.

The converter's rules (wire names, hooks, reshaping) are compiled here into one plain Python
function per model class and strictness, generated once on first use. That skips two costs
of the cattrs path: a hook call per field, and the frozen ``__init__``, which sets every
field through ``object.__setattr__`` (about 35 ns a field). Those two costs are most of the
time: structured by cattrs' own generated functions (a converter without detailed validation,
with the same hooks), the bodies of ``benchmarks/parse.py`` took 1.74-1.77x pyenphase's parse
time (geometric mean), against 0.90-0.91x here, measured side by side (issue 13 keeps this
module while cattrs' figure is above 1.5x).

Each function checks and converts every field inline and stores it on a blank instance of a
private *builder*: a subclass of the model that adds no slots and allows assignment, so each
store is a plain slot store (about 5 ns). The filled instance then becomes an instance of the
model itself by ``__class__`` assignment, which Python allows because the layouts are the
same. What the caller gets is an ordinary frozen model instance, equal to what ``__init__``
makes; the models have no validators, converters or ``__attrs_post_init__`` to skip
(generation refuses a class that has one).

A value the inline check does not recognise is handed to the converter's own hook, which
either converts it the slow way or raises; so a body the fast path accepts gives the model
the detailed converter gives, and one it refuses raises one of
:data:`~enphase_local.parsing.converter.STRUCTURE_FAILURES`, for the detailed converter to
locate. The optional fields of tolerant models read None on such a failure in lenient mode,
as the converter's tolerant hooks do. The generated source is registered with
:mod:`linecache`, so tracebacks and profilers show it; :func:`structure_fn_source` returns it
for reading.
"""

from __future__ import annotations

import linecache
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from functools import cache
from types import MemberDescriptorType
from typing import Any, get_args

import attrs
from cattrs.errors import ForbiddenExtraKeysError

from enphase_local.parsing.converter import (
    _FIELD_HOOKS,
    _PREPARE,
    _PRIMITIVE_HOOKS,
    STRUCTURE_FAILURES,
    TOLERANT,
    WIRE_NAMES,
    _enum_hook,
    _is_homogeneous_tuple,
    _is_optional,
    _kind,
    _milli,
    _optional_milli,
    _utc,
    enum_members,
    tolerate,
)

#: A generated function: decoded JSON in, structured value out.
StructureFn = Callable[[Any], Any]

_GENERATED: dict[tuple[Any, bool], StructureFn] = {}
_SOURCES: dict[tuple[Any, bool], str] = {}


def structure_fn(tp: Any, *, strict: bool) -> StructureFn:
    """The generated function structuring decoded JSON into ``tp`` (built on first use).

    :param tp: A model class, ``tuple[X, ...]``, ``X | None``, an enum or a JSON primitive.
    :param strict: Whether keys the model does not know are errors.
    """
    fn = _GENERATED.get((tp, strict))
    if fn is None:
        fn = _GENERATED[tp, strict] = _generate(tp, strict)
    return fn


def structure_fn_source(tp: Any, *, strict: bool) -> str:
    """The Python source generated for ``tp``, for reading and debugging."""
    structure_fn(tp, strict=strict)
    return _SOURCES[tp, strict]


class _Namespace:
    """The globals of one generated function, each under a readable unique name."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = {}

    def add(self, stem: str, value: object) -> str:
        name = f"_{stem}"
        suffix = 1
        while name in self.names and self.names[name] is not value:
            suffix += 1
            name = f"_{stem}_{suffix}"
        self.names[name] = value
        return name


def _generate(tp: Any, strict: bool) -> StructureFn:
    ns = _Namespace()
    if isinstance(tp, type) and attrs.has(tp):
        fn_name = f"structure_{tp.__name__}"
        lines = _class_lines(tp, strict, ns)
    else:
        fn_name = "structure_value"
        lines = ["v = o", *_value_lines(tp, None, strict, ns), "return v"]
    source = f"def {fn_name}(o):\n" + "".join(f"    {line}\n" for line in lines)
    mode = "strict" if strict else "lenient"
    filename = f"<enphase_local fast structure {_type_name(tp)} {mode}>"
    exec(compile(source, filename, "exec"), ns.names)  # noqa: S102 - our own generated code
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    _SOURCES[tp, strict] = source
    fn: StructureFn = ns.names[fn_name]
    return fn


def _type_name(tp: Any) -> str:
    return tp.__name__ if isinstance(tp, type) else repr(tp)


def _check_constructible(cls: type) -> None:
    """Refuse a class whose ``__init__`` does more than set its fields."""
    problems = [
        f"field {field.name} has a validator, converter or init=False"
        for field in attrs.fields(cls)
        if field.validator is not None or field.converter is not None or not field.init
    ]
    if hasattr(cls, "__attrs_post_init__") or hasattr(cls, "__attrs_pre_init__"):
        problems.append("it has __attrs_pre_init__ or __attrs_post_init__")
    if any("__new__" in vars(klass) for klass in cls.__mro__[:-1]):
        problems.append("it has its own __new__")
    if problems:
        raise TypeError(f"cannot generate a fast structure function for {cls}: {problems}")


def _builder(cls: type) -> type:
    """A twin of ``cls`` whose instances take plain slot assignment, which Python optimises.

    It adds no slots, so a filled instance can become a ``cls`` by ``__class__`` assignment;
    that is tried here, so a class whose layout does not allow it fails now, not on a body.
    """
    for field in attrs.fields(cls):
        if type(getattr(cls, field.name, None)) is not MemberDescriptorType:
            raise TypeError(f"{cls.__name__}.{field.name} is not a slot")
    builder = type(
        f"{cls.__name__}Builder",
        (cls,),
        {
            "__slots__": (),
            "__module__": __name__,
            # Calling the builder makes a blank instance (faster than ``object.__new__``).
            "__init__": object.__init__,
            # Both, or Python keeps the frozen class's slot for assignment and deletion.
            "__setattr__": object.__setattr__,
            "__delattr__": object.__delattr__,
        },
    )
    probe: object = builder()
    probe.__class__ = cls
    return builder


def _class_lines(cls: type, strict: bool, ns: _Namespace) -> list[str]:
    """Check for an object, reshape it, check its keys, fill a builder, make it a ``cls``."""
    _check_constructible(cls)
    attrs.resolve_types(cls)  # field.type is a string under ``from __future__ import annotations``
    wire = WIRE_NAMES.get(cls, {})
    hooks = _FIELD_HOOKS.get(cls, {})
    lines = [
        "if o.__class__ is not dict:",
        f"    raise TypeError('expected an object, got ' + {ns.add('kind', _kind)}(o))",
    ]
    prepare = _PREPARE.get(cls)
    if prepare is not None:
        lines.append(f"o = {ns.add('prepare', prepare)}(o)")
    fields = attrs.fields(cls)
    if strict:
        allowed = frozenset(wire.get(field.name, field.name) for field in fields)
        lines += [
            f"if not {ns.add('allowed', allowed)}.issuperset(o):",
            f"    raise {ns.add('forbidden', _forbidden)}(o, {ns.add('allowed', allowed)}, "
            f"{ns.add('cls', cls)})",
        ]
    lines.append(f"self = {ns.add('builder', _builder(cls))}()")
    tolerant = not strict and cls in TOLERANT
    for field in fields:
        key = wire.get(field.name, field.name)
        read = _field_read_lines(field, key, hooks.get(field.name), strict, ns)
        if tolerant and field.default is None:
            read = _tolerant_lines(read, cls, key, ns)
        lines += [*read, f"self.{field.name} = v"]
    lines += [f"self.__class__ = {ns.add('cls', cls)}", "return self"]
    return lines


def _tolerant_lines(read: list[str], cls: type, key: str, ns: _Namespace) -> list[str]:
    """``read`` leaving None in ``v`` when the value does not fit, as the converter's
    tolerant hook does (lenient mode)."""
    return [
        "try:",
        *(f"    {line}" for line in read),
        f"except {ns.add('failures', STRUCTURE_FAILURES)} as error:",
        f"    {ns.add('tolerate', tolerate)}({ns.add('cls', cls)}, {key!r}, error)",
        "    v = None",
    ]


def _forbidden(obj: dict[str, Any], allowed: frozenset[str], cls: type) -> Exception:
    extra = set(obj) - allowed
    return ForbiddenExtraKeysError(f"Extra fields in constructor for {cls}: {extra}", cls, extra)


def _field_read_lines(
    field: attrs.Attribute[Any], key: str, hook: Any, strict: bool, ns: _Namespace
) -> list[str]:
    """Lines leaving the field's structured value in ``v``."""
    value = _value_lines(field.type, hook, strict, ns)
    if field.default is attrs.NOTHING:
        return [f"v = o[{key!r}]", *value]
    leaves_none = hook is _optional_milli or (hook is None and _is_optional(field.type))
    if field.default is None and leaves_none:
        # Absent and null both give None, which the value lines leave alone.
        return [f"v = o.get({key!r})", *value]
    factory: Any = field.default
    if isinstance(factory, attrs.Factory):  # type: ignore[arg-type] # attrs' own alias
        if factory.takes_self:
            raise TypeError(f"field {field.name}: a default that takes self is not supported")
        default = f"{ns.add('factory', factory.factory)}()"
    else:
        default = ns.add("default", field.default)
    return [
        f"if {key!r} in o:",
        f"    v = o[{key!r}]",
        *(f"    {line}" for line in value),
        "else:",
        f"    v = {default}",
    ]


def _value_lines(tp: Any, hook: Any, strict: bool, ns: _Namespace) -> list[str]:
    """Lines that check and convert the local ``v`` in place, raising on a misfit.

    :param hook: The field's own hook (a unit conversion or odd encoding), if it has one.
    """
    if hook is None:
        return _type_lines(tp, strict, ns)
    if hook is _milli:
        return [*_float_lines(ns), "v /= 1000.0"]
    if hook is _optional_milli:
        return [
            "if v is not None:",
            *(f"    {line}" for line in _value_lines(tp, _milli, strict, ns)),
        ]
    return [f"v = {ns.add('hook', hook)}(v, None)"]


def _type_lines(tp: Any, strict: bool, ns: _Namespace) -> list[str]:  # noqa: PLR0911 - a kind each
    """:func:`_value_lines` for a field without a hook of its own, by its type."""
    if _is_optional(tp):
        inner = next(arg for arg in get_args(tp) if arg is not type(None))
        return ["if v is not None:", *(f"    {line}" for line in _type_lines(inner, strict, ns))]
    if _is_homogeneous_tuple(tp):
        item = ns.add("item", structure_fn(get_args(tp)[0], strict=strict))
        return [
            "if v.__class__ is not list:",
            f"    raise TypeError('expected an array, got ' + {ns.add('kind', _kind)}(v))",
            f"v = tuple([{item}(i) for i in v]) if v else ()",
        ]
    if isinstance(tp, type) and attrs.has(tp):
        return [f"v = {ns.add('structure', structure_fn(tp, strict=strict))}(v)"]
    if isinstance(tp, type) and issubclass(tp, Enum):
        return _enum_lines(tp, ns)
    if tp is float:
        return _float_lines(ns)
    if tp is datetime:
        slow = ns.add("datetime", _PRIMITIVE_HOOKS[datetime])
        return [
            "if v.__class__ is int or v.__class__ is float:",
            f"    v = {ns.add('utc', _utc)}(v)",
            "else:",
            f"    v = {slow}(v, None)",
        ]
    if tp in (str, int, bool):
        # The hook passes these types through unchanged and raises for any other.
        slow = ns.add(tp.__name__, _PRIMITIVE_HOOKS[tp])
        return [f"if v.__class__ is not {tp.__name__}:", f"    v = {slow}(v, None)"]
    raise TypeError(f"no fast structuring for {tp!r}")


def _float_lines(ns: _Namespace) -> list[str]:
    # Floats pass, -0.0 becoming 0.0 as in the hook; ints become floats; the hook takes the
    # rest (it refuses booleans and strings). No float here can be inf or nan: both JSON
    # decoders refuse NaN, Infinity and literals too large for a float (see json_body), so
    # the finiteness check of the converter's hook is not repeated on every field.
    return [
        "if v.__class__ is float:",
        "    if not v:",
        "        v = 0.0",
        "elif v.__class__ is int:",
        "    v += 0.0",
        "else:",
        f"    v = {ns.add('float', _PRIMITIVE_HOOKS[float])}(v, None)",
    ]


def _enum_lines(tp: type[Enum], ns: _Namespace) -> list[str]:
    lookup, unknown, hook = _enum_parts(tp)
    name = tp.__name__
    wire_type = "str" if issubclass(tp, str) else "int"
    return [
        f"if v.__class__ is {wire_type}:",
        f"    v = {ns.add(name + '_get', lookup)}(v, {ns.add(name + '_unknown', unknown)})",
        "else:",
        f"    v = {ns.add(name + '_hook', hook)}(v, None)",
    ]


@cache
def _enum_parts(tp: type[Enum]) -> tuple[Callable[[Any, Enum], Enum], Enum, Any]:
    """The member lookup, the UNKNOWN member, and the converter's hook (which refuses types)."""
    return enum_members(tp).get, tp["UNKNOWN"], _enum_hook(tp)
