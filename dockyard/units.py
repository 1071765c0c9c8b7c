"""Sizes, durations and booleans as docker writes and reads them (go-units, Go's time and
strconv packages)."""

from __future__ import annotations

import re

from dockyard.errors import InvalidArgument

DECIMAL = {"k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4, "p": 1000**5}
BINARY = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
DECIMAL_ABBRS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")

_NUMBER_END = re.compile(r"[0-9.](?=[^0-9.]*$)")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _parse_size(text: str, units: dict[str, int]) -> int:
    """go-units parseSize: a number, an optional space, an optional unit suffix."""
    number, space, suffix = text.partition(" ")
    if not space:
        last_digit = _NUMBER_END.search(text)
        if last_digit is None:
            raise InvalidArgument(f"invalid size: '{text}'")
        number, suffix = text[: last_digit.end()], text[last_digit.end() :]
    if not _FLOAT.fullmatch(number):
        raise InvalidArgument(f'strconv.ParseFloat: parsing "{number}": invalid syntax')
    size = float(number)
    if size < 0:
        raise InvalidArgument(f"invalid size: '{text}'")
    if not suffix:
        return int(size)
    lowered = suffix.lower()
    if len(suffix) > 3 or lowered[0] not in units and lowered[0] != "b":
        raise InvalidArgument(f"invalid suffix: '{lowered if len(suffix) <= 3 else suffix}'")
    if lowered[0] == "b":
        if len(lowered) > 1:
            raise InvalidArgument(f"invalid suffix: '{lowered}'")
        return int(size)
    if (len(lowered) == 2 and lowered[1] != "b") or (len(lowered) == 3 and lowered[1:] != "ib"):
        raise InvalidArgument(f"invalid suffix: '{lowered}'")
    return int(size * units[lowered[0]])


def ram_in_bytes(text: str) -> int:
    """-m/--memory and friends: ``512m``, ``1g``, ``1.5GiB`` (1024-based)."""
    return _parse_size(text, BINARY)


def from_human_size(text: str) -> int:
    """1000-based sizes: ``44kB``, ``17MB``."""
    return _parse_size(text, DECIMAL)


def memory_swap_bytes(text: str) -> int:
    """--memory-swap: a size, or -1 for unlimited swap."""
    return -1 if text == "-1" else ram_in_bytes(text)


def go_g(value: float, precision: int) -> str:
    """Go's %.<precision>g: like C's, but Go writes the exponent with at least two digits."""
    text = f"{value:.{precision}g}"
    mantissa, e, exponent = text.partition("e")
    if not e:
        return text
    sign, digits = exponent[0], exponent[1:].lstrip("0")
    return f"{mantissa}e{sign}{digits.zfill(2)}"


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision: 1000-based, ``1.23MB``; docker's tables use 3 digits."""
    unit = 0
    while size >= 1000 and unit < len(DECIMAL_ABBRS) - 1:
        size /= 1000
        unit += 1
    return go_g(size, precision) + DECIMAL_ABBRS[unit]


def binary_size(size: float) -> str:
    """go-units BytesSize: 1024-based, 4 digits, ``1.5MiB``."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    unit = 0
    while size >= 1024 and unit < len(units) - 1:
        size /= 1024
        unit += 1
    return go_g(size, 4) + units[unit]


_DURATION_PART = re.compile(r"(\d*\.?\d*)([^\d.]*)")
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds: ``300ms``, ``1h30m``, ``-1.5h``, ``0``."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0.0
    if not body:
        raise InvalidArgument(f'time: invalid duration "{text}"')
    total, position = 0.0, 0
    while position < len(body):
        match = _DURATION_PART.match(body, position)
        assert match is not None  # the pattern matches the empty string
        number, unit = match.groups()
        if number in ("", "."):
            raise InvalidArgument(f'time: invalid duration "{text}"')
        if not unit:
            raise InvalidArgument(f'time: missing unit in duration "{text}"')
        if unit not in _DURATION_UNITS:
            raise InvalidArgument(f'time: unknown unit "{unit}" in duration "{text}"')
        total += float(number) * _DURATION_UNITS[unit]
        position = match.end()
    return -total if text.startswith("-") else total


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: ``Less than a second``, ``3 minutes``, ``About an hour``."""
    whole = int(seconds)
    if whole < 1:
        return "Less than a second"
    if whole == 1:
        return "1 second"
    if whole < 60:
        return f"{whole} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def parse_bool(text: str) -> bool:
    """Go's strconv.ParseBool."""
    if text in GO_TRUE:
        return True
    if text in GO_FALSE:
        return False
    raise InvalidArgument(f'strconv.ParseBool: parsing "{text}": invalid syntax')
