"""Documents that must be one JSON object: configs, manifests, indexes, client files."""

from __future__ import annotations

import json
from typing import Any


def json_object(data: bytes | str) -> dict[str, Any]:
    """The JSON object ``data`` holds; ValueError saying why when it holds something else."""
    value = json.loads(data)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value
