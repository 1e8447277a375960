"""Start-up wall time: ``import enphase_local``, ``enphase-local --help``, and pyenphase's import.

Each command runs ``--runs`` times in a fresh interpreter (bytecode already cached by a
first unmeasured run), in alternating order; the table shows the median
and the fastest wall time. ``python -c pass`` is the interpreter's own floor.

Run: ``python -m benchmarks.startup [--runs N]``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    NO_PYENPHASE,
    alternated,
    base_parser,
    have_pyenphase,
    median,
    print_table,
    ratio,
    write_json,
)

_SCRIPT = Path(sys.executable).with_name("enphase-local")
#: Label -> command line (the installed script when there is one, else ``python -m``).
COMMANDS: dict[str, list[str]] = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import enphase_local": [sys.executable, "-c", "import enphase_local"],
    "enphase-local --help": (
        [str(_SCRIPT), "--help"]
        if _SCRIPT.is_file()
        else [sys.executable, "-m", "enphase_local", "--help"]
    ),
}
if have_pyenphase():
    COMMANDS["import pyenphase"] = [sys.executable, "-c", "import pyenphase"]


def _wall_ms(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)  # noqa: S603 - fixed commands
    return (time.perf_counter() - started) * 1000


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the table and summary; write JSON when asked."""
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "startup")
    parser.add_argument("--runs", type=int, default=15, help="runs per command (default 15)")
    args = parser.parse_args(argv)
    samples: dict[str, list[float]] = {label: [] for label in COMMANDS}
    if args.runs > 1:  # a single run is a smoke test: nothing to warm up for
        for command in COMMANDS.values():
            _wall_ms(command)  # compile and cache bytecode
    for run in range(args.runs):
        for label in alternated(list(COMMANDS), run):
            samples[label].append(_wall_ms(COMMANDS[label]))
    results: dict[str, dict[str, Any]] = {
        label: {"median_ms": median(values), "min_ms": min(values), "samples_ms": values}
        for label, values in samples.items()
    }
    floor = results["python -c pass"]["median_ms"]
    reference = results.get("import pyenphase", {"median_ms": float("nan")})["median_ms"]
    print_table(
        ("command", "median ms", "min ms", "above python ms", "x import pyenphase"),
        [
            (
                label,
                r["median_ms"],
                r["min_ms"],
                r["median_ms"] - floor,
                ratio(r["median_ms"], reference),
            )
            for label, r in results.items()
        ],
    )
    if not have_pyenphase():
        print(f"\n{NO_PYENPHASE}")
    ours = results["import enphase_local"]["median_ms"]
    cli = results["enphase-local --help"]["median_ms"]
    print(
        f"\nstartup: import enphase_local {ours:.0f} ms ({ratio(ours, reference):.2f}x "
        f"pyenphase's {reference:.0f} ms), enphase-local --help {cli:.0f} ms, "
        f"interpreter alone {floor:.0f} ms (medians of {args.runs})"
    )
    write_json(args.json, {"benchmark": "startup", "runs": args.runs, "commands": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
