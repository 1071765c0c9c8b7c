"""The subset of Go's text/template that docker's --format and inspect -f use.

Supported: text; ``{{.Field.Sub}}`` paths on dicts; ``{{.}}``; pipelines with
``|``; the functions docker adds (json, join, split, lower, upper, title,
truncate, pad, println) plus Go's index, len, print, printf (%s %d %v %q);
``{{range PIPELINE}}...{{end}}``, ``{{if PIPELINE}}...{{else}}...{{end}}``;
``{{- `` and `` -}}`` trim markers; string and number literals.
Values print the way Go prints them: maps as ``map[k:v]``, lists as ``[a b]``,
a missing map key as ``<no value>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from dockyard.errors import InvalidArgument

TYPE_CHECKING = False  # typing costs the CLI ~10 ms per start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
# A parenthesised pipeline (one level deep) may be followed by fields: (index .A 0).B
_TOKEN = re.compile(
    r'\s*("(?:[^"\\]|\\.)*"|`[^`]*`|\||\((?:[^()"`]|"(?:[^"\\]|\\.)*")*\)(?:\.\w+)*|[^\s|()]+)'
)

NO_VALUE = "<no value>"


class Node:
    """One piece of a parsed template: "text", "action", "range" or "if"."""

    __slots__ = ("kind", "text", "pipeline", "body", "alternative", "column")

    def __init__(
        self,
        kind: str,
        text: str = "",
        pipeline: list[list[str]] | None = None,
        body: list[Node] | None = None,
        alternative: list[Node] | None = None,
        column: int = 0,
    ) -> None:
        self.kind = kind
        self.text = text
        self.pipeline = pipeline or []
        self.body = body or []
        self.alternative = alternative or []
        self.column = column


class Template:
    """A parsed template; ``render(data)`` returns the text.

    ``strict`` is Go's ``missingkey=error`` (docker inspect): a missing map key
    is an error instead of ``<no value>``.
    """

    def __init__(self, source: str, strict: bool = False) -> None:
        self.source = source
        self.strict = strict
        self.nodes = parse(source)

    def render(self, data: Any) -> str:
        out: list[str] = []
        execute(self.nodes, data, out, self.strict)
        return "".join(out)


class FieldError(Exception):
    """A field path that cannot be followed; reported with the action's position."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def template_error(message: str) -> InvalidArgument:
    return InvalidArgument(f"template parsing error: {message}")


def tokenize(source: str) -> list[tuple[str, str, int]]:
    """Split into ("text", s) and ("action", s) pieces, applying the trim markers."""
    pieces: list[tuple[str, str, int]] = []
    position = 0
    for match in _ACTION.finditer(source):
        text = source[position : match.start()]
        if match.group(1):
            text = text.rstrip()
        if pieces and pieces[-1][0] == "trim":
            pieces.pop()
            text = text.lstrip()
        if text:
            pieces.append(("text", text, 0))
        action = match.group(2)
        column = match.start(2) + len(action) - len(action.lstrip())
        pieces.append(("action", action.strip(), column))
        if match.group(3):
            pieces.append(("trim", "", 0))
        position = match.end()
    rest = source[position:]
    if pieces and pieces[-1][0] == "trim":
        pieces.pop()
        rest = rest.lstrip()
    if "{{" in rest:
        raise template_error(f'template: :1: unclosed action in "{source}"')
    if rest:
        pieces.append(("text", rest, 0))
    return pieces


def parse_pipeline(action: str) -> list[list[str]]:
    tokens = [match.group(1) for match in _TOKEN.finditer(action)]
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token == "|":
            commands.append([])
        else:
            commands[-1].append(token)
    if any(not command for command in commands):
        raise template_error(f"missing command in {{{{{action}}}}}")
    return commands


def parse(source: str) -> list[Node]:
    pieces = tokenize(source)
    nodes, index, ended = parse_block(pieces, 0)
    if ended:
        raise template_error(f"unexpected {{{{{ended}}}}}")
    return nodes


def parse_block(pieces: list[tuple[str, str, int]], index: int) -> tuple[list[Node], int, str]:
    """Nodes until {{end}} or {{else}} (returned as the third item) or the end."""
    nodes: list[Node] = []
    while index < len(pieces):
        kind, text, column = pieces[index]
        index += 1
        if kind == "text":
            nodes.append(Node("text", text=text))
            continue
        word = text.split(None, 1)[0] if text else ""
        if word in ("end", "else"):
            return nodes, index, word
        if word in ("range", "if"):
            body, index, ended = parse_block(pieces, index)
            alternative: list[Node] = []
            if ended == "else":
                alternative, index, ended = parse_block(pieces, index)
            if ended != "end":
                raise template_error(f"unexpected EOF: missing {{{{end}}}} for {word}")
            pipeline = parse_pipeline(text[len(word) :].strip())
            nodes.append(Node(word, "", pipeline, body, alternative, column + len(word) + 1))
            continue
        if not text or text.startswith("/*"):
            continue
        nodes.append(Node("action", pipeline=parse_pipeline(text), column=column))
    return nodes, index, ""


def execute(nodes: list[Node], dot: Any, out: list[str], strict: bool) -> None:
    for node in nodes:
        if node.kind == "text":
            out.append(node.text)
            continue
        try:
            value = evaluate(node.pipeline, dot, strict)
        except FieldError as err:
            raise template_error(
                f'template: :1:{node.column}: executing "" at <{err.path}>: {err.reason}'
            ) from None
        if node.kind == "action":
            out.append(go_string(value))
        elif node.kind == "if":
            execute(node.body if truthy(value) else node.alternative, dot, out, strict)
        else:
            values = list(value.values()) if isinstance(value, dict) else list(value or [])
            if not values:
                execute(node.alternative, dot, out, strict)
            for item in values:
                execute(node.body, item, out, strict)


def truthy(value: Any) -> bool:
    return bool(value) and value != NO_VALUE


def evaluate(pipeline: list[list[str]], dot: Any, strict: bool) -> Any:
    result: Any = None
    for position, command in enumerate(pipeline):
        args = [argument(token, dot, strict) for token in command[1:]]
        if position:
            args.append(result)
        result = call(command[0], args, dot, strict)
    return result


def argument(token: str, dot: Any, strict: bool) -> Any:
    if token.startswith("("):
        inner, _, fields = token[1:].rpartition(")")
        value = evaluate(parse_pipeline(inner), dot, strict)
        return field_path(value, fields, strict) if fields else value
    if token.startswith(('"', "`")):
        return literal(token)
    if token.startswith("."):
        return field_path(dot, token, strict)
    if re.fullmatch(r"-?\d+", token):
        return int(token)
    if token in ("true", "false"):
        return token == "true"
    raise template_error(f'function "{token}" not defined')


def literal(token: str) -> str:
    if token.startswith("`"):
        return token[1:-1]
    return json.loads(token)


def call(name: str, args: list[Any], dot: Any, strict: bool) -> Any:
    if name.startswith((".", "(", '"', "`")) or re.fullmatch(r"-?\d+|true|false", name):
        if args:
            raise template_error(f"can't give argument to non-function {name}")
        return argument(name, dot, strict)
    function = FUNCTIONS.get(name)
    if function is None:
        raise template_error(f'function "{name}" not defined')
    return function(*args)


def field_path(dot: Any, path: str, strict: bool) -> Any:
    value = dot
    for name in path.strip(".").split(".") if path != "." else []:
        if not isinstance(value, dict):
            raise FieldError(path, f"can't evaluate field {name} in type {go_type(value)}")
        if name not in value:
            if strict:
                raise FieldError(path, f'map has no entry for key "{name}"')
            return NO_VALUE
        value = value[name]
    return value


def go_type(value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "float64"
    if isinstance(value, list):
        return "[]interface {}"
    return "interface {}"


def go_string(value: Any) -> str:
    """fmt's %v of a decoded JSON value."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, dict):
        inner = " ".join(f"{key}:{go_string(value[key])}" for key in sorted(value))
        return f"map[{inner}]"
    if isinstance(value, list):
        return "[" + " ".join(go_string(item) for item in value) + "]"
    return str(value)


def to_json(value: Any) -> str:
    """Go's json.Marshal: compact, map keys sorted, <>& escaped, UTF-8 left as it is."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def join(items: Any, separator: str) -> str:
    return separator.join(go_string(item) for item in items or [])


def index(value: Any, *keys: Any) -> Any:
    for key in keys:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return NO_VALUE if isinstance(value, dict) else None
    return value


def truncate(text: Any, length: int) -> str:
    return go_string(text)[:length]


def pad(text: Any, before: int, after: int) -> str:
    return " " * before + go_string(text) + " " * after


def printf(format_text: str, *args: Any) -> str:
    values = iter(args)

    def replace(match: re.Match[str]) -> str:
        verb = match.group(1)
        if verb == "%":
            return "%"
        value = next(values, None)
        if verb == "q":
            return json.dumps(go_string(value))
        return go_string(value)

    return re.sub(r"%([svdq%])", replace, format_text)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "json": to_json,
    "join": join,
    "split": lambda text, separator: go_string(text).split(separator),
    "lower": lambda text: go_string(text).lower(),
    "upper": lambda text: go_string(text).upper(),
    "title": lambda text: go_string(text).title(),
    "truncate": truncate,
    "pad": pad,
    "println": lambda *args: " ".join(go_string(arg) for arg in args) + "\n",
    "print": lambda *args: "".join(go_string(arg) for arg in args),
    "printf": printf,
    "index": index,
    "len": lambda value: len(value or []),
    "not": lambda value: not truthy(value),
    "eq": lambda first, *others: any(first == other for other in others),
    "ne": lambda first, second: first != second,
}
