"""Variable substitution and quote removal in Dockerfile words.

The rules are BuildKit's shell lexer (``frontend/dockerfile/shell/lex.go``):
single and double quotes, the escape token, ``$VAR``, ``${VAR}``,
``${VAR:-word}``, ``${VAR-word}``, ``${VAR:+word}``, ``${VAR+word}``,
``${VAR?msg}``, ``${VAR:?msg}``, ``${VAR#pat}``, ``${VAR##pat}``,
``${VAR%pat}``, ``${VAR%%pat}`` and ``${VAR/pat/repl}``, ``${VAR//pat/repl}``.
Only metadata and file instructions are expanded here; RUN, CMD and
ENTRYPOINT leave their text to the shell in the container.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument

_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_EOF = ""


class ShellSyntaxError(Exception):
    """A malformed substitution; wrapped with the word it came from."""


@dataclass
class Expansion:
    """The result of expanding one word."""

    text: str
    words: list[str]
    used: set[str] = field(default_factory=set)  # names that were looked up and set
    unset: set[str] = field(default_factory=set)  # names that were looked up and not set


def expand(word: str, env: Mapping[str, str], escape: str = "\\", quotes: bool = True) -> Expansion:
    """Expand ``word`` against ``env``; raises InvalidArgument on bad syntax.

    ``quotes=False`` leaves quote characters as they are (heredoc bodies).
    """
    lexer = _Lexer(word, env, escape, quotes)
    try:
        text, words = lexer.until(_EOF, raw_escapes=False)
    except ShellSyntaxError as e:
        raise InvalidArgument(f"failed to process {_go_quote(word)}: {e}") from None
    return Expansion(text, words, lexer.used, lexer.unset)


def expand_word(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    return expand(word, env, escape).text


def expand_words(word: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Expand then split on unquoted white space (EXPOSE $PORTS)."""
    return expand(word, env, escape).words


def _go_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Words:
    """Splits the expanded text into words the way the shell would."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.buf: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word and self.buf:
                self.words.append("".join(self.buf))
                self.buf = []
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_raw(self, text: str) -> None:
        self.buf.append(text)
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def done(self) -> list[str]:
        if self.buf:
            self.words.append("".join(self.buf))
            self.buf = []
        return self.words


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str, quotes: bool) -> None:
        self.text = text
        self.quotes = quotes
        self.pos = 0
        self.env = env
        self.escape = escape
        self.used: set[str] = set()
        self.unset: set[str] = set()

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    def lookup(self, name: str) -> str | None:
        value = self.env.get(name)
        (self.used if value is not None else self.unset).add(name)
        return value

    def until(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        """Process up to ``stop`` (consumed) or the end of the text."""
        result: list[str] = []
        words = _Words()
        while self.peek() != _EOF:
            ch = self.peek()
            if stop and ch == stop:
                self.next()
                return "".join(result), words.done()
            special = self._special(ch)
            if special is not None:
                piece = special()
                result.append(piece)
                if ch == "$":
                    words.add_string(piece)
                else:
                    words.add_raw(piece)
                continue
            ch = self.next()
            if ch == self.escape:
                if raw_escapes:
                    words.add_raw(ch)
                    result.append(ch)
                ch = self.next()
                if ch == _EOF:
                    break
                words.add_raw(ch)
            else:
                words.add_char(ch)
            result.append(ch)
        if stop:
            raise ShellSyntaxError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.done()

    def _special(self, ch: str) -> Callable[[], str] | None:
        if ch == "$":
            return self.dollar
        if ch == "<":
            return self.possible_heredoc
        if self.quotes and ch == "'":
            return self.single_quote
        if self.quotes and ch == '"':
            return self.double_quote
        return None

    def single_quote(self) -> str:
        self.next()
        out: list[str] = []
        while True:
            ch = self.next()
            if ch == _EOF:
                raise ShellSyntaxError(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if ch == "'":
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        self.next()
        out: list[str] = []
        while True:
            ch = self.peek()
            if ch == _EOF:
                raise ShellSyntaxError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if ch == '"':
                self.next()
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == self.escape:
                following = self.peek()
                if following == _EOF:
                    continue
                if following in ('"', "$", self.escape):
                    ch = self.next()
            out.append(ch)

    def possible_heredoc(self) -> str:
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        spaces: list[str] = []
        while self.peek() in ("\t", "\r", " ") and self.peek() != _EOF:
            spaces.append(self.next())
        return "<<" + "".join(spaces)

    def name(self) -> str:
        first = self.peek()
        if first != _EOF and first.isdigit():
            digits = []
            while self.peek() != _EOF and self.peek().isdigit():
                digits.append(self.next())
            return "".join(digits)
        if first != _EOF and first in _SPECIAL_PARAMS:
            return self.next()
        chars = []
        while self.peek() != _EOF and (self.peek().isalnum() or self.peek() == "_"):
            chars.append(self.next())
        return "".join(chars)

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            return self.lookup(name) or ""
        self.next()
        if self.peek() == _EOF:
            raise ShellSyntaxError("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise ShellSyntaxError("syntax error: bad substitution")
        name = self.name()
        op = self.next()
        if op == "}":
            return self.lookup(name) or ""
        if op == "/":
            return self.replace(name)
        null_is_unset = op == ":"
        if null_is_unset:
            op = self.next()
        if op == _EOF:
            raise ShellSyntaxError("syntax error: missing '}'")
        modifier = (":" if null_is_unset else "") + op
        if op not in "+-?#%" or modifier in (":#", ":%"):
            raise ShellSyntaxError(f"unsupported modifier ({modifier}) in substitution")
        try:
            word, _ = self.until("}", raw_escapes=op in "#%")
        except ShellSyntaxError:
            if self.peek() == _EOF:
                raise ShellSyntaxError("syntax error: missing '}'") from None
            raise
        return self.modify(name, op, word, null_is_unset)

    def modify(self, name: str, op: str, word: str, null_is_unset: bool) -> str:
        value = self.lookup(name)
        empty = value is None or (null_is_unset and value == "")
        if op == "-":
            return word if empty else value or ""
        if op == "+":
            return "" if empty else word
        if op == "?":
            if value is None:
                raise ShellSyntaxError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise ShellSyntaxError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        greedy = word.startswith(op)
        if greedy:
            word = word[1:]
        if op == "#":
            return _trim_prefix(word, value or "", greedy)
        return _trim_suffix(word, value or "", greedy)

    def replace(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        try:
            pattern, _ = self.until("/", raw_escapes=True)
        except ShellSyntaxError:
            raise ShellSyntaxError("syntax error: missing '/' in ${}") from None
        try:
            replacement, _ = self.until("}", raw_escapes=True)
        except ShellSyntaxError:
            raise ShellSyntaxError("syntax error: missing '}'") from None
        value = self.lookup(name) or ""
        regex = _pattern_regex(pattern, greedy=True, anchored=False)
        return regex.sub(lambda _m: replacement, value, count=0 if replace_all else 1)


def _pattern_regex(pattern: str, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A shell wildcard pattern (``*``, ``?``, ``\\`` escapes) as a regex."""
    out = ["^"] if anchored else []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(".*" if greedy else ".*?")
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            if i < len(pattern) and pattern[i] in "}/":
                continue
            nxt = pattern[i] if i < len(pattern) else ""
            i += 1
            if nxt not in ("*", "?", "\\"):
                raise ShellSyntaxError(
                    f"invalid pattern ({pattern}) in substitution: invalid escape '\\{nxt}'"
                )
            out.append(re.escape(nxt))
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    match = _pattern_regex(pattern, greedy, anchored=True).search(value)
    return value[match.end() :] if match else value


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern, keeping each escape before the character it escapes."""
    tokens: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            tokens.append(pattern[i : i + 2])
            i += 2
        else:
            tokens.append(pattern[i])
            i += 1
    return "".join(reversed(tokens))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # A regex finds the leftmost match only: reverse both to find the rightmost.
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]
