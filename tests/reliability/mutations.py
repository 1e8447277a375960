"""Ways to break a gateway body, for the fuzz tests.

JSON bodies are decoded, changed as a tree and written back by a small writer of our own that
also writes what no JSON library does: raw literals (``1e400``, a 400-digit integer, ``NaN``),
repeated keys, and nesting 100 000 levels deep. The ``/info`` XML is changed with lxml and
written back with raw snippets (entity references, CDATA, deep nesting, a DTD) spliced in.
Byte-level changes (truncation, other encodings, stray bytes, another endpoint's body) apply to
any body.

Every kind of change exists twice: inside the hypothesis strategy :func:`mutated` (random
combinations, shrinkable) and in :func:`fixed_variants`, which applies each kind to each body
at least once so that no kind is left to chance.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs
from hypothesis import strategies as st
from lxml import etree

from enphase_local.simulator import bodies

JsonPath = tuple[str | int, ...]


@attrs.frozen
class Raw:
    """JSON text written as is."""

    text: str


@attrs.frozen
class Pairs:
    """A JSON object written with exactly these members, repeated keys included."""

    items: tuple[tuple[str, Any], ...]


class _Dropped:
    """Marks a node removed from its parent (at the root: the whole body is gone)."""


DROPPED = _Dropped()

# ---------------------------------------------------------------------------------------
# What goes in instead.

_DIGITS_400 = "1" + "0" * 400
_DIGITS_5000 = "9" * 5000  # over Python's 4300-digit limit for int(str)
#: Numbers at and past the edges of a double, an int64, and Python's int parsing.
HUGE_NUMBERS = (
    "1e308", "-1e308", "1.7976931348623157e308", "1.8e308", "1e400", "-1e400", "1e-400",
    "4.9e-324", _DIGITS_400, "-" + _DIGITS_400, _DIGITS_400 + ".5", _DIGITS_5000,
    "9223372036854775807", "9223372036854775808", "-9223372036854775809",
    "18446744073709551616", "1E+2", "-0", "-0.0", "0e0", "1" + "0" * 20 + "e-20",
)  # fmt: skip
#: Number spellings JSON does not allow (NaN and infinities above all).
NON_FINITE = (
    "NaN", "-NaN", "Infinity", "-Infinity", "nan", "inf", "-inf", "+1", ".5", "5.", "01",
    "0x10", "1_000", "1e", "--1", "1e+", "Infinityx",
)  # fmt: skip
#: Values of every JSON type, for a field expecting another one.
WRONG_VALUES: tuple[Any, ...] = (
    "", " ", "x", "1", "12.5", "true", "null", "-0", "ünïcødé € 😀", "x" * 10_000,
    "404 - Not Found", 0, 1, -1, 2**31, -(2**63), 1.5, -0.0, 1e300, True, False, None,
    [], {}, [None], [1, 2], {"": None}, {"k": "v"}, [[[[]]]],
)  # fmt: skip
#: Strings JSON can carry but that are hostile once decoded (as raw JSON string literals).
RAW_STRINGS = (
    r'"\ud800"', r'"\udc00x"', r'"\u0000"', r'"a\u0000b"', r'"\"\\\/\b\f\n\r\t"', r'"\x41"',
    r'"\u00"', '"unterminated', '"tab\there"', '"new\nline"',
)  # fmt: skip
#: Depths of the nesting bombs: inside and well past every decoder's limit.
DEPTHS = (32, 1025, 100_000)


@functools.cache
def deep_json(depth: int, kind: int) -> str:
    """``depth`` levels of arrays or objects, closed or left open."""
    if kind == 0:
        return "[" * depth + "]" * depth
    if kind == 1:
        return '{"a":' * depth + "0" + "}" * depth
    return "[" * depth


#: Whole bodies a confused gateway (or proxy) may send instead.
WHOLE_BODIES = (
    b"", b" ", b"\r\n", b"\x00", b"\xef\xbb\xbf", b"\xff\xfe", b"null", b"0", b"-0", b'""',
    b"[]", b"{}", b"[{}]", b"[null]", b"true", b'"ok"', b"1e999", b"NaN",
    b"Live stream not enabled", bodies.NOT_FOUND_ERR, bodies.NOT_FOUND_ERROR,
    bodies.PAGE_NOT_FOUND_HTML, bodies.WEB_UI_HTML, bodies.CHECK_JWT_OK,
    bodies.unauthorized_page("/home"), bodies.openresty_page(504, "Gateway Time-out"),
    b'{"status":401,"error":"","info":"Authentication required","moreInfo":""}',
    b"Error: 401", b"<envoy_info/>", b"<?xml version='1.0'?>", b"<", b"[" * 100_000,
    b'{"a":' * 100_000, b"<a>" * 100_000, b"\x00" * 4096,
)  # fmt: skip
#: Encodings a body may arrive in instead of UTF-8.
ENCODINGS = ("utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252",
             "cp500")  # fmt: skip
#: Bytes that do not belong: NUL, invalid and overlong UTF-8, a UTF-8 surrogate, a BOM ...
STRAY_BYTES = (
    b"\x00", b"\xff", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xef\xbb\xbf",
    b"\\", b'"', b"\x1a", b"\r", b"]", b"}", b"<", b"&", b"\xc3",
)  # fmt: skip

# ---------------------------------------------------------------------------------------
# JSON: reading, writing and changing a tree.


def write_json(value: Any) -> str:
    """Write a tree that may hold :class:`Raw` and :class:`Pairs` nodes as JSON text."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Pairs):
        members: Sequence[tuple[str, Any]] = value.items
    elif isinstance(value, dict):
        members = list(value.items())
    elif isinstance(value, list):
        return "[" + ",".join(write_json(item) for item in value) + "]"
    else:
        return json.dumps(value, ensure_ascii=False)
    return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{write_json(v)}"
                          for k, v in members) + "}"  # fmt: skip


def json_paths(value: Any, prefix: JsonPath = ()) -> list[JsonPath]:
    """Every node's path (the root's is ``()``); Raw and Pairs nodes are leaves."""
    found = [prefix]
    if type(value) is dict:
        for key, child in value.items():
            found.extend(json_paths(child, (*prefix, key)))
    elif type(value) is list:
        for index, child in enumerate(value):
            found.extend(json_paths(child, (*prefix, index)))
    return found


@functools.lru_cache(maxsize=1024)
def decoded_json(body: bytes) -> Any:
    """The body's JSON tree, or DROPPED when it is not JSON (cached: trees are never changed)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return DROPPED


def node_at(tree: Any, path: JsonPath) -> Any:
    """The node at ``path``."""
    for step in path:
        tree = tree[step]
    return tree


def updated(tree: Any, path: JsonPath, change: Callable[[Any], Any]) -> Any:
    """A copy of ``tree`` with the node at ``path`` changed (shared where unchanged)."""
    if not path:
        return change(tree)
    head, rest = path[0], path[1:]
    new = updated(tree[head], rest, change)
    if type(tree) is dict:
        members = dict(tree)
        if new is DROPPED:
            del members[head]
        else:
            members[head] = new
        return members
    assert isinstance(head, int)
    items = list(tree)
    if new is DROPPED:
        del items[head]
    else:
        items[head] = new
    return items


def _with_duplicate(node: dict[str, Any], key: str, value: Any, *, first: bool) -> Pairs:
    """``node`` with ``key`` written twice: the other value first or last."""
    items = tuple(node.items())
    extra = ((key, value),)
    return Pairs(extra + items if first else items + extra)


def _list_variants(node: list[Any]) -> list[Any]:
    return [[], node + node, node[::-1], [*node, None], [*node, "x"], [node], node[:1] * 50]


def json_replacements(node: Any) -> list[Any]:
    """Everything a node may be replaced with, in a fixed order."""
    options: list[Any] = [DROPPED, *WRONG_VALUES]
    options += [Raw(text) for text in HUGE_NUMBERS + NON_FINITE + RAW_STRINGS]
    options += [Raw(deep_json(depth, kind)) for depth in DEPTHS for kind in range(3)]
    options.append(str(node) if not isinstance(node, str) else Raw("0"))
    if type(node) is dict and node:
        key = next(iter(node))
        options += [
            _with_duplicate(node, key, None, first=False),
            _with_duplicate(node, key, "x", first=True),
            {**node, "unexpectedKey": 1},
            {key.upper(): value for key, value in node.items()},
        ]
    if type(node) is list:
        options += _list_variants(node)
    return options


def _shape(path: JsonPath) -> tuple[str | int, ...]:
    """A path with its indices blurred, so one shape stands for every item of a list."""
    return tuple("*" if isinstance(step, int) else step for step in path)


def _json_tree_variants(tree: Any, *, seed: int, exhaustive: bool) -> Iterator[tuple[str, Any]]:
    """Each node shape is dropped and gets one replacement (every one when ``exhaustive``).

    The replacements rotate from shape to shape, starting at ``seed``, so across a body every
    kind is used and different bodies pair fields with different replacements.
    """
    seen: set[tuple[str | int, ...]] = set()
    rotation = itertools.count(seed)
    for path in json_paths(tree):
        shape = _shape(path)
        if shape in seen:
            continue
        seen.add(shape)
        options = json_replacements(node_at(tree, path))
        if not exhaustive:
            turn = next(rotation)
            # Always drop and retype; then one more in turn.
            options = [options[0], options[1 + turn % (len(options) - 1)]]
        for index, option in enumerate(options):
            yield f"{_describe_path(path)}#{index}", updated(tree, path, _becomes(option))


def _becomes(value: Any) -> Callable[[Any], Any]:
    return lambda _: value


def _describe_path(path: JsonPath) -> str:
    return "$" + "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)


def encode_tree(tree: Any) -> bytes:
    """The tree written as UTF-8 JSON (DROPPED at the root: the empty body)."""
    return b"" if tree is DROPPED else write_json(tree).encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------------------------------
# XML.

_SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)

#: Texts for an element (all legal XML characters).
XML_TEXTS = (
    "", " ", "\t\n", "x", "-1", "0", "1e400", _DIGITS_400, _DIGITS_5000, "99999999999999999999",
    "-99999999999999", "1.5", "true", "TRUE", "yes", "2", "NaN", "ünï € 😀", "x" * 10_000, "D",
    "D.", "Dx8", "8", "R3.9", "\u0661\u0662",
)  # fmt: skip
_LAUGHS = (
    '<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
)
#: Raw snippets spliced into an element's text: entities, markup, nesting bombs, a DTD.
XML_RAW = (
    "&x;", "&#0;", "&#x110000;", "&#xD800;", "&#65;", "&amp;", "&lt;sn&gt;", "&", "<", "]]>",
    "<![CDATA[12<>&]]>", "<!-- c -->", "<?pi x?>", "<sn>", "</sn>", "<a b='1' b='2'/>",
    "<x:y/>", "<xi:include xmlns:xi='http://www.w3.org/2001/XInclude' href='file:///etc/passwd'/>",
    _LAUGHS, "<!DOCTYPE x SYSTEM 'file:///etc/passwd'>", "\x00", "\x0b",
    "<d>" * 300 + "</d>" * 300, "<d>" * 100_000,
)  # fmt: skip
#: What may come before the root element.
XML_PROLOGS = (
    "", "<?xml version='1.0' encoding='UTF-8'?>\n", '<?xml version="1.0" encoding="ISO-8859-1"?>',
    '<?xml version="1.0" encoding="UTF-16"?>', '<?xml version="1.1"?>', '<?xml version="2.0"?>',
    "<?xml version='1.0' encoding='x-unknown'?>", '<?xml version="1.0" standalone="maybe"?>',
    "  \n\t", "\ufeff", "<!-- before -->", _LAUGHS, "<!DOCTYPE envoy_info SYSTEM 'file:///etc/passwd'>",
    "<?xml-stylesheet href='http://127.0.0.1:9/x.xsl'?>", "garbage",
)  # fmt: skip


@functools.lru_cache(maxsize=256)
def parsed_xml(body: bytes) -> etree._Element | None:
    """The body's XML tree (never handed out: callers deep-copy it), or None if not XML."""
    try:
        return etree.fromstring(body, _SAFE_XML)
    except (etree.XMLSyntaxError, ValueError):
        return None


class _XmlEdit:
    """An XML tree being changed, with raw snippets to splice in when it is written."""

    def __init__(self, root: etree._Element) -> None:
        self.root = copy.deepcopy(root)
        self._raw: dict[str, str] = {}

    def elements(self) -> list[etree._Element]:
        return [e for e in self.root.iter() if isinstance(e.tag, str)]

    def splice(self, element: etree._Element, raw: str) -> None:
        marker = f"RAWMARK{len(self._raw)}X"
        self._raw[marker] = raw
        element.text = (element.text or "") + marker

    def write(self, prolog: str) -> bytes:
        text = etree.tostring(self.root, encoding="unicode")
        for marker, raw in self._raw.items():
            text = text.replace(marker, raw)
        return (prolog + text).encode("utf-8", "surrogatepass")


def _xml_ops() -> dict[str, Callable[[_XmlEdit, etree._Element, Any], None]]:
    def remove(edit: _XmlEdit, element: etree._Element, _: Any) -> None:
        parent = element.getparent()
        if parent is None:
            element.clear()
        else:
            parent.remove(element)

    def duplicate(edit: _XmlEdit, element: etree._Element, _: Any) -> None:
        parent = element.getparent()
        if parent is not None:
            parent.insert(parent.index(element) + 1, copy.deepcopy(element))

    def set_text(edit: _XmlEdit, element: etree._Element, value: Any) -> None:
        element.text = XML_TEXTS[value % len(XML_TEXTS)]

    def splice(edit: _XmlEdit, element: etree._Element, value: Any) -> None:
        edit.splice(element, XML_RAW[value % len(XML_RAW)])

    def rename(edit: _XmlEdit, element: etree._Element, value: Any) -> None:
        tag = etree.QName(element).localname
        element.tag = ("unknown", tag.upper(), "{urn:x}" + tag, tag + "_x")[value % 4]

    def add_child(edit: _XmlEdit, element: etree._Element, _: Any) -> None:
        etree.SubElement(element, "unexpected").text = "1"

    def attribute(edit: _XmlEdit, element: etree._Element, value: Any) -> None:
        if "name" in element.attrib and value % 2:
            del element.attrib["name"]
        else:
            element.set("name", ("", " ", "app", "x" * 1000)[value % 4])

    def move_up(edit: _XmlEdit, element: etree._Element, _: Any) -> None:
        parent = element.getparent()
        grandparent = parent.getparent() if parent is not None else None
        if grandparent is not None:
            grandparent.append(element)

    return {fn.__name__: fn for fn in (remove, duplicate, set_text, splice, rename, add_child,
                                        attribute, move_up)}  # fmt: skip


XML_OPS = _xml_ops()


def _xml_tree_variants(
    root: etree._Element, *, seed: int, exhaustive: bool
) -> Iterator[tuple[str, bytes]]:
    """Each element gets each operation once (every text and snippet when ``exhaustive``).

    Each operation's values rotate from element to element, starting at ``seed``.
    """
    rotations = {name: itertools.count(seed) for name in XML_OPS}
    count = len([e for e in root.iter() if isinstance(e.tag, str)])
    for index in range(count):
        for name, op in XML_OPS.items():
            values = (
                range(max(len(XML_TEXTS), len(XML_RAW))) if exhaustive else (next(rotations[name]),)
            )
            for value in values:
                edit = _XmlEdit(root)
                op(edit, edit.elements()[index], value)
                yield f"element{index}/{name}/{value}", edit.write("")
    for prolog in XML_PROLOGS:
        yield f"prolog/{prolog[:12]!r}", _XmlEdit(root).write(prolog)


# ---------------------------------------------------------------------------------------
# Bytes.


def reencode(body: bytes, encoding: str) -> bytes:
    """The body's text in another encoding (characters it cannot hold become ``?``)."""
    return body.decode("utf-8", "replace").encode(encoding, "replace")


def _byte_class(byte: int) -> str:
    if byte >= 0xC0:
        return "lead"
    if byte >= 0x80:
        return "cont"
    char = chr(byte)
    for name, members in _CLASSES:
        if char in members:
            return name
    if char.isdigit():
        return "digit"
    if char.isalpha():
        return "letter"
    return "space" if char.isspace() else "other"


_CLASSES = (("open", "{["), ("close", "}]"), ("comma", ","), ("colon", ":"), ("quote", "\"'"),
            ("escape", "\\"), ("sign", "+-."), ("lt", "<"), ("gt", ">"), ("slash", "/"),
            ("amp", "&"), ("semi", ";"), ("eq", "="), ("bang", "!?"))  # fmt: skip


def truncation_points(body: bytes, *, exhaustive: bool) -> list[int]:
    """Where to cut the body: the first place of each kind (every place when ``exhaustive``).

    A kind is the pair of byte classes around the cut plus whether it falls inside a string
    (JSON) or a tag (XML), so cuts land inside strings, numbers, literals, escapes, keys,
    multi-byte characters, tags and entity references alike.
    """
    if exhaustive:
        return list(range(len(body)))
    points: dict[tuple[str, str, bool], int] = {}
    quoted = tagged = escaped = False
    previous = "start"
    for index, byte in enumerate(body):
        current = _byte_class(byte)
        points.setdefault((previous, current, quoted or tagged), index)
        if quoted:
            quoted = escaped or byte != ord('"')
            escaped = not escaped and byte == ord("\\")
        elif byte == ord('"'):
            quoted = True
        tagged = (tagged or byte == ord("<")) and byte != ord(">")
        previous = current
    return sorted(points.values())


def fixed_variants(body: bytes, *, xml: bool, exhaustive: bool) -> Iterator[tuple[str, bytes]]:
    """Every kind of change applied to ``body`` at least once, as ``(label, bytes)`` pairs.

    Whole-body replacements (:data:`WHOLE_BODIES`) do not depend on the body: the tests feed
    them to each parser once rather than once per body.
    """
    for encoding in ENCODINGS:
        yield f"encoding/{encoding}", reencode(body, encoding)
    for point in truncation_points(body, exhaustive=exhaustive):
        yield f"truncated/{point}", body[:point]
    middle = len(body) // 2
    for index, stray in enumerate(STRAY_BYTES):
        for where in (0, middle, len(body)):
            yield f"stray/{index}@{where}", body[:where] + stray + body[where:]
    seed = zlib.crc32(body)
    if xml:
        root = parsed_xml(body)
        if root is not None:
            yield from _xml_tree_variants(root, seed=seed, exhaustive=exhaustive)
        return
    tree = decoded_json(body)
    if tree is not DROPPED:
        for label, changed in _json_tree_variants(tree, seed=seed, exhaustive=exhaustive):
            yield f"tree/{label}", encode_tree(changed)


# ---------------------------------------------------------------------------------------
# The hypothesis strategy.


def _json_step(draw: st.DrawFn, tree: Any) -> Any:
    path = draw(st.sampled_from(json_paths(tree)), label="path")
    options = json_replacements(node_at(tree, path))
    option = draw(st.sampled_from(options), label="replacement")
    return updated(tree, path, _becomes(option))


def _json_tree(draw: st.DrawFn, body: bytes) -> bytes | None:
    tree = decoded_json(body)
    if tree is DROPPED:
        return None
    for _ in range(draw(st.integers(1, 3), label="steps")):
        tree = _json_step(draw, tree)
        if tree is DROPPED:
            break
    return encode_tree(tree)


def _xml_tree(draw: st.DrawFn, body: bytes) -> bytes | None:
    root = parsed_xml(body)
    if root is None:
        return None
    edit = _XmlEdit(root)
    for _ in range(draw(st.integers(1, 3), label="steps")):
        element = draw(st.sampled_from(edit.elements()), label="element")
        name = draw(st.sampled_from(sorted(XML_OPS)), label="operation")
        XML_OPS[name](edit, element, draw(st.integers(0, 1000), label="value"))
    return edit.write(draw(st.sampled_from(XML_PROLOGS), label="prolog"))


def _bytes_step(draw: st.DrawFn, body: bytes, pool: Sequence[bytes]) -> bytes:
    kind = draw(st.sampled_from(("truncate", "encode", "stray", "flip", "whole", "swap")))
    if kind == "truncate":
        return body[: draw(st.integers(0, max(len(body) - 1, 0)), label="cut")]
    if kind == "encode":
        return reencode(body, draw(st.sampled_from(ENCODINGS), label="encoding"))
    if kind == "whole":
        return draw(st.sampled_from(WHOLE_BODIES), label="whole")
    if kind == "swap":
        return draw(st.sampled_from(pool), label="other body") if pool else body
    where = draw(st.integers(0, len(body)), label="where")
    if kind == "stray":
        return body[:where] + draw(st.sampled_from(STRAY_BYTES), label="stray") + body[where:]
    flipped = bytes([draw(st.integers(0, 255), label="byte")])
    return body[:where] + flipped + body[where + 1 :]


@st.composite
def mutated(draw: st.DrawFn, body: bytes, xml: bool, pool: Sequence[bytes] = ()) -> bytes:
    """``body`` changed: in its structure, in its bytes, or both; ``pool`` offers other bodies."""
    changed: bytes | None = None
    if draw(st.booleans(), label="change the structure"):
        changed = _xml_tree(draw, body) if xml else _json_tree(draw, body)
    if changed is None or draw(st.booleans(), label="also change the bytes"):
        changed = _bytes_step(draw, body if changed is None else changed, pool)
    return changed
