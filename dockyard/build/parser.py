"""Dockerfile text → nodes, with BuildKit's own parser (the ``dockerfile`` package).

The package wraps BuildKit's Go parser: line continuations, comments, the
``# escape`` directive, JSON forms and heredoc bodies come from it. What it
leaves out is added here: the directives themselves (for our word expansion),
each heredoc's ``<<-`` (strip tabs) and quoted-name (no expansion) markers,
and the line of an error, which the Go parser does not report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import dockerfile

from dockyard.errors import InvalidArgument

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC_MARK = re.compile(r"(\d*)<<(-?)\s*(['\"]?)([^\s'\"<>|&;]+)\3")
_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)


@dataclass(frozen=True)
class Heredoc:
    name: str
    content: str  # with leading tabs already stripped for ``<<-``
    expand: bool  # an unquoted name: variables in the body are expanded
    fd: int


@dataclass(frozen=True)
class Node:
    """One instruction as written, before typing."""

    instruction: str  # upper case
    args: tuple[str, ...]
    flags: tuple[str, ...]
    json: bool  # exec (JSON array) form
    original: str
    line: int
    end_line: int
    heredocs: tuple[Heredoc, ...] = ()
    sub_instruction: str = ""  # ONBUILD's trigger instruction


@dataclass(frozen=True)
class Dockerfile:
    nodes: tuple[Node, ...]
    escape: str
    syntax: str


class DockerfileError(InvalidArgument):
    """A parse error: names the file (when there is one), the line and the problem."""

    def __init__(self, problem: str, line: int, filename: str = "") -> None:
        where = f" in {filename}" if filename else ""
        super().__init__(f"dockerfile parse error{where} on line {line}: {problem}")
        self.problem = problem
        self.line = line
        self.filename = filename


def parse(text: str, filename: str = "") -> Dockerfile:
    """Parse a whole Dockerfile; an empty one is an error, as in Docker."""
    escape, syntax = _directives(text)
    try:
        commands = dockerfile.parse_string(text)
    except dockerfile.GoParseError as e:
        message = str(e)
        if message == "file with no instructions":
            raise InvalidArgument(
                f"the Dockerfile{' ' + filename if filename else ''} cannot be empty"
            ) from None
        raise DockerfileError(message, _failing_line(text, message), filename) from None
    return Dockerfile(tuple(_node(c) for c in commands), escape, syntax)


def _directives(text: str) -> tuple[str, str]:
    """The escape token and syntax named by the leading ``# key=value`` lines."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _DIRECTIVE.match(line)
        if not match:
            break
        found.setdefault(match.group(1).lower(), match.group(2))
    return found.get("escape", "\\"), found.get("syntax", "")


def _failing_line(text: str, message: str) -> int:
    """The first line whose prefix of the file fails with the same message."""
    lines = text.splitlines(keepends=True)
    for n in range(1, len(lines) + 1):
        try:
            dockerfile.parse_string("".join(lines[:n]))
        except dockerfile.GoParseError as e:
            if str(e) == message:
                return n
    return len(lines)


def _node(command: dockerfile.Command) -> Node:
    return Node(
        instruction=command.cmd.upper(),
        args=tuple(command.value),
        flags=tuple(command.flags),
        json=command.json,
        original=command.original,
        line=command.start_line,
        end_line=command.end_line,
        heredocs=_heredocs(command),
        sub_instruction=(command.sub_cmd or "").upper(),
    )


def _heredocs(command: dockerfile.Command) -> tuple[Heredoc, ...]:
    if not command.heredocs:
        return ()
    first_line = command.original.split("\n", 1)[0]
    marks = {m.group(4): m for m in _HEREDOC_MARK.finditer(first_line)}
    result = []
    for doc in command.heredocs:
        mark = marks.get(doc.name)
        chomp = bool(mark and mark.group(2))
        quoted = bool(mark and mark.group(3))
        content = _LEADING_TABS.sub("", doc.content) if chomp else doc.content
        result.append(Heredoc(doc.name, content, not quoted, doc.file_descriptor))
    return tuple(result)


def heredoc_marker(word: str) -> str | None:
    """The heredoc name when ``word`` is a ``<<NAME`` source, else None."""
    match = _HEREDOC_MARK.fullmatch(word)
    return match.group(4) if match and not match.group(1) else None
