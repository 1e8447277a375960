"""``enphase-local simulate``: run simulated gateways and a fake cloud until interrupted.

Prints, per gateway, its URL, serial, certificate fingerprint and a valid owner token, then
the cloud's URL with the demo owner account, and the control API's URL; ``--json`` prints the
same as one JSON line::

    {"gateways": [{"url", "serial", "fingerprint", "token", "profile"}, ...],
     "cloud": {"url", "username", "password"}, "control": {"url"}}

``--write-config FILE`` writes (mode 0600, it holds tokens) a gateways file in TOML, one
``[[gateway]]`` table per gateway::

    [[gateway]]
    host = "https://127.0.0.1:54321"
    token = "eyJraWQiOi..."
    fingerprint = "3f2a..."

``host`` is the gateway's base URL, ``token`` an owner token, ``fingerprint`` the lowercase
hex SHA-256 of its certificate (empty for plain-HTTP legacy gateways). ``--replay DIR``
serves a capture set (a folder with an ``info`` file) or every set in a folder instead of
simulated gateways. Ctrl-C or SIGTERM shuts everything down cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from enphase_local.cli import examples
from enphase_local.simulator.profiles import PROFILES, TlsSetup

if TYPE_CHECKING:
    from enphase_local.simulator.harness import Simulation


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``simulate`` sub-command."""
    parser = subparsers.add_parser(
        "simulate",
        help="run simulated gateways and a fake Enphase cloud on loopback",
        description=(
            "Run simulated IQ Gateways (HTTPS, real token checks, moving data) and a fake "
            "Enphase cloud on 127.0.0.1 until interrupted; print their URLs, serials, "
            "certificate fingerprints and tokens."
        ),
        epilog=examples(
            ("one metered gateway and the fake cloud", "enphase-local simulate"),
            (
                "three battery sites, a configuration for poll and watch",
                "enphase-local simulate --gateways 3 --profile battery --write-config sim.toml",
            ),
            ("an hour of simulated time per real minute", "enphase-local simulate --speed 60"),
        ),
    )
    parser.add_argument(
        "--gateways", type=_positive, default=1, metavar="N", help="how many (default 1)"
    )
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="metered",
        help="kind of gateway (default metered)",
    )
    parser.add_argument(
        "--tls",
        choices=[setup.value for setup in TlsSetup],
        default=TlsSetup.MODERN.value,
        help="TLS setup of the HTTPS gateways: legacy is the weak handshake of an old "
        "embedded TLS stack (default modern)",
    )
    parser.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        metavar="X",
        help="simulated seconds per real second (default 1)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument(
        "--write-config", type=Path, metavar="FILE", help="write a gateways file (TOML)"
    )
    parser.add_argument(
        "--replay", type=Path, metavar="DIR", help="serve a capture set (or a folder of them)"
    )
    parser.set_defaults(run=run)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _speed(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also refuses NaN
        raise argparse.ArgumentTypeError("must be a number >= 0")
    return value


def describe(simulation: Simulation) -> dict[str, Any]:
    """What ``--json`` prints."""
    cloud = simulation.cloud
    return {
        "gateways": [
            {
                "url": g.url,
                "serial": g.serial,
                "fingerprint": g.fingerprint,
                "token": g.token,
                "profile": g.profile.name if g.profile is not None else "replay",
            }
            for g in simulation.gateways
        ],
        "cloud": None
        if cloud is None
        else {
            "url": cloud.url,
            "username": simulation.owner.username,
            "password": simulation.owner.password,
        },
        "control": {"url": simulation.control_url},
    }


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string of printable ASCII is a valid TOML basic string


def config_text(simulation: Simulation) -> str:
    """The ``--write-config`` file."""
    lines = ["# Simulated gateways, written by `enphase-local simulate`.", ""]
    for gateway in simulation.gateways:
        lines += [
            "[[gateway]]",
            f"host = {_toml_string(gateway.url)}",
            f"token = {_toml_string(gateway.token or '')}",
            f"fingerprint = {_toml_string(gateway.fingerprint or '')}",
            "",
        ]
    return "\n".join(lines)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    path.chmod(0o600)


def _print_human(info: dict[str, Any]) -> None:
    for index, gateway in enumerate(info["gateways"], start=1):
        print(f"gateway {index} ({gateway['profile']}): {gateway['url']}")
        print(f"  serial       {gateway['serial']}")
        print(f"  fingerprint  {gateway['fingerprint'] or '(plain HTTP)'}")
        print(f"  owner token  {gateway['token']}")
    cloud = info["cloud"]
    if cloud is not None:
        print(f"cloud: {cloud['url']}")
        print(f"  username     {cloud['username']}")
        print(f"  password     {cloud['password']}")
    print(f"control API: {info['control']['url']}")
    print("serving until interrupted (Ctrl-C)", flush=True)


async def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM."""
    # Loaded here, not at import: the other commands (and --help) do without the simulator.
    from enphase_local.simulator.harness import Simulation, replay_sets  # noqa: PLC0415 - see above

    replay = None
    if args.replay is not None:
        replay = replay_sets(args.replay) if args.replay.is_dir() else []
        if not replay:
            print(f"enphase-local: error: no capture set in {args.replay}", file=sys.stderr)
            return 2
    simulation = Simulation(
        args.gateways,
        profile=args.profile,
        speed=args.speed,
        tz=dt.datetime.now().astimezone().tzinfo or dt.UTC,
        replay=replay,
        tls=args.tls,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with simulation:
            info = describe(simulation)
            if args.write_config is not None:
                _write_private(args.write_config, config_text(simulation))
            if args.json:
                print(json.dumps(info), flush=True)
            else:
                _print_human(info)
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):
                loop.remove_signal_handler(sig)
    return 0
