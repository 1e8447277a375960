"""The hardened HTML parser for ``/production``, the only production data of firmware before 4.

The page holds one table: ``Currently 6.63 kW``, ``Today 53.6 kWh``, ``Past Week 405 kWh``,
``Since Installation 133 MWh`` (three significant figures, so the values are rounded). It is
read into the model of ``/production.json``, as the inverters' production. lxml's HTML
parser runs with the network off, comments and processing instructions dropped and
libxml2's size limits kept; HTML knows no external entities, and none are loaded.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final

from lxml import etree

from enphase_local.errors import NotSupportedError, PayloadError
from enphase_local.models import ProductionSummary, SourceType, SummarySource

#: The path of the page, named in errors.
PRODUCTION_PAGE_PATH: Final = "/production"

#: Row label -> (field of the model, unit the value is in).
_ROWS: Final = {
    "Currently": ("power_w", "W"),
    "Today": ("energy_today_wh", "Wh"),
    "Past Week": ("energy_seven_days_wh", "Wh"),
    "Since Installation": ("energy_lifetime_wh", "Wh"),
}
#: The first row of the table, which says since when the system is live (not read).
_LIVE_SINCE: Final = "System has been live since"
_QUANTITY: Final = re.compile(r"([0-9]+(?:\.[0-9]+)?) ?([kMG]?)(Wh|W)")
#: Powers of ten of the prefixes; decimal arithmetic keeps ``1.1 kWh`` at exactly 1100 Wh.
_PREFIXES: Final = {"": 0, "k": 3, "M": 6, "G": 9}
_NOT_FOUND: Final = re.compile(r"not\s*found", re.IGNORECASE)


def _parser() -> etree.HTMLParser:
    # A fresh parser per call: parser objects keep state and are not meant to be shared.
    return etree.HTMLParser(
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _error(message: str, path: str = "/") -> PayloadError:
    return PayloadError(message, endpoint=PRODUCTION_PAGE_PATH, path=path)


def _text(element: etree._Element) -> str:
    text: str = etree.tostring(element, method="text", encoding="unicode", with_tail=False)
    return " ".join(text.split())


def _quantity(label: str, text: str, unit: str) -> float:
    match = _QUANTITY.fullmatch(text)
    if match is None or match.group(3) != unit:
        raise _error(f"expected a quantity in {unit}, got {text[:40]!r}", f"//tr[td='{label}']")
    number, prefix, _ = match.groups()
    return float(Decimal(number).scaleb(_PREFIXES[prefix]))


def _table(root: etree._Element) -> etree._Element | None:
    """The table whose row reads ``Currently``, or None."""
    for row in root.iter("tr"):
        cells = row.findall("td")
        if cells and _text(cells[0]) == "Currently":
            return row.getparent()
    return None


def _values(table: etree._Element, *, strict: bool) -> dict[str, float]:
    values: dict[str, float] = {}
    for row in table.findall("tr"):
        cells = [_text(cell) for cell in row.findall("td")]
        if len(cells) == 2 and cells[0] in _ROWS:
            name, unit = _ROWS[cells[0]]
            values[name] = _quantity(cells[0], cells[1], unit)
        elif strict and not (cells and cells[0].startswith(_LIVE_SINCE)):
            raise _error("unexpected row", f"//tr[td='{cells[0] if cells else ''}']")
    return values


def parse_production_page(body: bytes, *, strict: bool = False) -> ProductionSummary:
    """Read the inverters' production from the HTML page.

    :param strict: Whether rows the parser does not know are errors.
    :raises NotSupportedError: the gateway answered its "Page Not Found" page.
    :raises PayloadError: not HTML, or no production table in it.
    """
    try:
        root = etree.fromstring(body, _parser())
    except (etree.XMLSyntaxError, ValueError) as err:
        raise _error("body is not an HTML page") from err
    if root is None:
        raise _error("body is not an HTML page")
    table = _table(root)
    if table is None:
        if _NOT_FOUND.search(_text(root)):
            raise NotSupportedError(
                f"{PRODUCTION_PAGE_PATH}: not served by this gateway (HTML 'not found' page)",
                endpoint=PRODUCTION_PAGE_PATH,
            )
        raise _error("no production table in the page")
    values = _values(table, strict=strict)
    for label, (name, _) in _ROWS.items():
        if name not in values:
            raise _error("missing row", f"//tr[td='{label}']")
    inverters = SummarySource(
        type=SourceType.INVERTERS,
        power_w=values["power_w"],
        energy_today_wh=values["energy_today_wh"],
        energy_seven_days_wh=values["energy_seven_days_wh"],
        energy_lifetime_wh=values["energy_lifetime_wh"],
    )
    return ProductionSummary(production=(inverters,))
