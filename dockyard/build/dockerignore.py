""".dockerignore: which context paths a build may see (moby/patternmatcher semantics).

Patterns are read like ``ignorefile.ReadAll`` (comments, a leading ``/`` and
``./`` dropped, paths cleaned) and compiled once into regular expressions:
``*`` and ``?`` stay within one path component, ``**`` spans any number of
them, ``[...]`` classes and ``\\`` escapes work as in Go's filepath.Match, and
``!`` re-includes. The last pattern that matches a path, or one of its parent
directories, decides.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from dockyard.errors import InvalidArgument

_REGEX_SPECIALS = set(".+()|{}$^")


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern[str]
    exclusion: bool


class IgnoreMatcher:
    """The compiled patterns of one .dockerignore."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns = [_compile(p) for p in patterns if p.strip()]
        # With a "!" pattern an ignored directory may still hold included files.
        self.has_exclusions = any(p.exclusion for p in self.patterns)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def ignored(self, path: str) -> bool:
        """Whether the slash-separated context-relative ``path`` is excluded."""
        path = posixpath.normpath(path)
        if path == ".":
            return False
        parents = path.split("/")[:-1]
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue  # only a later opposite pattern can change the answer
            hit = bool(pattern.regex.match(path)) or any(
                pattern.regex.match("/".join(parents[: i + 1])) for i in range(len(parents))
            )
            if hit:
                matched = not pattern.exclusion
        return matched


def read_dockerignore(text: str) -> list[str]:
    """The patterns of a .dockerignore file, normalized like Docker's ignorefile.ReadAll."""
    patterns = []
    for number, raw in enumerate(text.splitlines()):
        line = raw.removeprefix("\ufeff") if number == 0 else raw
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip()
        if line:
            line = posixpath.normpath(line)
            if len(line) > 1 and line.startswith("/"):
                line = line.lstrip("/") or "/"
        patterns.append("!" + line if invert else line)
    return patterns


def _compile(raw: str) -> _Pattern:
    text = posixpath.normpath(raw.strip())
    exclusion = text.startswith("!")
    if exclusion:
        if text == "!":
            raise InvalidArgument('illegal exclusion pattern: "!"')
        text = posixpath.normpath(text[1:])
    try:
        regex = re.compile(_to_regex(text), re.DOTALL)
    except re.error:
        raise InvalidArgument(f".dockerignore: syntax error in pattern {raw!r}") from None
    return _Pattern(regex, exclusion)


def _to_regex(pattern: str) -> str:
    out = ["^"]
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                # "**" at the end accepts everything below; elsewhere any number of components.
                out.append(".*" if i >= n else "(.*/)?")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            if i < n:
                out.append(re.escape(pattern[i]))
                i += 1
            else:
                out.append(r"\\")
        elif ch == "[":
            end = _class_end(pattern, i)
            out.append(_class(pattern[i:end]))
            i = end + 1
        elif ch in _REGEX_SPECIALS or ch == "]":
            out.append("\\" + ch)
        else:
            out.append(ch)
    out.append("$")
    return "".join(out)


def _class_end(pattern: str, start: int) -> int:
    i = start
    if i < len(pattern) and pattern[i] in "^!":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    if i >= len(pattern):
        raise InvalidArgument(
            f".dockerignore: syntax error in pattern: unterminated [ in {pattern!r}"
        )
    return i


def _class(body: str) -> str:
    negate = body[:1] in ("^", "!")
    if negate:
        body = body[1:]
    escaped = body.replace("\\", "\\\\").replace("[", "\\[")
    return "[" + ("^/" if negate else "") + escaped + "]"
