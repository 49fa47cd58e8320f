"""The fenced code blocks of the README and the docs pages, as tests/test_docs.py runs them.

A block is run when its language is ``python`` or ``bash`` and the line before its fence is not
``<!-- not run: REASON -->``. Output shown to the reader goes in ``text`` blocks.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
RUN_LANGUAGES = ("python", "bash")
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_NOT_RUN = re.compile(r"^<!-- not run: (?P<reason>.+\S) -->$")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its code, why it is not run (if so)."""

    page: Path
    line: int
    language: str
    code: str
    not_run: str | None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPOSITORY)}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.language in RUN_LANGUAGES and self.not_run is None


def pages() -> list[Path]:
    """README.md and every Markdown page of docs/ (not the build's or the generated files)."""
    docs = REPOSITORY / "docs"
    found = [
        page
        for page in sorted(docs.rglob("*.md"))
        if not {"_build", "_generated"} & set(page.relative_to(docs).parts)
    ]
    return [REPOSITORY / "README.md", *found]


def blocks(page: Path) -> list[Block]:
    """The page's fenced blocks in order (blocks nested in a directive's fence included)."""
    lines = page.read_text().splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening or not opening["info"].strip() or opening["info"].strip().startswith("{"):
            index += 1
            continue
        fence = opening["fence"]
        language = opening["info"].split()[0]
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        previous = next((line for line in reversed(lines[:index]) if line.strip()), "")
        marker = _NOT_RUN.match(previous.strip())
        code = "\n".join(line[len(opening["indent"]) :] for line in lines[index + 1 : end])
        found.append(Block(page, index + 1, language, code, marker["reason"] if marker else None))
        index = end + 1
    return found


def shell_commands(code: str) -> list[list[str]]:
    """The ``fink-cutouts`` commands of a shell block, each as its words (continuations joined,
    commands split at ``&&``, ``||``, ``;`` and ``|``; comments and prompts dropped)."""
    joined = re.sub(r"\\\n\s*", " ", code)
    commands = []
    pending = ""  # a line whose quotes close on a later line (a JSON body over several lines)
    for line in joined.splitlines():
        line = pending + line.strip().removeprefix("$ ")
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError:  # no closing quotation yet
            pending = line + "\n"
            continue
        pending = ""
        command: list[str] = []
        redirected = False  # the words after > or < name files, not arguments
        for word in [*words, ";"]:
            if word in ("&&", "||", ";", "|", "&"):
                if command:
                    commands.append(command)
                command, redirected = [], False
            elif re.match(r"^[0-9]?[<>]", word):
                redirected = True
            elif not redirected:
                command.append(word)
    found = []
    for command in commands:
        while command and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", command[0]):
            command = command[1:]  # VARIABLE=value before the command
        if command and command[0] in ("exec", "nohup", "timeout"):
            command = command[2:] if command[0] == "timeout" else command[1:]
        if command and command[0] == "fink-cutouts":
            found.append(command[1:])
    return found
