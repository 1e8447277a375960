"""Parsing of gateway bodies into models.

The endpoint table (:mod:`enphase_local.endpoints`) builds each endpoint's parser from its
model and path with the structurers here; ``/info`` (XML), the ``/production`` page of old
firmware (HTML) and the live-stream switch's reply have parsers of their own. A parser takes
the body bytes (whatever the Content-Type said) and returns a model, or raises
:class:`~enphase_local.errors.PayloadError` naming the endpoint and the JSON (or XML) path of
the first problem; no json, cattrs or lxml exception escapes. With ``strict=True`` unknown keys
are errors too; the tests over real captures use it to notice new fields.
"""

from __future__ import annotations

from enphase_local.parsing.info_xml import INFO_PATH, parse_info
from enphase_local.parsing.live_stream import LIVE_STREAM_PATH, parse_stream_status
from enphase_local.parsing.production_page import PRODUCTION_PAGE_PATH, parse_production_page
from enphase_local.parsing.structuring import (
    GroupedStructurer,
    OneOrManyStructurer,
    SkippingStructurer,
    Structurer,
)

__all__ = [
    "INFO_PATH",
    "LIVE_STREAM_PATH",
    "PRODUCTION_PAGE_PATH",
    "GroupedStructurer",
    "OneOrManyStructurer",
    "SkippingStructurer",
    "Structurer",
    "parse_info",
    "parse_production_page",
    "parse_stream_status",
]
