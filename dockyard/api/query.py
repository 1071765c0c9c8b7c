"""Reading query parameters the way moby's httputils does."""

from __future__ import annotations

import json

from aiohttp import web

from dockyard.errors import InvalidArgument

_FALSE = {"", "0", "no", "false", "none"}


def flag(request: web.Request, name: str, default: bool = False) -> bool:
    """A boolean parameter: absent → default; "", 0, no, false, none → False; else True."""
    if name not in request.query:
        return default
    return request.query[name].strip().lower() not in _FALSE


def text(request: web.Request, name: str, default: str = "") -> str:
    return request.query.get(name, default)


def optional_int(request: web.Request, name: str) -> int | None:
    value = request.query.get(name, "")
    if value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidArgument(f'invalid value for "{name}": {value!r} is not an integer') from None


def integer(request: web.Request, name: str, default: int) -> int:
    value = optional_int(request, name)
    return default if value is None else value


def dimension(request: web.Request, name: str, what: str) -> int:
    """A terminal height or width: a required unsigned 32-bit integer."""
    value = request.query.get(name, "")
    if not value.isdigit() or int(value) >= 2**32:
        raise InvalidArgument(f'invalid resize {what} "{value}": invalid syntax')
    return int(value)


def timestamp(request: web.Request, name: str) -> float:
    """A Unix time as the docker CLI sends it ("1700000000.123456789"); 0 when absent."""
    value = optional_timestamp(request, name)
    return 0.0 if value is None else value


def optional_timestamp(request: web.Request, name: str) -> float | None:
    value = request.query.get(name, "")
    if value == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise InvalidArgument(
            f'invalid value for "{name}": {value!r} is not a Unix timestamp'
        ) from None


def filters(request: web.Request) -> dict[str, list[str]]:
    """The ``filters`` parameter, in either of its JSON forms.

    The docker CLI sends ``{"status": {"running": true}}``; older clients and
    docker-py send ``{"status": ["running"]}``.
    """
    raw = request.query.get("filters", "")
    if raw == "":
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"invalid filter: {exc}") from None
    if not isinstance(parsed, dict):
        raise InvalidArgument("invalid filter: expected a JSON object of filter names")
    return {key: _filter_values(key, values) for key, values in parsed.items()}


def _filter_values(key: str, values: object) -> list[str]:
    if isinstance(values, dict):
        return [value for value, wanted in values.items() if wanted]
    if isinstance(values, list) and all(isinstance(v, str) for v in values):
        return list(values)
    if isinstance(values, str):
        return [values]
    raise InvalidArgument(f"invalid filter: the values of {key!r} must be strings")
