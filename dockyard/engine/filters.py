"""The `filters` query parameter of list and prune endpoints, checked like Docker checks it."""

from __future__ import annotations

import time
from collections.abc import Callable

from dockyard.errors import InvalidArgument
from dockyard.runtime.jsonlog import parse_rfc3339_nano
from dockyard.units import parse_duration


class Filters:
    def __init__(self, filters: dict[str, list[str]], allowed: tuple[str, ...]) -> None:
        for key in filters:
            if key not in allowed:
                raise InvalidArgument(f"invalid filter '{key}'")
        self._filters = filters

    def __contains__(self, key: str) -> bool:
        return bool(self._filters.get(key))

    def get(self, key: str) -> list[str]:
        return self._filters.get(key) or []

    def match_any(self, key: str, test: Callable[[str], bool]) -> bool:
        """No values for ``key`` match everything; otherwise one value must pass."""
        values = self.get(key)
        return not values or any(test(v) for v in values)

    def match_labels(self, labels: dict[str, str]) -> bool:
        def has(spec: str) -> bool:
            key, sep, value = spec.partition("=")
            return key in labels and (not sep or labels[key] == value)

        return all(has(s) for s in self.get("label")) and not any(
            has(s) for s in self.get("label!")
        )

    def match_until(self, created: str) -> bool:
        return all(parse_rfc3339_nano(created) < parse_timestamp(v) for v in self.get("until"))


def parse_timestamp(value: str, now: float | None = None) -> float:
    """A Unix time, an RFC 3339 time or a Go duration ago ("10m", "1h30m"), as Docker takes them."""
    now = time.time() if now is None else now
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return now - parse_duration(value)
    except InvalidArgument:
        pass  # not a duration: a date then
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%Y-%m-%dT%H:%M"):
        try:
            return time.mktime(time.strptime(value.rstrip("Z").split(".")[0], fmt)) - time.timezone
        except ValueError:
            continue
    try:
        return parse_rfc3339_nano(value)
    except ValueError:
        raise InvalidArgument(f"invalid time value {value!r}") from None
