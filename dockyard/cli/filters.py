"""--filter values, encoded for the API like docker's filters.Args.ToJSON."""

from __future__ import annotations

import json

from dockyard.errors import InvalidArgument


def parse_filters(values: list[str]) -> dict[str, dict[str, bool]]:
    """``["status=exited", "label=a=b"]`` → ``{"status": {"exited": true}, "label": {"a=b": true}}``."""
    filters: dict[str, dict[str, bool]] = {}
    for value in values:
        name, separator, term = value.partition("=")
        if not separator:
            raise InvalidArgument("bad format of filter (expected name=value)")
        filters.setdefault(name.strip().lower(), {})[term.strip()] = True
    return filters


def filters_query(values: list[str]) -> str | None:
    """The ``filters`` query parameter, or None when there are none."""
    filters = parse_filters(values)
    return json.dumps(filters, separators=(",", ":")) if filters else None
