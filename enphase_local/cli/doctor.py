"""``enphase-local doctor``: check gateways step by step and say what is wrong and what to do.

One line per check (``ok``, ``note``, ``warn``, ``fail``, ``skip``), with what to do under any
that is not well; ``--json`` prints every check of every gateway as one JSON document
instead::

    {"ok": false, "gateways": [{"host": "envoy.local", "ok": false, "checks": [
        {"check": "token", "verdict": "fail", "summary": "...", "advice": "...",
         "latency_ms": null}, ...]}]}

With ``--config`` every gateway of the file is examined (``--host`` picks one). Without
``--fingerprint`` or ``--trust-store``, the certificate is compared with the default trust
store when it exists; doctor only reads it. Exit status 0 when nothing failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from typing import Any, Final

from enphase_local.build import TokenSources
from enphase_local.cli import EXIT_FAILED, examples
from enphase_local.cli.targets import add_target_options, gateways_from_args
from enphase_local.config import GatewayConfig
from enphase_local.diagnostics.doctor import Check, Patient, Verdict, diagnose
from enphase_local.session import DEFAULT_TIMEOUT_S
from enphase_local.trust import TrustStore, default_trust_path

#: Where the advice starts under a check's line.
_ADVICE_INDENT: Final = " " * 8


def register(subparsers: Any) -> None:
    """Add the ``doctor`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "doctor",
        help="check a gateway step by step and say what is wrong",
        description="Check the network, the certificate, /info, the token, the clocks, "
        "check_jwt, every endpoint and the live stream, and say what to do about anything "
        "wrong. Sends nothing but GETs.",
        epilog=examples(
            (
                "one gateway",
                "enphase-local doctor --host envoy.local --token-file envoy.token",
            ),
            ("every gateway of a configuration", "enphase-local doctor --config poll.toml"),
            (
                "as JSON, for a bug report",
                "enphase-local doctor --config poll.toml --json",
            ),
        ),
    )
    add_target_options(parser)
    parser.add_argument("--json", action="store_true", help="print every check as JSON")
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    """Examine each gateway; 0 when no check failed."""
    report: list[dict[str, Any]] = []
    tokens = TokenSources()
    try:
        for gateway in gateways_from_args(args):
            if not args.json:
                print(gateway.host, flush=True)
            checks = [c async for c in _examine(gateway, tokens, shown=not args.json)]
            report.append(_gateway_data(gateway.host, checks))
    finally:
        await tokens.close()
    healthy = all(g["ok"] for g in report)
    if args.json:
        print(json.dumps({"ok": healthy, "gateways": report}, indent=2))
    else:
        _conclude(report)
    return 0 if healthy else EXIT_FAILED


async def _examine(
    gateway: GatewayConfig, tokens: TokenSources, *, shown: bool
) -> AsyncIterator[Check]:
    patient = Patient(
        host=gateway.host,
        token=tokens.source(gateway.token),
        fingerprint=gateway.fingerprint,
        trust=_trust_store(gateway),
        allow_http=gateway.insecure_http,
        timeout_s=DEFAULT_TIMEOUT_S if gateway.timeout_s is None else gateway.timeout_s,
    )
    async for check in diagnose(patient):
        if shown:
            print(_line(check), flush=True)
        yield check


def _trust_store(gateway: GatewayConfig) -> TrustStore | None:
    """The store named, else the default one if it exists (pinning wins over both)."""
    if gateway.fingerprint is not None:
        return None
    if gateway.trust_store is not None:
        return TrustStore(gateway.trust_store)
    return TrustStore() if default_trust_path().is_file() else None


def _line(check: Check) -> str:
    latency = f" ({check.latency_s * 1000:.0f} ms)" if check.latency_s is not None else ""
    line = f"  {check.verdict.value:<5} {check.name:<12} {check.summary}{latency}"
    return line if check.advice is None else f"{line}\n{_ADVICE_INDENT}-> {check.advice}"


def _gateway_data(host: str, checks: list[Check]) -> dict[str, Any]:
    return {
        "host": host,
        "ok": all(c.verdict is not Verdict.FAIL for c in checks),
        "checks": [
            {
                "check": c.name,
                "verdict": c.verdict.value,
                "summary": c.summary,
                "advice": c.advice,
                "latency_ms": None if c.latency_s is None else round(c.latency_s * 1000, 1),
            }
            for c in checks
        ],
    }


def _conclude(report: list[dict[str, Any]]) -> None:
    failed = [
        f"{g['host']}: {c['check']}" for g in report for c in g["checks"] if c["verdict"] == "fail"
    ]
    if failed:
        print(f"{len(failed)} problem(s): {'; '.join(failed)}")
    else:
        print("no problem found")
