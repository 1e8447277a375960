"""The reply of the live-stream switch, which the session reads outside the endpoint table."""

from __future__ import annotations

from enphase_local.models import LiveConnection, LiveStreamState
from enphase_local.parsing.structuring import Structurer

#: The path of the live-stream switch (``POST {"enable": 1}``), named in errors.
LIVE_STREAM_PATH = "/ivp/livedata/stream"

_REPLY = Structurer(LiveConnection, LIVE_STREAM_PATH)


def parse_stream_status(body: bytes, *, strict: bool = False) -> LiveStreamState:
    """Parse the reply of ``POST /ivp/livedata/stream``, e.g. ``{"sc_stream": "enabled"}``."""
    return _REPLY.parse(body, strict).stream_state
