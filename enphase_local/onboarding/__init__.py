"""From a gateway on the network to a poll configuration that works (``enphase-local init``).

The steps, each usable on its own:

1. :meth:`Prober.discover` finds gateways (``envoy.local``, ``envoy-2.local``..., mDNS),
   :func:`candidates` adds the hosts given, and :meth:`Prober.probe` reads each one: the
   certificate's fingerprint from a bare handshake, then ``/info`` pinned to it (serial,
   firmware, whether a token is needed).
2. A token from Enlighten, a paste or a file; :func:`check_token` makes sure it is for that
   serial and still valid, and :meth:`Prober.reading` proves the gateway accepts it.
3. :func:`config_text` and :func:`write_setup` write the configuration (pinned
   fingerprints, token sources, a SQLite sink) and its secret files, all mode 0600.
"""

from enphase_local.onboarding.finding import (
    Candidate,
    FoundGateway,
    Prober,
    candidates,
    probe_all,
)
from enphase_local.onboarding.tokens import check_token, read_token_file
from enphase_local.onboarding.writing import (
    DEFAULT_CONFIG,
    EnlightenLogin,
    GatewayEntry,
    config_text,
    password_file_for,
    refuse_existing,
    token_file_for,
    write_setup,
)

__all__ = [
    "DEFAULT_CONFIG",
    "Candidate",
    "EnlightenLogin",
    "FoundGateway",
    "GatewayEntry",
    "Prober",
    "candidates",
    "check_token",
    "config_text",
    "password_file_for",
    "probe_all",
    "read_token_file",
    "refuse_existing",
    "token_file_for",
    "write_setup",
]
