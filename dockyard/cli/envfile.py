"""Environment and label files (--env-file, --label-file) and -e values, like docker's kvfile.

A line is ``KEY=VALUE`` or a bare ``KEY`` (for env files, taken from the
environment when it is set there; dropped otherwise); ``#`` starts a comment
line; leading whitespace is dropped; the file must be valid UTF-8 (a UTF-8 BOM
is skipped).
"""

from __future__ import annotations

import os

from dockyard.errors import InvalidArgument

WHITESPACE = " \t"


def parse_lines(data: bytes, from_environment: bool) -> list[str]:
    values = []
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidArgument(f"invalid utf8 bytes at line {number}: {list(raw)}") from None
        if number == 1:
            text = text.removeprefix("\ufeff")
        line = text.lstrip()
        if not line or line.startswith("#"):
            continue
        key, has_value, _ = line.partition("=")
        if not key:
            raise InvalidArgument(f"no variable name on line '{line}'")
        if any(ch in WHITESPACE for ch in key):
            raise InvalidArgument(f"variable '{key}' contains whitespaces")
        if has_value:
            values.append(line)
        elif from_environment and line in os.environ:
            values.append(f"{key}={os.environ[line]}")
    return values


def read_kv_file(path: str, from_environment: bool = True) -> list[str]:
    """KEY=VALUE lines of an env or label file; a bare KEY is looked up in the environment."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise InvalidArgument(f"open {path}: {(err.strerror or str(err)).lower()}") from None
    try:
        return parse_lines(data, from_environment)
    except InvalidArgument as err:
        raise InvalidArgument(f"invalid env file ({path}): {err.message}") from None


def validate_env(value: str) -> str:
    """-e KEY=VALUE as it is; -e KEY takes KEY's value from this environment, if set."""
    key, has_value, _ = value.partition("=")
    if not key:
        raise InvalidArgument(f"invalid environment variable: {value}")
    if has_value or key not in os.environ:
        return value
    return f"{key}={os.environ[key]}"


def read_env(files: list[str], values: list[str]) -> list[str]:
    """--env-file contents first, then -e values (later ones win in the container)."""
    env = [entry for path in files for entry in read_kv_file(path)]
    return env + [validate_env(value) for value in values]


def read_labels(files: list[str], values: list[str]) -> dict[str, str]:
    labels = [entry for path in files for entry in read_kv_file(path, from_environment=False)]
    result = {}
    for entry in labels + values:
        key, _, value = entry.partition("=")
        result[key] = value
    return result
