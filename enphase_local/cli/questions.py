"""Questions on the terminal, each with a flag that answers it in scripts.

Without a terminal nothing waits for input: a question no flag answered ends the command with
a usage error naming that flag. Prompts are plain blocking reads outside any event loop, so
Ctrl-C at a prompt stops the command at once and the terminal's echo is restored.
"""

from __future__ import annotations

import getpass
import re
import sys
from collections.abc import Callable, Sequence

from enphase_local.cli import UsageError

#: The ``[Y/n]``, ``[1]`` or ``[all]`` at the end of a prompt.
_DEFAULT_HINT = re.compile(r"\s*\[[^\]]*\]$")
#: What reads a line: a prompt in, the answer out (raises EOFError at the end of input).
LineReader = Callable[[str], str]


class Questions:
    """Asks the user, or stops with the flag to give when there is no terminal.

    ``assume_yes`` (``--yes``) answers every yes-or-no question and every choice with its
    default without asking.
    """

    def __init__(
        self,
        *,
        interactive: bool,
        assume_yes: bool = False,
        read_line: LineReader = input,
        read_secret: LineReader = getpass.getpass,
    ) -> None:
        self.interactive = interactive
        self.assume_yes = assume_yes
        self._read_line = read_line
        self._read_secret = read_secret

    @classmethod
    def for_terminal(cls, *, assume_yes: bool) -> Questions:
        """Interactive when standard input is a terminal."""
        return cls(interactive=sys.stdin.isatty(), assume_yes=assume_yes)

    def confirm(self, question: str, *, default: bool = True) -> bool:
        """A yes-or-no question; an empty answer is ``default``."""
        if self.assume_yes:
            return True
        hint = "[Y/n]" if default else "[y/N]"
        while True:
            answer = self._ask(self._read_line, f"{question} {hint} ", "--yes").lower()
            if not answer:
                return default
            if answer in ("y", "yes"):
                return True
            if answer in ("n", "no"):
                return False
            print("Please answer y or n.")

    def choice(self, question: str, options: Sequence[str], *, flag: str) -> int:
        """The index of the option chosen; the first is the default."""
        for number, option in enumerate(options, start=1):
            print(f"  {number}) {option}")
        while True:
            answer = self._ask(self._read_line, f"{question} [1] ", flag)
            if not answer:
                return 0
            if answer.isdigit() and 1 <= int(answer) <= len(options):
                return int(answer) - 1
            print(f"Please answer a number from 1 to {len(options)}.")

    def selection(self, question: str, count: int, *, flag: str) -> list[int]:
        """Indexes out of ``count`` items, given as ``1,3`` or ``1 3``; all by default."""
        if self.assume_yes:
            return list(range(count))
        while True:
            answer = self._ask(self._read_line, f"{question} [all] ", flag)
            chosen = _numbers(answer, count)
            if chosen is not None:
                return chosen
            print(f"Please answer 'all' or numbers from 1 to {count}, like 1,3.")

    def text(self, question: str, *, flag: str) -> str:
        """A line of text that must not be empty."""
        while True:
            answer = self._ask(self._read_line, question, flag)
            if answer:
                return answer

    def secret(self, question: str, *, flag: str) -> str:
        """A line typed without echo that must not be empty."""
        while True:
            answer = self._ask(self._read_secret, question, flag)
            if answer:
                return answer

    def _ask(self, read: LineReader, prompt: str, flag: str) -> str:
        if not self.interactive:
            asked = _DEFAULT_HINT.sub("", prompt.strip())
            raise UsageError(f"no terminal to ask {asked!r}: give {flag}")
        try:
            return read(prompt).strip()
        except EOFError:
            raise UsageError(f"input ended before {prompt.strip()!r} was answered") from None


def _numbers(answer: str, count: int) -> list[int] | None:
    """``all`` or empty -> every index; ``1,3`` -> [0, 2]; None when not understood."""
    if answer.lower() in ("", "all", "a"):
        return list(range(count))
    parts = answer.replace(",", " ").split()
    if not all(part.isdigit() and 1 <= int(part) <= count for part in parts):
        return None
    return sorted({int(part) - 1 for part in parts})
