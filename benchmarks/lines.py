"""Lines of the library: non-blank lines of ``enphase_local/**/*.py``, now and at a revision.

The working tree is read from disk; ``--before REV`` also reads the package at a git revision
(``git archive``), and prints the two side by side with the change.

Run: ``python -m benchmarks.lines [--before REV] [--root DIR]``.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from benchmarks.harness import base_parser, print_table, write_json

PACKAGE = "enphase_local"


def non_blank(texts: Iterable[str]) -> int:
    """How many lines of these texts hold more than whitespace."""
    return sum(1 for text in texts for line in text.splitlines() if line.strip())


def working_tree(root: Path) -> list[str]:
    """The text of every ``.py`` file of the package under ``root``."""
    return [path.read_text(encoding="utf-8") for path in sorted((root / PACKAGE).rglob("*.py"))]


def at_revision(root: Path, revision: str) -> list[str]:
    """The text of every ``.py`` file of the package at a git revision of ``root``."""
    archive = subprocess.run(  # noqa: S603 - git with a revision the user named
        ["git", "archive", "--format=tar", revision, PACKAGE],  # noqa: S607 - git from PATH
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout
    texts: list[str] = []
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            file = tar.extractfile(member) if member.name.endswith(".py") else None
            if file is not None:  # None for folders and links
                texts.append(file.read().decode("utf-8"))
    return texts


def main(argv: Sequence[str] | None = None) -> int:
    """Count; print the table and summary; write JSON when asked."""
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "lines")
    parser.add_argument("--before", metavar="REV", help="also count at this git revision")
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(__file__).resolve().parents[1],
        help="the checkout (default: this one)",
    )
    args = parser.parse_args(argv)
    trees = {"working tree": working_tree(args.root)}
    if args.before:
        trees = {args.before: at_revision(args.root, args.before), **trees}
    counts = {name: non_blank(texts) for name, texts in trees.items()}
    print_table(
        ("tree", "files", "non-blank lines"),
        [(name, len(texts), counts[name]) for name, texts in trees.items()],
    )
    now = counts["working tree"]
    line = f"\nlines: {now} non-blank lines in {PACKAGE}/"
    if args.before:
        before = counts[args.before]
        line += f" ({now - before:+d} since {args.before}, {before} then)"
    print(line)
    rows = [
        {"tree": name, "files": len(texts), "lines": counts[name]} for name, texts in trees.items()
    ]
    write_json(args.json, {"benchmark": "lines", "package": PACKAGE, "trees": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
