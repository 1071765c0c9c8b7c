"""Reading a bundle's config.json.

The `json` package imports `re` (and with it `enum`), ~8 ms of the ~20 ms
that `python -m dockyard.runtime run` may spend before the container starts;
its C scanner, which `json.loads` itself uses, parses the same JSON without them.
"""

from __future__ import annotations

import _json
import os

from dockyard.errors import SystemError


class _ScannerOptions:
    """The attributes json.decoder.JSONDecoder passes to the C scanner, with its defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # NaN, Infinity, -Infinity


# typeshed types the argument as a scanner; CPython reads only the attributes above.
_scan = _json.make_scanner(_ScannerOptions())  # type: ignore[arg-type]


def parse_json(text: str) -> object:
    start = len(text) - len(text.lstrip())
    try:
        value, end = _scan(text, start)
    except StopIteration as stop:
        raise ValueError(f"invalid JSON at offset {stop.value}") from None
    if text[end:].strip():
        raise ValueError(f"extra data after JSON at offset {end}")
    return value


def load_config(bundle: str | os.PathLike[str]) -> dict:
    """The OCI config of ``bundle``; SystemError when it is missing or not a JSON object."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            config = parse_json(f.read().decode())
    except (OSError, ValueError) as exc:
        raise SystemError(f"cannot read the OCI config {path}: {exc}") from None
    if not isinstance(config, dict):
        raise SystemError(f"cannot read the OCI config {path}: not a JSON object")
    return config
