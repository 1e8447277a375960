"""``enphase-local ingest``: the pollers' MQTT stream into PostgreSQL, each reading once.

``enphase-local ingest --mqtt URL --postgres DSN [--group G] [--name NAME]`` runs until Ctrl-C
or SIGTERM (see :mod:`enphase_local.fleet.ingest`). Several share the stream through the
MQTT 5 shared subscription of ``--group``. Output: a start line (never a password), one line
per problem on standard error (broker or database away, a malformed message), a summary at
the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

from enphase_local.cli import examples
from enphase_local.cli.poll import (
    _error,
    _mqtt_url,
    _postgres_dsn,
    configure_logging,
    stop_on_signals,
)
from enphase_local.config import ConfigError


def register(subparsers: Any) -> None:
    """Add the ``ingest`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "ingest",
        help="write many sites' pollers' MQTT stream into PostgreSQL",
        description=(
            "Subscribe to what `poll --mqtt` publishes, through an MQTT 5 shared subscription "
            "(run several: they share the stream and take over from one that stops), and "
            "write every reading to PostgreSQL once, acknowledging it only after it is "
            "committed. Runs until Ctrl-C or SIGTERM."
        ),
        epilog=examples(
            (
                "one ingest process",
                "enphase-local ingest --mqtt mqtt://broker.lan/enphase_local "
                "--postgres postgresql://enphase@db.lan/solar",
            ),
            (
                "a named one: its session outlives it, taken over by another while it is away",
                "enphase-local ingest --mqtt mqtt://broker.lan --postgres "
                "postgresql://enphase@db.lan/solar --name ingest-0",
            ),
        ),
    )
    parser.add_argument(
        "--mqtt",
        type=_mqtt_url,
        required=True,
        metavar="URL",
        help="the pollers' broker: mqtt[s]://[user[:password]@]host[:port][/prefix]",
    )
    parser.add_argument(
        "--postgres",
        type=_postgres_dsn,
        required=True,
        metavar="DSN",
        help="postgresql://[user[:password]@]host[:port]/database",
    )
    parser.add_argument(
        "--group",
        default="enphase_local",
        metavar="G",
        help="shared-subscription group: processes of one group share the stream "
        "(default enphase_local)",
    )
    parser.add_argument(
        "--name",
        metavar="NAME",
        help="keep an MQTT session of this name (one per process): nothing is lost when a "
        "process dies, another named one takes its session over until it is back",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="also report connections and progress"
    )
    parser.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    """Ingest until SIGINT or SIGTERM."""
    try:
        from enphase_local.fleet.ingest import (  # noqa: PLC0415 - optional extras
            CLOSE_TIMEOUT_S,
            Ingest,
            settings_for,
            status_line,
        )
    except ImportError:
        raise ConfigError(
            "ingest needs aiomqtt and asyncpg: pip install 'enphase-local[mqtt,postgres]'"
        ) from None
    configure_logging(verbose=args.verbose, debug=args.debug)
    try:
        ingest = Ingest(settings_for(args.mqtt), args.postgres, group=args.group, name=args.name)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    print(f"ingesting {ingest.describe()}", flush=True)
    async with stop_on_signals() as stop:
        task = asyncio.get_running_loop().create_task(ingest.run())
        stopped = asyncio.get_running_loop().create_task(stop.wait())
        await asyncio.wait((task, stopped), return_when=asyncio.FIRST_COMPLETED)
        ingest.stop()
        stopped.cancel()
        try:
            # What is held is written and acknowledged, unless the database stays away.
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await asyncio.shield(task)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return _error(f"stopped without writing what was held: {status_line(ingest.stats)}")
        except Exception as err:  # the run ends only on stop; anything else is a bug to show
            if args.debug:
                raise
            return _error(f"ingest failed: {type(err).__name__}: {err}")
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await stopped
    print(f"stopped: {status_line(ingest.stats)}", flush=True)
    return 0
