"""The gateways ``capture`` and ``doctor`` are pointed at: ``--host`` with its token and TLS
options, or the gateways of a ``--config`` file (narrowed to one by ``--host``)."""

from __future__ import annotations

import argparse
from pathlib import Path

import attrs

from enphase_local.cli.get import add_gateway_options
from enphase_local.config import (
    ConfigError,
    GatewayConfig,
    StaticTokenSetting,
    TokenFileSetting,
    load_config,
)
from enphase_local.transport import normalize_fingerprint


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """``--host``, ``--config`` and the token, TLS and transport options."""
    parser.add_argument("--host", help="gateway name, address or URL")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="the gateways of a poll configuration (with --host: that one of them)",
    )
    add_gateway_options(parser)


def gateways_from_args(args: argparse.Namespace) -> tuple[GatewayConfig, ...]:
    """The gateways the command line names; a :class:`ConfigError` when it names none."""
    if args.config is not None:
        return _from_file(args)
    if args.host is None:
        raise ConfigError("name the gateway: --host HOST, or --config FILE")
    token: StaticTokenSetting | TokenFileSetting | None = None
    if args.token is not None:
        token = StaticTokenSetting(token=args.token)
    elif args.token_file is not None:
        token = TokenFileSetting(path=args.token_file)
    fingerprint = None
    if args.fingerprint:
        try:
            fingerprint = normalize_fingerprint(args.fingerprint).hex()
        except ValueError as err:
            raise ConfigError(f"--fingerprint: {err}") from err
    gateway = GatewayConfig(
        host=args.host,
        token=token,
        fingerprint=fingerprint,
        insecure_http=args.insecure_http,
        trust_store=args.trust_store,
        timeout_s=args.timeout,
    )
    return (gateway,)


def _from_file(args: argparse.Namespace) -> tuple[GatewayConfig, ...]:
    if args.token is not None or args.token_file is not None or args.fingerprint:
        raise ConfigError("with --config, tokens and fingerprints belong in the file")
    gateways = tuple(
        attrs.evolve(
            gateway,
            insecure_http=gateway.insecure_http or args.insecure_http,
            trust_store=args.trust_store,
            timeout_s=gateway.timeout_s if gateway.timeout_s is not None else args.timeout,
        )
        for gateway in load_config(args.config).gateways
        if args.host is None or gateway.host == args.host
    )
    if not gateways:
        raise ConfigError(f"{args.config}: no gateway with host {args.host!r}")
    return gateways
